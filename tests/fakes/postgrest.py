"""A loopback stand-in for Supabase's REST endpoint, for driving supabase-py in tests.

`POST /rest/v1/rpc/<function>` runs the real SQL function on a real Postgres
and answers the way PostgREST behind Supabase's gateway does (see
`wire-formats.md`): 200 with the result as JSON (empty body for `void`), 404
`PGRST202` for a function that does not exist, the SQLSTATE as `code` for an
exception raised in the function, 503 `PGRST000` when the database cannot be
reached, and 401 when the `apikey` or bearer token is not the service key.
`GET /rest/v1/` answers PostgREST's OpenAPI 2.0 description of the schema: its
tables and views under `definitions` (each column a `properties` entry) and its
functions as `paths` `/rpc/<function>` (the service key may call every one).

It can also misbehave the way networks do, deterministically:
- a keep-alive connection left idle longer than `idle_timeout` (or marked by
  `expire_idle_connections`) is closed when the next request arrives on it,
  without answering or executing it: the server's idle close crossing the
  client's reuse, the race behind supabase-py issue 1064
  (`RemoteProtocolError: Server disconnected`);
- `lose_next_answer(fn)` executes the next call of `fn` and then hangs up
  before answering, the case where a write happened but nobody heard of it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RPC_PATH = re.compile(r"^/rest/v1/rpc/([^/?]+)$")
HERE = Path(__file__).parent
SCHEMA_CACHE = (HERE / "postgrest_schema_cache.sql").read_text("utf-8")
REQUEST_SETTINGS = (HERE / "postgrest_request.sql").read_text("utf-8")
OPENAPI = (HERE / "postgrest_openapi.sql").read_text("utf-8")
ROOT_PATHS = ("/rest/v1", "/rest/v1/")
VOID = object()  # the answer of a `returns void` function: an empty body
INPUT_MODES = ("i", "b", "v")  # in, inout, variadic

# PostgREST's HTTP status for an SQLSTATE raised by a function, most specific first.
STATUS_BY_SQLSTATE = (
    ("23503", 409),
    ("23505", 409),
    ("42883", 404),
    ("42P01", 404),
    ("42501", 403),
    ("P0001", 400),
    ("08", 503),
    ("53", 503),
    ("22", 400),
    ("23", 400),
    ("25", 500),
    ("40", 500),
    ("54", 500),
    ("55", 500),
    ("57", 500),
    ("58", 500),
    ("P0", 500),
    ("XX", 500),
)


@dataclass(frozen=True)
class Call:
    """One request as the server saw it."""

    function: str
    args: dict[str, Any]
    connection: int  # which TCP connection carried it, numbered from 1
    status: int  # answered, or would have been had it not been dropped (0: never read)
    # "request": hung up on an idle connection, nothing executed;
    # "answer": executed, then hung up before answering.
    dropped: str | None = None


@dataclass
class _Connection:
    number: int
    sock: socket.socket
    last_active: float
    expired: bool = False
    busy: bool = False
    open: bool = True


class FakePostgrest:
    def __init__(self, dsn: str, key: str, idle_timeout: float | None = None) -> None:
        self.dsn = dsn  # point it at a dead server to see what "database down" looks like
        self.key = key
        self.idle_timeout = idle_timeout
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._lose_answer_of: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def expire_idle_connections(self) -> None:
        """Every connection idle right now is dropped when it is next used."""
        with self._lock:
            for connection in self._connections:
                if not connection.busy:
                    connection.expired = True

    def lose_next_answer(self, function: str) -> None:
        with self._lock:
            self._lose_answer_of.add(function)

    def calls_of(self, function: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.function == function]

    def close(self) -> None:
        """Stop listening (new connections are refused) and hang up on open ones."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            still_open = [c.sock for c in self._connections if c.open]
        for sock in still_open:
            with contextlib.suppress(OSError):  # the client may have closed it already
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def __enter__(self) -> FakePostgrest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler -----------------------------------------------

    def _open(self, sock: socket.socket) -> _Connection:
        with self._lock:
            connection = _Connection(len(self._connections) + 1, sock, time.monotonic())
            self._connections.append(connection)
            return connection

    def _gone(self, connection: _Connection) -> None:
        with self._lock:
            connection.open = False

    def _begin(self, connection: _Connection) -> bool:
        """Mark the connection busy; False when it was dropped while idle."""
        with self._lock:
            idle = time.monotonic() - connection.last_active
            stale = self.idle_timeout is not None and idle > self.idle_timeout
            if connection.expired or stale:
                return False
            connection.busy = True
            return True

    def _end(self, connection: _Connection) -> None:
        with self._lock:
            connection.busy = False
            connection.last_active = time.monotonic()

    def _take_lost_answer(self, function: str) -> bool:
        with self._lock:
            if function in self._lose_answer_of:
                self._lose_answer_of.discard(function)
                return True
            return False

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _execute(
        self, function: str, args: dict[str, Any], request: dict[str, str]
    ) -> tuple[int, Any]:
        """(HTTP status, body as a JSON-able value, or VOID for an empty body)."""
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=2) as db:
                db.execute(REQUEST_SETTINGS, request)
                signature = _match(db, function, args)
                if signature is None:
                    return 404, _missing_function(function, args)
                try:
                    cursor = db.execute(
                        _call(function, args, signature), [json.dumps(args)] if args else None
                    )
                except psycopg.Error as exc:
                    return _status_for(exc.sqlstate), _error_body(exc)
                value = cursor.fetchone()[0]
                return 200, VOID if signature.void else value
        except psycopg.OperationalError as exc:
            return 503, {
                "code": "PGRST000",
                "message": "Could not connect with the database due to an incorrect db-uri "
                "or due to the PostgreSQL service not running.",
                "details": str(exc).strip(),
                "hint": None,
            }

    def _openapi(self) -> tuple[int, Any]:
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=2) as db:
                listed = db.execute(OPENAPI).fetchall()
        except psycopg.OperationalError as exc:
            return 503, _error("PGRST000", str(exc).strip())
        paths: dict[str, Any] = {"/": {}}
        definitions: dict[str, Any] = {}
        for kind, name, columns in listed:
            if kind == "table":
                paths[f"/{name}"] = {}
                definitions[name] = {"type": "object", "properties": columns}
            else:
                paths[f"/rpc/{name}"] = {}
        return 200, {"swagger": "2.0", "paths": paths, "definitions": definitions}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoint speaks it
    server: ThreadingHTTPServer

    @property
    def fake(self) -> FakePostgrest:
        return self.server.fake  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        self.conn_state = self.fake._open(self.connection)

    def finish(self) -> None:
        self.fake._gone(self.conn_state)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are in `calls`."""

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path not in ROOT_PATHS:
            self._answer(404, {"message": "this fake serves GET /rest/v1/ only"})
            return
        if not self._authorized():
            self._answer(401, {"message": "Invalid API key"})
            return
        self._answer(*self.fake._openapi())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = RPC_PATH.match(self.path)
        if match is None:
            self._answer(404, {"message": "this fake serves POST /rest/v1/rpc/<function> only"})
            return
        function = match.group(1)
        try:
            args = json.loads(body or b"{}")
        except ValueError:
            args = None
        if not self.fake._begin(self.conn_state):
            self.fake._record(Call(function, args or {}, self.conn_state.number, 0, "request"))
            self.close_connection = True
            return
        try:
            call, result = self._rpc(function, args)
        finally:
            # Idle again before the answer leaves: a client holding the answer must
            # find the connection idle, for `expire_idle_connections`.
            self.fake._end(self.conn_state)
        self.fake._record(call)
        if call.dropped:
            self.close_connection = True
        else:
            self._answer(call.status, result)

    def _rpc(self, function: str, args: Any) -> tuple[Call, Any]:
        """What happened, and the body to answer with."""
        number = self.conn_state.number
        if not self._authorized():
            return Call(function, args if isinstance(args, dict) else {}, number, 401), {
                "message": "Invalid API key",
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            }
        if (
            not IDENTIFIER.match(function)
            or not isinstance(args, dict)
            or not all(IDENTIFIER.match(name) for name in args)
        ):
            return Call(function, {}, number, 400), _error("PGRST102", "Invalid body or name")
        request = {
            "method": self.command,
            "path": self.path,
            "headers": json.dumps({name.lower(): value for name, value in self.headers.items()}),
        }
        status, result = self.fake._execute(function, args, request)
        lost = "answer" if self.fake._take_lost_answer(function) else None
        return Call(function, args, number, status, lost), result

    def _authorized(self) -> bool:
        key = self.fake.key
        return (
            self.headers.get("apikey") == key
            and self.headers.get("Authorization") == f"Bearer {key}"
        )

    def _answer(self, status: int, result: Any) -> None:
        # A scalar function's null is the body `null`; only a void function's is empty.
        payload = b"" if result is VOID else json.dumps(result, default=_json_value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@dataclass(frozen=True)
class _Signature:
    types: dict[str, str]  # input parameter -> its type, as Postgres spells it
    void: bool


def _match(db: psycopg.Connection[Any], function: str, args: dict[str, Any]) -> _Signature | None:
    """PostgREST's overload match: every argument named, every parameter without a
    default given."""
    for names, modes, inputs, defaults, types, void in db.execute(SCHEMA_CACHE, {"name": function}):
        if inputs and not names:
            continue  # unnamed parameters cannot be called with a JSON object
        names = names or []
        given = [
            n for n, m in zip(names, modes or ["i"] * len(names), strict=True) if m in INPUT_MODES
        ]
        required = given[: inputs - defaults]
        if set(args) <= set(given) and set(required) <= set(args):
            return _Signature(dict(zip(given, types, strict=True)), bool(void))
    return None


def _call(function: str, args: dict[str, Any], signature: _Signature) -> sql.Composed:
    """The call as PostgREST builds it: the JSON body read as a record of the
    parameters' own types, so each value is parsed (and refused) by Postgres."""
    if not args:
        return sql.SQL("SELECT {}()").format(sql.Identifier(function))
    return sql.SQL("SELECT {}({}) FROM json_to_record(%s::json) AS _({})").format(
        sql.Identifier(function),
        sql.SQL(", ").join(sql.SQL("{0} => _.{0}").format(sql.Identifier(n)) for n in args),
        sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(signature.types[n])) for n in args
        ),
    )


def _missing_function(function: str, args: dict[str, Any]) -> dict[str, Any]:
    names = ", ".join(sorted(args))
    return {
        "code": "PGRST202",
        "message": f"Could not find the function public.{function}({names}) in the schema cache",
        "details": f"Searched for the function public.{function} with parameters {names} or "
        "with a single unnamed json/jsonb parameter, but no matches were found in the "
        "schema cache.",
        "hint": None,
    }


def _status_for(sqlstate: str | None) -> int:
    code = sqlstate or ""
    for prefix, status in STATUS_BY_SQLSTATE:
        if code.startswith(prefix):
            return status
    return 400


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": None, "hint": None}


def _error_body(exc: psycopg.Error) -> dict[str, Any]:
    return {
        "code": exc.sqlstate,
        "message": exc.diag.message_primary,
        "details": exc.diag.message_detail,
        "hint": exc.diag.message_hint,
    }


def _json_value(value: Any) -> Any:
    """Non-JSON scalars the way PostgREST writes them: ISO 8601 with offset, uuid as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
