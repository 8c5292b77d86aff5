"""The values the dispatcher and the reply poll exchange with a store, and how a
store's rows (SQLite rows, or JSON from a SQL function) become them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..intake.records import Launched, Staged, refused_unless_ok
from ..stores.rows import parse_metadata, parse_time

# Lead statuses (the seam with the frontend).
ACTIVE = "active"
PAUSED = "paused"
COMPLETED = "completed"
REPLIED = "replied"
BOUNCED = "bounced"
UNSUBSCRIBED = "unsubscribed"
LEAD_STATUSES = (ACTIVE, PAUSED, COMPLETED, REPLIED, BOUNCED, UNSUBSCRIBED)

# What the reply poll makes of a message it read.
REPLY = "reply"  # a person answered
AUTO_REPLY = "auto_reply"  # out-of-office and other machine answers: not a reply
BOUNCE = "bounce"  # a delivery report with a permanent failure
DELAY = "delay"  # a delivery report that is not a permanent failure
INBOUND_KINDS = (REPLY, AUTO_REPLY, BOUNCE, DELAY)

# A run of hex digits as long as SparkPost's message ids, in a Message-ID.
_PROVIDER_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{16,32}(?![0-9a-f])")


@dataclass(frozen=True)
class OpenCampaign:
    """A campaign whose own window is open now, and the local day it is in (for its
    daily_limit), as UTC instants."""

    campaign_id: str
    day_start: datetime
    day_end: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "campaign_id": self.campaign_id,
            "day_start": self.day_start.isoformat(),
            "day_end": self.day_end.isoformat(),
        }


# Per campaign id, the spans its window is open over the next days (see
# SendingWindow.openings), in order, as UTC instants.
Spans = dict[str, list[tuple[datetime, datetime]]]


def spans_json(spans: Spans) -> list[dict[str, Any]]:
    return [
        {
            "campaign_id": campaign_id,
            "openings": [[opens.isoformat(), closes.isoformat()] for opens, closes in openings],
        }
        for campaign_id, openings in spans.items()
    ]


@dataclass(frozen=True)
class Step:
    """One step's templates."""

    variant_a_subject: str | None
    variant_a_body: str | None
    variant_b_subject: str | None
    variant_b_body: str | None
    use_ai_generation: bool
    ai_prompt_context: str | None


@dataclass(frozen=True)
class Earlier:
    """A step the lead was already sent, as it went out."""

    step_number: int
    subject: str | None
    body: str | None


@dataclass(frozen=True)
class DueLead:
    """A lead whose next step is due, with what writing it needs."""

    lead_id: str
    campaign_id: str
    to_email: str | None
    to_name: str | None
    metadata: Any
    from_email: str | None  # the lead's sending address; None until its first step
    step_number: int
    variant: str  # 'A' or 'B': the lead's, or the one the split gives it now
    variant_split: int | None  # step 1's, which chose the variant
    step: Step | None  # None: the sequence has no such step
    earlier: tuple[Earlier, ...] = ()


@dataclass(frozen=True)
class Draft:
    """What the dispatcher made of a due lead: the content of its next step, or the
    error that pauses it."""

    lead_id: str
    step_number: int
    variant: str
    subject: str | None = None
    body: str | None = None
    model: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "step_number": self.step_number,
            "variant": self.variant,
            "subject": self.subject,
            "body": self.body,
            "model": self.model,
            "error": self.error,
        }


@dataclass(frozen=True)
class MailboxState:
    uidvalidity: int | None
    last_uid: int


@dataclass(frozen=True)
class Inbound:
    """One message the reply poll read, as the store matches it to a lead."""

    uid: int
    message_id: str | None
    kind: str  # one of INBOUND_KINDS, or "other"
    references: tuple[str, ...] = ()  # Message-IDs it names (a report: the original's)
    tokens: tuple[str, ...] = ()  # reply tokens of the addresses it was sent to
    sender: str | None = None
    received_at: datetime | None = None
    detail: str | None = None

    @property
    def provider_ids(self) -> tuple[str, ...]:
        """SparkPost's own ids of a message (its events' `message_id`, 20 hex digits)
        that the Message-IDs it names may carry: whether SparkPost keeps the Message-ID
        we set is not documented, and if it writes its own, a reply names that one."""
        return tuple(dict.fromkeys(_PROVIDER_ID.findall(" ".join(self.references).lower())))

    def as_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "message_id": self.message_id,
            "kind": self.kind,
            "references": list(self.references),
            "tokens": list(self.tokens),
            "provider_ids": list(self.provider_ids),
            "sender": self.sender,
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "detail": self.detail,
        }


COUNTERS = ("sent", "delivered", "opened", "clicked", "replied", "bounced")


@dataclass(frozen=True)
class StepStatus:
    step_number: int
    delay_days: int
    delay_hours: int
    variant_split: int
    use_ai_generation: bool
    counts: dict[str, dict[str, int]]  # variant ('A', 'B') -> counter -> n


@dataclass(frozen=True)
class SequenceStatus:
    campaign_id: str
    campaign_name: str | None
    leads: dict[str, int]  # by lead status, only those present
    steps: tuple[StepStatus, ...] = field(default_factory=tuple)
    next_due: datetime | None = None  # the earliest next step of an active lead not queued


