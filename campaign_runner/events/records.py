"""A page of raw events as the stores' SQL takes it: one JSON array, one object each.

The object carries the parsed fields and the rules' decisions, so the SQL
(`cr_ingest_events` on Postgres, `sqlite/events.sql`) only stores and applies
them: it never reads SparkPost's JSON itself, and the rules live in one place.
"""

from __future__ import annotations

from typing import Any

from .parse import Event, parse
from .rules import effect


def record(event: Event) -> dict[str, Any]:
    decided = effect(event)
    return {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "email_id": event.email_id,
        "campaign_id": event.campaign_id,
        "transmission_id": event.transmission_id,
        "message_id": event.message_id,
        "recipient": event.recipient,
        "bounce_class": event.bounce_class,
        "reason": event.reason,
        "problem": event.problem,
        "sets": decided.column,
        "suppress": decided.suppress,
        "evidence": decided.evidence,
        "raw": event.raw,
    }


def page_records(raw_events: list[Any]) -> list[dict[str, Any]]:
    """One record per event, in the page's order; the same event twice in a page
    (SparkPost may repeat one across pages) is kept once."""
    seen: set[str] = set()
    records = []
    for raw in raw_events:
        event = parse(raw)
        if event.event_id not in seen:
            seen.add(event.event_id)
            records.append(record(event))
    return records
