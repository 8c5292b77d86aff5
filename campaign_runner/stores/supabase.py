"""The supabase store: the migrations' SQL functions, called over PostgREST RPC.

Each method is one `client.rpc("cr_...", {...})` call (no table queries: only
a SQL function can lock rows). The function API is the one the postgres store
calls too, so both behave exactly alike.

Connections. supabase-py's own HTTP client speaks HTTP/2 and keeps idle
connections open for as long as the process lives; the server or a load
balancer closes them after its own idle timeout, and the next call on one
fails with `RemoteProtocolError: Server disconnected` (supabase-py issue 1064).
So the store passes its own `httpx.Client`:
- HTTP/1.1, whose pool sees that the server closed an idle connection before
  reusing it (HTTP/2 multiplexing buys nothing for a few small calls per email);
- idle connections dropped after `keepalive_seconds`, shorter than the idle
  timeouts of the usual servers and balancers (nginx 75 s, AWS ALB 60 s);
- a call that fails on a *reused* connection (the server's close crossed our
  request on the wire) is repeated. Each such failure takes the broken
  connection out of the pool, and the pool keeps at most KEEPALIVE_CONNECTIONS,
  so within that many repeats the call runs on a new connection: in effect one
  retry on a fresh connection. A failure on a new connection, or a timeout, is
  not repeated: the server is really unreachable or slow, and the worker backs
  off (`StoreUnavailable`).

Repeating is safe for every call, even when the first request did run and
only its answer was lost:
- claim: the first batch stays `processing` with nobody working on it; nothing
  was sent, so stale recovery puts it back to `queued` once the lease runs out
  (the attempt counts). The repeat claims the next due rows.
- start_send / finish: guarded by "still `processing` and locked by us". A
  repeated start_send writes the same content again; a repeated finish whose
  first run did commit finds the row settled and returns False, so the worker
  logs a lost lease although the outcome is recorded as intended.
- recover_stale: idempotent; peek_due, status, failed_rows: read only.
- roll_up: idempotent, but a repeat does not report again the campaigns the lost
  call paused: their pause and its reason are in the database (`status` shows
  them); only the worker's log line about them is lost.
- retry_failed: a repeat finds the rows already queued and requeues nothing more,
  so the count it returns (and `retry-failed` prints) is then 0.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
from postgrest import APIError
from supabase import Client, SupabaseException, create_client
from supabase.lib.client_options import SyncClientOptions

from ..config import ConfigError
from ..errors import LeaseLost, RowError, StoreUnavailable
from ..migrate import manifest
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
from . import reports
from .postgres import MissingFunction
from .rows import email_from_row

KEEPALIVE_SECONDS = 5.0
KEEPALIVE_CONNECTIONS = 8
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Tries of one call while it keeps failing on reused connections: the last is on a new one.
ATTEMPTS = KEEPALIVE_CONNECTIONS + 1
CONNECTION_BROKEN = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
# SQLSTATE classes that are about the values one row sent (22: data exception, e.g.
# a NUL byte in generated text; 23: integrity constraint), not about the database.
ROW_SQLSTATE_CLASSES = ("22", "23")
# PostgREST's codes for a token it refuses; Supabase's gateway answers a wrong key
# with a bare {"message": "Invalid API key"}.
KEY_REFUSED_CODES = ("PGRST301", "PGRST302")


class _ConnectionTrace:
    """httpcore trace hook for one request: did it open a connection of its own?"""

    def __init__(self) -> None:
        self.opened_connection = False

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.opened_connection = True


def _trace(request: httpx.Request) -> None:
    request.extensions["trace"] = _ConnectionTrace()


def _on_reused_connection(exc: httpx.TransportError) -> bool:
    try:
        trace = exc.request.extensions.get("trace")
    except RuntimeError:  # no request attached: nothing was sent
        return False
    return isinstance(trace, _ConnectionTrace) and not trace.opened_connection


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class SupabaseStore:
    name = "supabase"

    def __init__(
        self,
        url: str,
        service_role_key: str,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.url = url
        self._key = service_role_key
        self._http = httpx.Client(
            http2=False,
            timeout=TIMEOUT,
            limits=httpx.Limits(
                max_keepalive_connections=KEEPALIVE_CONNECTIONS, keepalive_expiry=keepalive_seconds
            ),
            event_hooks={"request": [_trace]},
        )
        options = SyncClientOptions(
            httpx_client=self._http,
            postgrest_client_retry=False,  # our policy above is the one in force
            auto_refresh_token=False,
            persist_session=False,
        )
        try:
            self._client: Client = create_client(url, service_role_key, options=options)
        except SupabaseException as exc:  # a malformed URL, an empty key
            self._http.close()
            raise ConfigError(
                self._redact(f"SUPABASE_URL / SUPABASE_SERVICE_ROLE_KEY: {exc}")
            ) from None

    # -- the Store protocol -------------------------------------------------

    def claim(self, worker_id: str, limit: int, now: datetime, pacing: Pacing) -> list[Email]:
        rows = self._rpc(
            "cr_claim",
            {
                "p_worker": worker_id,
                "p_limit": limit,
                "p_now": _iso(now),
                "p_min_interval_seconds": pacing.min_interval_seconds,
                "p_daily_cap": pacing.daily_cap,
                "p_day_start": _iso(pacing.day_start),
            },
        )
        return [email_from_row(row) for row in rows or []]

    def peek_due(self, limit: int, now: datetime, pacing: Pacing = UNPACED) -> list[Email]:
        rows = self._rpc(
            "cr_peek_due_v2",
            {
                "p_limit": limit,
                "p_now": _iso(now),
                "p_min_interval_seconds": pacing.min_interval_seconds,
                "p_daily_cap": pacing.daily_cap,
                "p_day_start": _iso(pacing.day_start),
            },
        )
        return [email_from_row(row) for row in rows or []]

    def start_send(self, email: Email, worker_id: str, content: Content, now: datetime) -> None:
        started = self._rpc(
            "cr_start_send",
            {
                "p_id": email.id,
                "p_worker": worker_id,
                "p_now": _iso(now),
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
        recorded = self._rpc(
            "cr_finish_v2",
            {
                "p_id": email.id,
                "p_worker": worker_id,
                "p_now": _iso(now),
                "p_status": outcome.status,
                "p_error": outcome.error,
                "p_failure_kind": outcome.failure_kind,
                "p_provider_message_id": outcome.provider_message_id,
                "p_retry_at": _iso(outcome.retry_at),
                "p_give_back": outcome.status == QUEUED and not outcome.count_attempt,
            },
        )
        return recorded is True

    def recover_stale(self, lease_seconds: int, max_attempts: int, now: datetime) -> Counter[str]:
        counts = self._rpc(
            "cr_recover_stale",
            {
                "p_cutoff": _iso(now - timedelta(seconds=lease_seconds)),
                "p_max_attempts": max_attempts,
                "p_now": _iso(now),
            },
        )
        return Counter({status: int(n) for status, n in (counts or {}).items() if n})

    def roll_up(self, now: datetime, guard: BounceGuard = GUARD_OFF) -> list[PausedCampaign]:
        paused = self._rpc(
            "cr_roll_up_guarded",
            {
                "p_now": _iso(now),
                "p_pause_rate": guard.pause_rate,
                "p_min_sends": guard.min_sends,
            },
        )
        return [reports.paused_campaign(row) for row in paused or []]

    def status(self, now: datetime, pacing: Pacing = UNPACED) -> list[CampaignStatus]:
        rows = self._rpc(
            "cr_campaign_status_v2",
            {
                "p_now": _iso(now),
                "p_min_interval_seconds": pacing.min_interval_seconds,
                "p_daily_cap": pacing.daily_cap,
                "p_day_start": _iso(pacing.day_start),
            },
        )
        return [reports.campaign_status(row) for row in rows or []]

    def failed_rows(self, campaign_id: str) -> FailedRows:
        return reports.failed_rows(self._rpc("cr_failed_rows", {"p_campaign_id": campaign_id}))

    def retry_failed(self, campaign_id: str, include_ambiguous: bool, now: datetime) -> int:
        requeued = self._rpc(
            "cr_retry_failed",
            {
                "p_campaign_id": campaign_id,
                "p_include_ambiguous": include_ambiguous,
                "p_now": _iso(now),
            },
        )
        return int(requeued)

    def schema_version(self) -> int:
        """The highest migration applied; 0 on a database never migrated."""
        try:
            return int(self._rpc("cr_schema_version", {}))
        except MissingFunction:
            return 0

    def close(self) -> None:
        self._http.close()

    # -- one call -----------------------------------------------------------

    def _rpc(self, function: str, params: dict[str, Any], row_scoped: bool = False) -> Any:
        """The function's result as decoded JSON; every failure as one of `errors`."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._client.rpc(function, params).execute().data
            except CONNECTION_BROKEN as exc:
                if attempt < ATTEMPTS and _on_reused_connection(exc):
                    continue
                raise self._unreachable(function, exc) from None
            except httpx.TransportError as exc:
                raise self._unreachable(function, exc) from None
            except APIError as exc:
                raise self._refused(function, exc, row_scoped) from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _unreachable(self, function: str, exc: httpx.TransportError) -> StoreUnavailable:
        reason = str(exc) or type(exc).__name__
        return StoreUnavailable(
            self._redact(f"Supabase at {self.url} unreachable ({function}): {reason}")
        )

    def _refused(self, function: str, exc: APIError, row_scoped: bool) -> Exception:
        code = exc.code or ""
        message = exc.message or "no message"
        if code == "PGRST202":
            return MissingFunction(self._redact(f"Supabase at {self.url}: {_missing(function)}"))
        if code in KEY_REFUSED_CODES or (not code and "api key" in message.lower()):
            return StoreUnavailable(
                self._redact(
                    f"Supabase at {self.url} refused SUPABASE_SERVICE_ROLE_KEY: {message} "
                    "(use the project's service_role key)"
                )
            )
        if row_scoped and code[:2] in ROW_SQLSTATE_CLASSES and len(code) == 5:
            return RowError(self._redact(f"the database refused this row ({code}): {message}"))
        return StoreUnavailable(
            self._redact(
                f"Supabase at {self.url} refused {function} ({code or 'no code'}): {message}"
            )
        )

    def _redact(self, text: str) -> str:
        """No message built here may carry the key, whatever a server echoes back."""
        return text.replace(self._key, "[SUPABASE_SERVICE_ROLE_KEY]") if self._key else text


def _missing(function: str) -> str:
    file = manifest().functions.get(function)
    added_by = f"{file}, which adds it" if file else "the migrations"
    return (
        f"the database has no function {function}: apply {added_by} "
        "(`supabase db push`, or `campaign-runner migrate` with DATABASE_URL set to the "
        "project's postgresql:// connection string)"
    )