class SequenceStore(Protocol):
    """What the dispatcher and the reply poll ask of a store (SQLite, Postgres,
    Supabase): each method one transaction."""

    def sequence_progress(self, now: datetime) -> dict[str, int]:
        """Move leads on from their rows' outcomes and suppressions; recount the steps."""
        ...

    def sequence_schedules(self, now: datetime) -> list[dict[str, Any]]:
        """Each live campaign (scheduled, sending, paused) with active or paused leads:
        its schedule columns, `status`, and `due` (an active lead is due at `now`)."""
        ...

    def fit_to_windows(self, spans: Spans, now: datetime) -> dict[str, int]:
        """Move active leads' next sends, and queued rows whose `send_before` is unset or
        past, into the campaigns' open spans (see cr_fit_to_windows)."""
        ...

    def due_leads(
        self, campaigns: list[OpenCampaign], now: datetime, limit: int
    ) -> list[DueLead]: ...

    def dispatch_leads(
        self, campaigns: list[OpenCampaign], drafts: list[Draft], now: datetime
    ) -> dict[str, int]: ...

    def reply_mailbox(self, mailbox: str) -> MailboxState | None: ...

    def record_inbound(
        self,
        mailbox: str,
        address: str,
        state: MailboxState,
        messages: list[Inbound],
        now: datetime,
    ) -> dict[str, int]: ...

    def sequence_status(self) -> list[SequenceStatus]: ...


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def step_from(row: Mapping[str, Any] | None) -> Step | None:
    if row is None:
        return None
    return Step(
        variant_a_subject=row["variant_a_subject"],
        variant_a_body=row["variant_a_body"],
        variant_b_subject=row["variant_b_subject"],
        variant_b_body=row["variant_b_body"],
        use_ai_generation=bool(row["use_ai_generation"]),
        ai_prompt_context=row["ai_prompt_context"],
    )


def steps_from(rows: Any) -> dict[int, Step]:
    return {int(row["step_number"]): step for row in _json(rows) or [] if (step := step_from(row))}


def due_lead_from(row: Mapping[str, Any]) -> DueLead:
    return DueLead(
        lead_id=str(row["lead_id"]),
        campaign_id=str(row["campaign_id"]),
        to_email=row["to_email"],
        to_name=row["to_name"],
        metadata=parse_metadata(row["metadata"]),
        from_email=row.get("from_email"),
        step_number=int(row["step_number"]),
        variant=str(row["variant"]),
        variant_split=None if row["variant_split"] is None else int(row["variant_split"]),
        step=step_from(_json(row["step"])),
        earlier=tuple(
            Earlier(int(e["step_number"]), e["subject"], e["body"])
            for e in _json(row["earlier"]) or []
        ),
    )


def mailbox_state_from(row: Mapping[str, Any] | None) -> MailboxState | None:
    if not row:  # never read
        return None
    uidvalidity = row["uidvalidity"]
    return MailboxState(
        uidvalidity=None if uidvalidity is None else int(uidvalidity),
        last_uid=int(row["last_uid"] or 0),
    )


def sequence_status_from(row: Mapping[str, Any]) -> SequenceStatus:
    steps = []
    for step in _json(row["steps"]) or []:
        counts = {
            variant: {name: int(step[f"variant_{variant.lower()}_{name}"]) for name in COUNTERS}
            for variant in ("A", "B")
        }
        steps.append(
            StepStatus(
                step_number=int(step["step_number"]),
                delay_days=int(step["delay_days"]),
                delay_hours=int(step["delay_hours"]),
                variant_split=int(step["variant_split"]),
                use_ai_generation=bool(step["use_ai_generation"]),
                counts=counts,
            )
        )
    return SequenceStatus(
        campaign_id=str(row["campaign_id"]),
        campaign_name=row["campaign_name"],
        leads={status: int(n) for status, n in (_json(row["leads"]) or {}).items()},
        steps=tuple(steps),
        next_due=parse_time(row.get("next_due")),
    )


def counts_from(value: Any) -> dict[str, int]:
    return {name: int(n) for name, n in (_json(value) or {}).items() if n}


def lead_bucket(lead_id: str) -> int:
    """A lead's bucket, 0-99, from its id alone: 0010's cr_lead_bucket, so the same lead
    gets the same variant in every store."""
    return int(hashlib.md5(lead_id.encode()).hexdigest()[:8], 16) % 100


def staged_leads(row: Mapping[str, Any]) -> Staged | None:
    """`stage` of a campaign with steps (its leads), or None for one without."""
    if not row.get("sequence"):
        return None
    refused_unless_ok(row)
    return Staged(int(row["staged"]), int(row["suppressed"]), row["status"], what="lead")


def launched_leads(row: Mapping[str, Any]) -> Launched | None:
    """`launch` of a campaign with steps (its active leads), or None for one without."""
    if not row.get("sequence"):
        return None
    refused_unless_ok(row)
    return Launched(int(row["leads"]), row["status"], what="lead")
