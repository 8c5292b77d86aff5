"""The Postgres family's store: every method one call of a migration's SQL function.

The claim, pacing and finish logic lives once, in `sql/migrations`; this store only
builds each call's parameters (one place per method) and reads its value. How a
call reaches the database is its `Transport`'s business: `postgres.PsycopgTransport`
(a `select` over psycopg) or `supabase.RpcTransport` (PostgREST RPC through
supabase-py). Each function's signature is declared once, in
`sql/postgres/calls.sql`, and both transports read it from there.

A new store method is written here once (and once in `sqlite.py`), with its
signature in `calls.sql`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from .. import sql
from ..errors import LeaseLost, StoreUnavailable
from ..events.windows import Window
from ..models import QUEUED, Content, Email, Outcome
from ..ports import (
    GUARD_OFF,
    UNPACED,
    BounceGuard,
    CampaignStatus,
    FailedRows,
    Pacing,
    PausedCampaign,
)
from ..sql import schema
from . import reports
from .intake_functions import IntakeFunctions
from .rows import email_from_row
from .sequences_functions import SequenceFunctions

SIGNATURE = re.compile(r"^(\w+)\((.*)\)$", re.DOTALL)
PARAMETER = re.compile(r"^(p_\w+) (\w[\w ]*(?:\[\])?)$")  # text[] too


@dataclass(frozen=True)
class Call:
    """One SQL function as the store calls it: its name, and its parameters' names
    and types in order."""

    function: str
    parameters: tuple[tuple[str, str], ...]

    def check(self, params: Mapping[str, Any]) -> None:
        """A store method passes exactly the declared parameters (a bug otherwise)."""
        names = [name for name, _ in self.parameters]
        if sorted(params) != sorted(names):
            raise TypeError(f"{self.function} takes {names}, given {sorted(params)}")


@cache
def _pacing(pacing: Pacing) -> dict[str, Any]:
    return {
        "p_min_interval_seconds": pacing.min_interval_seconds,
        "p_daily_cap": pacing.daily_cap,
        "p_day_start": pacing.day_start,
    }


def calls() -> dict[str, Call]:
    """The signatures of `calls.sql`, by store method."""
    declared = {}
    for method, text in sql.queries("postgres/calls.sql").items():
        match = SIGNATURE.match(" ".join(text.split()))
        assert match is not None, f"calls.sql, {method}: expected fn(p_name type, ...)"
        function, listed = match.groups()
        parameters = []
        for item in filter(None, (part.strip() for part in listed.split(","))):
            found = PARAMETER.match(item)
            assert found is not None, f"calls.sql, {method}: {item!r}"
            parameters.append((found.group(1), found.group(2)))
        declared[method] = Call(function, tuple(parameters))
    return declared


class MissingFunction(StoreUnavailable):
    """The database lacks one of the functions: it was never migrated, or not far enough."""


class Transport(Protocol):
    """How the calls reach one database."""

    where: str  # where the database is, fit for any message (no secrets)

    def call(self, call: Call, params: Mapping[str, Any], row_scoped: bool = False) -> Any:
        """The one value the function returns (decoded JSON for jsonb). Every failure as
        one of `errors`: `MissingFunction` when the database lacks it, `RowError` for
        values of one row the database refused when `row_scoped`, else
        `StoreUnavailable`."""
        ...

    def present(self, wanted: schema.Manifest) -> schema.Present:
        """What the database has of the tables, columns and functions `wanted` names."""
        ...

    def close(self) -> None: ...


def _outcome_params(
    email: Email, worker_id: str, outcome: Outcome, now: datetime
) -> dict[str, Any]:
    """What writing one outcome passes (`finish`, and `settle_late` after a guess)."""
    return {
        "p_id": email.id,
        "p_worker": worker_id,
        "p_now": now,
        "p_status": outcome.status,
        "p_error": outcome.error,
        "p_failure_kind": outcome.failure_kind,
        "p_provider_message_id": outcome.provider_message_id,
        "p_retry_at": outcome.retry_at,
        "p_give_back": outcome.status == QUEUED and not outcome.count_attempt,
    }


class FunctionStore(IntakeFunctions, SequenceFunctions):
    """The Store protocol over any `Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.where = transport.where

    def _call(self, method: str, params: Mapping[str, Any], row_scoped: bool = False) -> Any:
        call = calls()[method]
        call.check(params)
        return self.transport.call(call, params, row_scoped)

    # -- the Store protocol -------------------------------------------------

    def claim(
        self, worker_id: str, limit: int, now: datetime, pacing: Pacing, bound_only: bool = False
    ) -> list[Email]:
        rows = self._call(
            "claim",
            {
                "p_worker": worker_id,
                "p_limit": limit,
                "p_now": now,
                **_pacing(pacing),
                "p_bound_only": bound_only,
            },
        )
        return [email_from_row(row) for row in rows or []]

    def peek_due(self, limit: int, now: datetime, pacing: Pacing = UNPACED) -> list[Email]:
        rows = self._call("peek_due", {"p_limit": limit, "p_now": now, **_pacing(pacing)})
        return [email_from_row(row) for row in rows or []]

    def start_send(self, email: Email, worker_id: str, content: Content, now: datetime) -> None:
        started = self._call(
            "start_send",
            {
                "p_id": email.id,
                "p_worker": worker_id,
                "p_now": now,
                "p_subject": content.subject,
                "p_body": content.body,
                "p_model": content.model,
                "p_prompt_tokens": content.usage.get("prompt_tokens"),
                "p_completion_tokens": content.usage.get("completion_tokens"),
            },
            row_scoped=True,
        )
        if started is not True:
            raise LeaseLost(email.id)

    def finish(self, email: Email, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        recorded = self._call("finish", _outcome_params(email, worker_id, outcome, now))
        return recorded is True

    def settle_late(
        self,
        email: Email,
        worker_id: str,
        outcome: Outcome,
        send_started_at: datetime,
        now: datetime,
    ) -> bool:
        params = _outcome_params(email, worker_id, outcome, now)
        settled = self._call("settle_late", {**params, "p_send_started_at": send_started_at})
        return settled is True

    def renew_leases(self, worker_id: str, ids: list[str], now: datetime) -> int:
        renewed = self._call("renew_leases", {"p_worker": worker_id, "p_ids": ids, "p_now": now})
        return int(renewed)

    def recover_stale(self, lease_seconds: int, max_attempts: int, now: datetime) -> Counter[str]:
        counts = self._call(
            "recover_stale",
            {
                "p_cutoff": now - timedelta(seconds=lease_seconds),
                "p_max_attempts": max_attempts,
                "p_now": now,
            },
        )
        return Counter({status: int(n) for status, n in (counts or {}).items() if n})

    def roll_up(self, now: datetime, guard: BounceGuard = GUARD_OFF) -> list[PausedCampaign]:
        paused = self._call(
            "roll_up",
            {
                "p_now": now,
                "p_pause_rate": guard.pause_rate,
                "p_min_sends": guard.min_sends,
                "p_complaint_rate": guard.complaint_rate,
                "p_complaint_min": guard.complaint_min,
            },
        )
        return [reports.paused_campaign(row) for row in paused or []]

    def status(self, now: datetime, pacing: Pacing = UNPACED) -> list[CampaignStatus]:
        rows = self._call("status", {"p_now": now, **_pacing(pacing)})
        return [reports.campaign_status(row) for row in rows or []]

    def failed_rows(self, campaign_id: str) -> FailedRows:
        return reports.failed_rows(self._call("failed_rows", {"p_campaign_id": campaign_id}))

    def retry_failed(self, campaign_id: str, include_ambiguous: bool, now: datetime) -> int:
        requeued = self._call(
            "retry_failed",
            {
                "p_campaign_id": campaign_id,
                "p_include_ambiguous": include_ambiguous,
                "p_now": now,
            },
        )
        return int(requeued)

    # -- the EventsStore protocol (issue 15: SparkPost's events) ---------------

    def claim_events_poll(self, poller: str, now: datetime, lease_seconds: int) -> dict:
        return self._call(
            "claim_events_poll",
            {"p_poller": poller, "p_now": now, "p_lease_seconds": lease_seconds},
        )

    def ingest_events(
        self,
        poller: str,
        now: datetime,
        lease_seconds: int,
        records: list[dict[str, Any]],
        window: Window,
        next_path: str | None,
    ) -> dict:
        return self._call(
            "ingest_events",
            {
                "p_poller": poller,
                "p_now": now,
                "p_lease_seconds": lease_seconds,
                "p_events": records,
                "p_window_from": window.start,
                "p_window_to": window.end,
                "p_next_path": next_path,
            },
        )

    def release_events_poll(self, poller: str, now: datetime) -> bool:
        return self._call("release_events_poll", {"p_poller": poller, "p_now": now}) is True

    def settle_unseen_sends(self, grace_seconds: int, now: datetime) -> int:
        return int(
            self._call("settle_unseen_sends", {"p_grace_seconds": grace_seconds, "p_now": now})
        )

    def roll_up_events(self, campaign_ids: list[str] | None, now: datetime) -> int:
        return int(self._call("roll_up_events", {"p_campaign_ids": campaign_ids, "p_now": now}))

    def recipient_of(self, email_id: str) -> str | None:
        """The address of row `email_id`; None when there is no such row (or no address)."""
        address = self._call("recipient_of", {"p_id": email_id})
        return None if address is None else str(address)

    def suppress_recipient_of(self, email_id: str, reason: str, source: str, now: datetime) -> bool:
        """Suppress the recipient of row `email_id` (kept as first written if it already
        is); False when there is no such row."""
        suppressed = self._call(
            "suppress_recipient_of",
            {"p_id": email_id, "p_reason": reason, "p_source": source, "p_now": now},
        )
        return suppressed is True

    def schema_version(self) -> int:
        """The highest migration applied; 0 on a database never migrated."""
        try:
            return int(self._call("schema_version", {}))
        except MissingFunction:
            return 0

    def missing(self) -> list[str]:
        wanted = schema.manifest()
        return schema.missing(wanted, self.transport.present(wanted))

    def close(self) -> None:
        self.transport.close()
