"""The postgres store under the contract suite, on the session's migrated database
(emptied before each test), seeded with psycopg. The supabase kit seeds through
`PostgresSeeder` too: behind its loopback PostgREST is the same database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from campaign_runner.stores.postgres import PostgresStore

from .kits import Kit, Seeder, statement


class PostgresSeeder(Seeder):
    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)

    def execute(self, name: str, params: dict[str, Any]) -> None:
        self._conn.execute(statement(self.dialect, name), params)

    def fetch(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        return self._conn.execute(statement(self.dialect, name), params).fetchone()

    def close(self) -> None:
        self._conn.close()


def execute(dsn: str, query: str, **params: Any) -> dict[str, Any] | None:
    """One statement on a connection of its own: its first row, if any."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchone() if cursor.description else None


def run(dsn: str, name: str, **params: Any) -> dict[str, Any] | None:
    """`execute` for a statement of `sql/postgres`, by name."""
    return execute(dsn, statement("postgres", name), **params)


def postgres_kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    dsn = request.getfixturevalue("pg_db")
    store = PostgresStore(dsn)
    seed = PostgresSeeder(dsn)
    try:
        yield Kit("postgres", store, seed)
    finally:
        seed.close()
        store.close()
