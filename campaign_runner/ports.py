"""The three ports the pipeline talks to. Adapters live in `stores/`,
`generators/` and `senders/`; `adapters.py` picks them from the config."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .events.windows import Window
from .models import Content, Email, Message, Outcome


@dataclass(frozen=True)
class Pacing:
    """Per sending domain (the domain of `from_email`)."""

    min_interval_seconds: int = 0  # 0: no spacing between sends
    daily_cap: int = 0  # 0: no cap
    day_start: datetime | None = None  # start of today in the sending time zone, for the cap


UNPACED = Pacing()


@dataclass(frozen=True)
class BounceGuard:
    """Pause a `sending` campaign once more than `pause_rate` of its recipients bounce
    hard (refused at sending, or a hard bounce SparkPost reports later), judged on at
    least `min_sends` of them (delivered or bounced; sent plus refused until SparkPost
    has reported on any); or once more than `complaint_rate` of its delivered
    recipients complain, judged on at least `complaint_min` delivered. Rows count from
    the campaign's start, or from when an operator resumed it after the guard had
    paused it. A rate of 1 can never be passed: that guard is off."""

    pause_rate: float = 1.0
    min_sends: int = 20
    complaint_rate: float = 1.0
    complaint_min: int = 1000


GUARD_OFF = BounceGuard()


@dataclass(frozen=True)
class PausedCampaign:
    """A campaign the bounce guard has just paused, and why (also kept in the campaign)."""

    campaign_id: str
    campaign_name: str | None
    reason: str


@dataclass(frozen=True)
class Waiting:
    """Queued rows of a campaign that wait for one reason (see `CampaignStatus.waiting`)."""

    rows: int
    until: datetime | None  # the earliest of them may go then; None: not known here


@dataclass(frozen=True)
class CampaignStatus:
    """One campaign's queue, for `campaign-runner status`."""

    campaign_id: str
    campaign_name: str | None  # None (and so is campaign_status): the campaign is gone
    campaign_status: str | None
    rows: dict[str, int]  # rows by status, only the statuses present
    due_now: int  # queued rows a claim would take now (suppressed ones too, to fail them)
    next_scheduled_for: datetime | None  # the earliest queued row not yet due
    ambiguous: int  # failed rows that may have been delivered (`ambiguous: ...`)
    rejected: int  # failed rows whose recipient the provider refused (`rejected: ...`)
    last_error: str | None  # the most recently written error of any of its rows
    last_error_at: datetime | None
    paused_reason: str | None  # set by the bounce guard; cleared when the campaign resumes
    # The other queued rows by why they wait: `campaign_<status>`, `scheduled`,
    # `window_closed`, `daily_cap`, `domain_paced`; and `suppressed`, due rows that
    # are failed when claimed.
    waiting: dict[str, Waiting] = field(default_factory=dict)
    failed_by_kind: dict[str, int] = field(default_factory=dict)  # failed rows by failure_kind
    # What SparkPost reported back (its events; 0 without them): rows with each fact.
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0  # any class; the guard counts the hard ones
    complained: int = 0
    unsubscribed: int = 0
    settled_sent: int = 0  # rows once ambiguous that the events showed were sent
    not_accepted: int = 0  # rows once ambiguous that SparkPost confirmed it never received


@dataclass(frozen=True)
class FailedRows:
    """A campaign's failed rows by what `retry-failed` may do with them."""

    campaign_status: str | None  # None: no such campaign
    retryable: int  # requeued by retry-failed
    ambiguous: int  # may have been delivered: requeued only when asked to
    suppressed: int  # the recipient is now suppressed: never requeued


class EventsStore(Protocol):
    """What a store offers the events poller (events/poll.py); each call is one
    transaction of 0006_events.sql's functions (or their SQLite twin) and returns
    that function's JSON object or count."""

    def claim_events_poll(self, poller: str, now: datetime, lease_seconds: int) -> dict:
        """Take the poll lease unless another poller holds one; where to read from."""
        ...

    def ingest_events(
        self,
        poller: str,
        now: datetime,
        lease_seconds: int,
        records: list[dict[str, Any]],
        window: Window,
        next_path: str | None,
    ) -> dict:
        """Store one page (events/records.py), land it on its rows, suppress, settle,
        recount and move the read position, all or nothing; only for the lease's holder."""
        ...

    def release_events_poll(self, poller: str, now: datetime) -> bool: ...

    def settle_unseen_sends(self, grace_seconds: int, now: datetime) -> int:
        """Ambiguous rows with no event `grace_seconds` after their send, inside the span
        read without a gap, become `not_accepted`. Returns how many."""
        ...

    def roll_up_events(self, campaign_ids: list[str] | None, now: datetime) -> int:
        """Recount the event counters of these campaigns (None: all)."""
        ...


