"""One raw event from the Events API to an `Event`, whatever arrived.

Nothing here raises: a malformed event, an unknown type, a missing or foreign
`rcpt_meta`, a number sent as a string become an `Event` with its `problems`
noted, so the rest of the page is still read and the event is still kept. An
event without `event_id` gets one made from its content, so that reading it
again still finds it a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# SUP tech-resources/sparkpost-event-definitions.md; relay_* are inbound-only.
KNOWN_TYPES = frozenset(
    {
        "injection",
        "delivery",
        "delay",
        "bounce",
        "out_of_band",
        "spam_complaint",
        "policy_rejection",
        "generation_failure",
        "generation_rejection",
        "initial_open",
        "open",
        "click",
        "amp_initial_open",
        "amp_open",
        "amp_click",
        "list_unsubscribe",
        "link_unsubscribe",
    }
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TEXT_MAX = 1000  # reason and raw_reason are a server's words: kept, not unbounded


@dataclass(frozen=True)
class Event:
    event_id: str
    type: str
    occurred_at: datetime | None
    email_id: str | None  # rcpt_meta.email_id, when it is a row id (a UUID)
    campaign_id: str | None  # rcpt_meta.campaign_id, when it is a campaign id (a UUID)
    transmission_id: str | None  # = email_queue.provider_message_id (`results.id`)
    message_id: str | None  # SparkPost's own, not the Message-ID header
    recipient: str | None  # rcpt_to, lower-cased
    bounce_class: int | None
    reason: str | None
    raw: Any
    problems: tuple[str, ...] = ()

    @property
    def problem(self) -> str | None:
        return "; ".join(self.problems) or None


def parse(raw: Any) -> Event:
    problems: list[str] = []
    event = raw if isinstance(raw, dict) else {}
    if not isinstance(raw, dict):
        problems.append(f"not a JSON object ({type(raw).__name__})")
    kind = _text(event.get("type")) or ""
    if not kind:
        problems.append("no type")
    elif kind not in KNOWN_TYPES:
        problems.append(f"unknown type {kind!r}")
    event_id = _text(event.get("event_id"))
    if event_id is None:
        problems.append("no event_id")
        event_id = "content:" + hashlib.sha256(_canonical(raw)).hexdigest()
    occurred_at = _timestamp(event.get("timestamp"), problems)
    meta = event.get("rcpt_meta")
    if meta is None:
        problems.append("no rcpt_meta")
    elif not isinstance(meta, dict):
        problems.append("rcpt_meta is not an object")
    elif "email_id" not in meta:
        problems.append("rcpt_meta has no email_id")
    meta = meta if isinstance(meta, dict) else {}
    email_id = _uuid(meta.get("email_id"), "rcpt_meta.email_id", problems)
    recipient = _text(event.get("rcpt_to"))
    return Event(
        event_id=event_id,
        type=kind,
        occurred_at=occurred_at,
        email_id=email_id,
        campaign_id=_uuid(meta.get("campaign_id"), "rcpt_meta.campaign_id", problems),
        transmission_id=_text(event.get("transmission_id")),
        message_id=_text(event.get("message_id")),
        recipient=recipient.strip().lower() if recipient else None,
        bounce_class=_number(event.get("bounce_class"), "bounce_class", problems),
        reason=(_text(event.get("reason")) or _text(event.get("raw_reason")) or "")[:_TEXT_MAX]
        or None,
        raw=raw,
        problems=tuple(problems),
    )


def _text(value: Any) -> str | None:
    """A string field, or a number sent where a string was documented."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) and value else None


def _number(value: Any, name: str, problems: list[str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        problems.append(f"{name} {value!r} is not a number")
        return None


def _uuid(value: Any, name: str, problems: list[str]) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if not _UUID.match(text.strip().lower()):
        problems.append(f"{name} {text[:60]!r} is not one of our ids")
        return None
    return text.strip().lower()


def _timestamp(value: Any, problems: list[str]) -> datetime | None:
    """`2016-04-18T14:25:07.000+00:00` or `...07.000Z`, both documented."""
    text = _text(value)
    if text is None:
        problems.append("no timestamp")
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        problems.append(f"timestamp {text[:40]!r} is not ISO 8601")
        return None
    if moment.tzinfo is None:
        problems.append("timestamp without an offset, read as UTC")
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _canonical(raw: Any) -> bytes:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str).encode()
