"""The supabase store: the migrations' SQL functions, called over PostgREST RPC.

`RpcTransport` runs each call of `functions.FunctionStore` as one
`client.rpc("cr_...", {...})` (no table queries: only a SQL function can lock
rows), with the parameter names of its signature in `sql/postgres/calls.sql`: the
calls the postgres store makes, so both behave exactly alike. What the schema has
(for `check`) it reads from PostgREST's OpenAPI description (`GET /rest/v1/`),
which lists the tables, their columns and the functions the key may call.

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

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
from postgrest import APIError
from supabase import Client, SupabaseException, create_client
from supabase.lib.client_options import SyncClientOptions

from ..config import ConfigError
from ..errors import RowError, StoreUnavailable
from ..sql import schema
from .functions import Call, FunctionStore, MissingFunction

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
RPC_PATH = "/rpc/"

T = TypeVar("T")


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


def _json(value: Any) -> Any:
    """A parameter as JSON: PostgREST reads timestamps as ISO 8601 text."""
    return value.isoformat() if isinstance(value, datetime) else value


class RpcTransport:
    def __init__(
        self, url: str, service_role_key: str, keepalive_seconds: float = KEEPALIVE_SECONDS
    ) -> None:
        self.url = url
        self.where = url
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

    def call(self, call: Call, params: Mapping[str, Any], row_scoped: bool = False) -> Any:
        body = {name: _json(value) for name, value in params.items()}
        return self._repeated(
            call.function,
            lambda: self._client.rpc(call.function, body).execute().data,
            row_scoped,
        )

    def present(self, wanted: schema.Manifest) -> schema.Present:
        described = self._repeated("the OpenAPI description", self._openapi)
        tables = {
            name: set((spec or {}).get("properties") or {})
            for name, spec in (described.get("definitions") or {}).items()
            if name in wanted.tables
        }
        return schema.Present(
            tables=frozenset(tables),
            columns=frozenset((t, c) for t, columns in tables.items() for c in columns),
            functions=frozenset(
                path.removeprefix(RPC_PATH)
                for path in described.get("paths") or {}
                if path.startswith(RPC_PATH)
            ),
        )

    def close(self) -> None:
        self._http.close()

    def _openapi(self) -> dict[str, Any]:
        rest = self._client.postgrest
        answer = self._http.get(f"{rest.base_url}/", headers=dict(rest.headers))
        try:
            decoded = answer.json()
        except ValueError:
            decoded = None
        if answer.is_error or not isinstance(decoded, dict):
            error = decoded if isinstance(decoded, dict) else {}
            raise APIError({"message": f"HTTP {answer.status_code} {answer.text[:200]}", **error})
        return decoded

    def _repeated(self, what: str, request: Callable[[], T], row_scoped: bool = False) -> T:
        """The request's answer; every failure as one of `errors`."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return request()
            except CONNECTION_BROKEN as exc:
                if attempt < ATTEMPTS and _on_reused_connection(exc):
                    continue
                raise self._unreachable(what, exc) from None
            except httpx.TransportError as exc:
                raise self._unreachable(what, exc) from None
            except APIError as exc:
                raise self._refused(what, exc, row_scoped) from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _unreachable(self, what: str, exc: httpx.TransportError) -> StoreUnavailable:
        reason = str(exc) or type(exc).__name__
        return StoreUnavailable(
            self._redact(f"Supabase at {self.url} unreachable ({what}): {reason}")
        )

    def _refused(self, what: str, exc: APIError, row_scoped: bool) -> Exception:
        code = exc.code or ""
        message = exc.message or "no message"
        if code == "PGRST202":
            return MissingFunction(self._redact(f"Supabase at {self.url}: {_missing(what)}"))
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
            self._redact(f"Supabase at {self.url} refused {what} ({code or 'no code'}): {message}")
        )

    def _redact(self, text: str) -> str:
        """No message built here may carry the key, whatever a server echoes back."""
        return text.replace(self._key, "[SUPABASE_SERVICE_ROLE_KEY]") if self._key else text


class SupabaseStore(FunctionStore):
    def __init__(
        self, url: str, service_role_key: str, keepalive_seconds: float = KEEPALIVE_SECONDS
    ) -> None:
        super().__init__(RpcTransport(url, service_role_key, keepalive_seconds))
        self.url = url


def _missing(function: str) -> str:
    file = schema.manifest().functions.get(function)
    added_by = f"{file}, which adds it" if file else "the migrations"
    return (
        f"the database has no function {function}: apply {added_by} "
        "(`supabase db push`, or `campaign-runner migrate` with DATABASE_URL set to the "
        "project's postgresql:// connection string)"
    )