class Store(EventsStore, Protocol):
    """The queue (and what SparkPost's events bring back to it, `EventsStore`). Every
    write that ends a row is guarded by "still `processing` and locked by this worker",
    so a worker that lost its lease changes nothing."""

    where: str  # where its database is, fit for any message (no secrets)

    def claim(
        self, worker_id: str, limit: int, now: datetime, pacing: Pacing, bound_only: bool = False
    ) -> list[Email]:
        """Atomically move due rows `queued -> processing` (attempts + 1), never one twice.
        Never a row past its `send_before`; with `bound_only` (the worker's own window is
        closed and it is awake for a campaign's), only rows that have one: each is bound
        to an open span of its campaign's own window."""
        ...

    def start_send(self, email: Email, worker_id: str, content: Content, now: datetime) -> None:
        """Record `send_started_at` (and generated content, if any) before the message leaves.

        Raises `RowError` if the row is no longer ours: then nothing may be sent.
        """
        ...

    def finish(self, email: Email, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        """Write the outcome; False if the row was no longer ours."""
        ...

    def settle_late(
        self,
        email: Email,
        worker_id: str,
        outcome: Outcome,
        send_started_at: datetime,
        now: datetime,
    ) -> bool:
        """Write the provider's answer (`sent`, or `failed` for a refusal) over the guess
        of stale recovery: only a row recovery failed as ambiguous that this worker held
        for the send it started at `send_started_at`. The row's campaign is recounted.
        False for any other row: nothing else final is ever overwritten."""
        ...

    def renew_leases(self, worker_id: str, ids: list[str], now: datetime) -> int:
        """Renew, in one statement, the leases of those of `ids` still `processing` and
        locked by this worker (`locked_at = now`). How many were renewed."""
        ...

    def recover_stale(self, lease_seconds: int, max_attempts: int, now: datetime) -> Counter[str]:
        """Expired leases: back to `queued` before the send started, `failed` (ambiguous)
        after, or `failed` once the row has used up its attempts. Counts by new status."""
        ...

    def roll_up(self, now: datetime, guard: BounceGuard = GUARD_OFF) -> list[PausedCampaign]:
        """Recount `sent_count`/`failed_count` of live campaigns; `sending -> completed`
        when nothing of the campaign is left queued or processing; `sending -> paused`
        when the guard trips while rows are still queued. Returns the campaigns paused now."""
        ...

    def peek_due(self, limit: int, now: datetime, pacing: Pacing = UNPACED) -> list[Email]:
        """What a claim with this pacing would take, without taking it (for `--dry-run`)."""
        ...

    def status(self, now: datetime, pacing: Pacing = UNPACED) -> list[CampaignStatus]:
        """Every campaign that has rows (or whose rows outlived it), by name, with its
        queued rows judged as a claim with this pacing would judge them now."""
        ...

    def failed_rows(self, campaign_id: str) -> FailedRows: ...

    def retry_failed(self, campaign_id: str, include_ambiguous: bool, now: datetime) -> int:
        """Requeue the campaign's retryable failed rows (and ambiguous ones if asked), due
        `now`, with attempts, error and lease cleared; a `completed` campaign that got rows
        back is `sending` again. Returns how many rows were requeued."""
        ...

    def recipient_of(self, email_id: str) -> str | None:
        """The address of row `email_id` (for the unsubscribe page); None when there is no
        such row or it has no address."""
        ...

    def suppress_recipient_of(self, email_id: str, reason: str, source: str, now: datetime) -> bool:
        """Suppress the recipient of row `email_id` under the key the claim compares with
        (a repeat keeps the first entry); False when there is no such row."""
        ...

    def schema_version(self) -> int | None:
        """The highest migration applied (0: never migrated); None for a store that keeps
        its schema current itself when it opens."""
        ...

    def missing(self) -> list[str]:
        """One line per table, column or function the schema lacks, naming what adds it."""
        ...

    def close(self) -> None: ...


class Generator(Protocol):
    def generate(self, email: Email) -> Content:
        """Content for a row whose body is empty. Raises the classes of `errors`."""
        ...


class Sender(Protocol):
    def send(self, message: Message) -> str:
        """Deliver one message; returns the provider's message id. Raises `errors` classes."""
        ...

    def close(self) -> None: ...
