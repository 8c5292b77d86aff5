"""The postgres store: the migrations' SQL functions, called with psycopg 3.

`PsycopgTransport` runs each call of `functions.FunctionStore` as one
`select cr_x(%(p_a)s::type, ...)`, written from its signature in
`sql/postgres/calls.sql`.

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
from collections.abc import Mapping
from functools import cache
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from .. import sql
from ..config import ConfigError
from ..errors import RowError, StoreUnavailable
from ..sql import schema
from .functions import Call, FunctionStore, MissingFunction

CATALOG = sql.queries("postgres/catalog.sql")
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


@cache
def statement(call: Call) -> pgsql.Composed:
    """`select cr_x(%(p_a)s::type, ...)`: the call, each value cast to its declared type.
    The name stays unquoted, as a person would write it (it is a word of calls.sql)."""
    return pgsql.SQL("select {}({})").format(
        pgsql.SQL(call.function),
        pgsql.SQL(", ").join(
            pgsql.SQL("{}::{}").format(pgsql.Placeholder(name), pgsql.SQL(kind))
            for name, kind in call.parameters
        ),
    )


class PsycopgTransport:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.where = describe(dsn)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def call(self, call: Call, params: Mapping[str, Any], row_scoped: bool = False) -> Any:
        # Values for jsonb parameters come as plain data, as the RPC transport posts them.
        kinds = dict(call.parameters)
        params = {k: Jsonb(v) if kinds[k] == "jsonb" else v for k, v in params.items()}
        (row,) = self._execute(call.function, statement(call), params, row_scoped)
        return row[0]

    def present(self, wanted: schema.Manifest) -> schema.Present:
        def names(query: str, **params: Any) -> list[Any]:
            return self._execute(query, CATALOG[query], params)

        return schema.Present(
            tables=frozenset(t for (t,) in names("tables", names=list(wanted.tables))),
            columns=frozenset((t, c) for t, c in names("columns", tables=list(wanted.tables))),
            functions=frozenset(f for (f,) in names("functions", names=list(wanted.functions))),
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _execute(
        self,
        what: str,
        query: pgsql.Composable | str,
        params: Mapping[str, Any],
        row_scoped: bool = False,
    ) -> list[Any]:
        """The statement's rows; every failure as one of `errors`."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.dsn)
            try:
                return self._conn.execute(query, params).fetchall()
            except psycopg.errors.UndefinedFunction:
                raise MissingFunction(
                    f"Postgres at {self.where} has no function {what}: "
                    "run `campaign-runner migrate`"
                ) from None
            except ROW_ERRORS as exc:
                if not row_scoped:
                    raise self._refused(what, exc) from None
                raise RowError(
                    f"the database refused this row: {scrub(self.dsn, str(exc))}"
                ) from None
            except psycopg.Error as exc:
                if self._conn.broken:
                    self._conn.close()
                    self._conn = None
                raise self._refused(what, exc) from None

    def _refused(self, what: str, exc: psycopg.Error) -> StoreUnavailable:
        return StoreUnavailable(f"Postgres at {self.where} ({what}): {scrub(self.dsn, str(exc))}")


class PostgresStore(FunctionStore):
    def __init__(self, dsn: str) -> None:
        super().__init__(PsycopgTransport(dsn))
