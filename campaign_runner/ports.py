"""The three ports the pipeline talks to. Adapters live in `stores/`,
`generators/` and `senders/`; `adapters.py` picks them from the config."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .models import Content, Email, Message, Outcome


@dataclass(frozen=True)
class Pacing:
    """Per sending domain (the domain of `from_email`)."""

    min_interval_seconds: int = 0  # 0: no spacing between sends
    daily_cap: int = 0  # 0: no cap
    day_start: datetime | None = None  # start of today in the sending time zone, for the cap


@dataclass(frozen=True)
class StatusRow:
    campaign_id: str
    campaign_name: str | None
    campaign_status: str | None
    status: str
    count: int


class Store(Protocol):
    """The queue. Every write that ends a row is guarded by "still `processing`
    and locked by this worker", so a worker that lost its lease changes nothing."""

    def claim(self, worker_id: str, limit: int, now: datetime, pacing: Pacing) -> list[Email]:
        """Atomically move due rows `queued -> processing` (attempts + 1), never one twice."""
        ...

    def start_send(self, email: Email, worker_id: str, content: Content, now: datetime) -> None:
        """Record `send_started_at` (and generated content, if any) before the message leaves.

        Raises `RowError` if the row is no longer ours: then nothing may be sent.
        """
        ...

    def finish(self, email: Email, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        """Write the outcome; False if the row was no longer ours."""
        ...

    def recover_stale(self, lease_seconds: int, max_attempts: int, now: datetime) -> Counter[str]:
        """Expired leases: back to `queued` before the send started, `failed` (ambiguous)
        after, or `failed` once the row has used up its attempts. Counts by new status."""
        ...

    def roll_up(self, now: datetime) -> None:
        """Recount `sent_count`/`failed_count` of live campaigns; `sending -> completed`
        when nothing of the campaign is left queued or processing."""
        ...

    def peek_due(self, limit: int, now: datetime) -> list[Email]:
        """What a claim would take, without taking it (for `--dry-run`)."""
        ...

    def status(self) -> list[StatusRow]: ...

    def close(self) -> None: ...


class Generator(Protocol):
    name: str

    def generate(self, email: Email) -> Content:
        """Content for a row whose body is empty. Raises the classes of `errors`."""
        ...


class Sender(Protocol):
    name: str

    def send(self, message: Message) -> str:
        """Deliver one message; returns the provider's message id. Raises `errors` classes."""
        ...

    def close(self) -> None: ...
