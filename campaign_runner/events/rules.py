"""What one event does: to its row, to its address, to a send nobody is sure of.

Written once, here; the SQL of both stores only applies these decisions (they
travel with each event, see `records`).

- A row's facts: the time of its first delivery, open, click, bounce (with class
  and reason), complaint and unsubscribe. First time wins: the earliest event of
  a kind sets the column, whatever order the events are read in.
- Suppression: a hard bounce (classes 10, 30, 90) or an `out_of_band` of those
  classes, and every spam complaint, List-Unsubscribe and unsubscribe link
  (SUP faq/retrieve-bounce-info.md). Soft, block and undetermined classes are
  "usually temporary" and suppress nothing.
- Evidence about an `ambiguous` row (its send was interrupted): an injection or
  any later event shows SparkPost received and sent it; a generation or policy
  rejection shows SparkPost received it and sent nothing. No other event says
  anything either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .parse import Event

HARD_BOUNCE_CLASSES = frozenset({10, 30, 90})
COLUMNS = {
    "delivery": "delivered_at",
    "initial_open": "opened_at",
    "open": "opened_at",
    "amp_initial_open": "opened_at",
    "amp_open": "opened_at",
    "click": "clicked_at",
    "amp_click": "clicked_at",
    "bounce": "bounced_at",  # with bounce_class and bounce_reason
    "out_of_band": "bounced_at",
    "spam_complaint": "complained_at",
    "list_unsubscribe": "unsubscribed_at",
    "link_unsubscribe": "unsubscribed_at",
}
_SENT = frozenset({"injection", "delay", *COLUMNS})
_NOT_SENT = frozenset({"policy_rejection", "generation_failure", "generation_rejection"})
_ALWAYS_SUPPRESS = {
    "spam_complaint": "spam complaint",
    "list_unsubscribe": "unsubscribed (List-Unsubscribe)",
    "link_unsubscribe": "unsubscribed (unsubscribe link)",
}

Evidence = Literal["sent", "not_sent"]


@dataclass(frozen=True)
class Effect:
    column: str | None  # the row column whose time this event may set
    suppress: str | None  # why the address is never to be sent to again; None: it may be
    evidence: Evidence | None  # what the event proves about the send


def effect(event: Event) -> Effect:
    # Without a time, a fact cannot be dated: the event is kept, and sets nothing.
    column = COLUMNS.get(event.type) if event.occurred_at is not None else None
    return Effect(column, suppression(event), evidence(event))


def suppression(event: Event) -> str | None:
    if event.recipient is None:
        return None
    if event.type in _ALWAYS_SUPPRESS:
        return _ALWAYS_SUPPRESS[event.type]
    if event.type in ("bounce", "out_of_band") and event.bounce_class in HARD_BOUNCE_CLASSES:
        kind = "hard bounce" if event.type == "bounce" else "out-of-band bounce"
        return f"{kind} (class {event.bounce_class})" + (
            f": {event.reason}" if event.reason else ""
        )
    return None


def evidence(event: Event) -> Evidence | None:
    if event.type in _SENT:
        return "sent"
    if event.type in _NOT_SENT:
        return "not_sent"
    return None
