"""The postgres store: the migrations' SQL functions, called with psycopg 3.

Each method is one `select cr_...(...)` (the calls are in `sql/postgres/calls.sql`);
the claim, pacing and finish logic lives once, in `sql/migrations`, shared with
the supabase store.

One connection, shared by the worker's threads under a lock, rather than a pool:
each call is a single short function call while a send takes far longer (and
pacing caps the rate well below what one connection carries), so a pool would
add a dependency and more connections against the database's limit for no
gain. A connection that broke is dropped and the next call opens a new one, so
the pipeline's retries reach a database that came back. Autocommit: every
function runs as its own transaction. No prepared statements, so the store also
works through a transaction-mode pooler (Supabase's port 6543, PgBouncer).

Messages name the database as user@host:port/dbname and never carry the password.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .. import sql
from ..config import ConfigError
from ..errors import LeaseLost, RowError, StoreUnavailable
from ..models import QUEUED, Content, Email, Outcome
from ..ports import (
    GUARD_OFF,
    BounceGuard,
    CampaignStatus,
    FailedRows,
    Pacing,
    PausedCampaign,
)
from . import reports
from .rows import email_from_row

Q = {**sql.queries("postgres/calls.sql"), **sql.queries("postgres/unsubscribe.sql")}

CONNECT_TIMEOUT_SECONDS = 10
# SQLSTATE classes about the values one row sent (22: data exception, e.g. a NUL
# byte in generated text; 23: integrity constraint), not about the database.
ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


def describe(dsn: str) -> str:
    """user@host:port/dbname: where the store is, fit for any message."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise ConfigError(
            "DATABASE_URL: expected postgresql://user:password@host:port/dbname"
        ) from None
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{parts.get('user', '')}@{host}:{parts.get('port') or 5432}/{parts.get('dbname', '')}"


def scrub(dsn: str, text: str) -> str:
    """One line, without the password, whatever a driver or server put in it."""
    line = " ".join(text.split())
    password = conninfo_to_dict(dsn).get("password")
    return line.replace(password, "***") if password else line


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A new autocommit connection; `StoreUnavailable` with a one-line reason if none."""
    where = describe(dsn)
    try:
        return psycopg.connect(
            dsn,
            autocommit=True,
            prepare_threshold=None,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="campaign-runner",
        )
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot connect to Postgres at {where}: {scrub(dsn, str(exc))}"
        ) from None


class MissingFunction(StoreUnavailable):
    """The database lacks one of the functions: it was never migrated, or not far enough."""


class PostgresStore:
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.where = describe(dsn)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    # -- the Store protocol -------------------------------------------------

    def claim(self, worker_id: str, limit: int, now: datetime, pacing: Pacing) -> list[Email]:
        rows = self._call(
            "claim",
            {
                "worker": worker_id,
                "limit": limit,
                "now": now,
                "min_interval": pacing.min_interval_seconds,
                "daily_cap": pacing.daily_cap,
                "day_start": pacing.day_start,
            },
        )
        return [email_from_row(row) for row in rows]

    def peek_due(self, limit: int, now: datetime) -> list[Email]:
        return [email_from_row(row) for row in self._call("peek_due", {"limit": limit, "now": now})]

    def start_send(self, email: Email, worker_id: str, content: Content, now: datetime) -> None:
        started = self._call(
            "start_send",
            {
                "id": email.id,
                "worker": worker_id,
                "now": now,
                "subject": content.subject,
                "body": content.body,
                "model": content.model,
                "prompt_tokens": content.usage.get("prompt_tokens"),
                "completion_tokens": content.usage.get("completion_tokens"),
            },
            row_scoped=True,
        )
        if not started:
            raise LeaseLost(email.id)

    def finish(self, email: Email, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        return bool(
            self._call(
                "finish",
                {
                    "id": email.id,
                    "worker": worker_id,
                    "now": now,
                    "status": outcome.status,
                    "error": outcome.error,
                    "provider_message_id": outcome.provider_message_id,
                    "retry_at": outcome.retry_at,
                    "give_back": outcome.status == QUEUED and not outcome.count_attempt,
                },
            )
        )

    def recover_stale(self, lease_seconds: int, max_attempts: int, now: datetime) -> Counter[str]:
        counts = self._call(
            "recover_stale",
            {
                "cutoff": now - timedelta(seconds=lease_seconds),
                "max_attempts": max_attempts,
                "now": now,
            },
        )
        return Counter({status: int(n) for status, n in counts.items() if n})

    def roll_up(self, now: datetime, guard: BounceGuard = GUARD_OFF) -> list[PausedCampaign]:
        paused = self._call(
            "roll_up",
            {"now": now, "pause_rate": guard.pause_rate, "min_sends": guard.min_sends},
        )
        return [reports.paused_campaign(row) for row in paused]

    def status(self, now: datetime) -> list[CampaignStatus]:
        return [reports.campaign_status(row) for row in self._call("status", {"now": now})]

    def failed_rows(self, campaign_id: str) -> FailedRows:
        return reports.failed_rows(self._call("failed_rows", {"campaign_id": campaign_id}))

    def retry_failed(self, campaign_id: str, include_ambiguous: bool, now: datetime) -> int:
        return int(
            self._call(
                "retry_failed",
                {"campaign_id": campaign_id, "include_ambiguous": include_ambiguous, "now": now},
            )
        )

    def recipient_of(self, email_id: str) -> str | None:
        """The address of row `email_id`; None when there is no such row (or no address)."""
        return self._call("recipient_of", {"id": email_id})

    def suppress_recipient_of(self, email_id: str, reason: str, source: str, now: datetime) -> bool:
        """Suppress the recipient of row `email_id` (kept as first written if it already
        is); False when there is no such row."""
        params = {"id": email_id, "reason": reason, "source": source, "now": now}
        return bool(self._call("suppress_recipient_of", params))

    def schema_version(self) -> int:
        """The highest migration applied; 0 on a database never migrated."""
        try:
            return int(self._call("schema_version"))
        except MissingFunction:
            return 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- one call -----------------------------------------------------------

    def _call(
        self, query: str, params: Mapping[str, Any] | None = None, row_scoped: bool = False
    ) -> Any:
        """The one value a function returns; every failure as one of `errors`."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.dsn)
            try:
                row = self._conn.execute(Q[query], params).fetchone()
            except psycopg.errors.UndefinedFunction:
                raise MissingFunction(
                    f"Postgres at {self.where} has no function cr_{query}: "
                    "run `campaign-runner migrate`"
                ) from None
            except ROW_ERRORS as exc:
                if not row_scoped:
                    raise self._refused(query, exc) from None
                raise RowError(
                    f"the database refused this row: {scrub(self.dsn, str(exc))}"
                ) from None
            except psycopg.Error as exc:
                if self._conn.broken:
                    self._conn.close()
                    self._conn = None
                raise self._refused(query, exc) from None
        assert row is not None  # a function call returns one row
        return row[0]

    def _refused(self, query: str, exc: psycopg.Error) -> StoreUnavailable:
        return StoreUnavailable(f"Postgres at {self.where} ({query}): {scrub(self.dsn, str(exc))}")
