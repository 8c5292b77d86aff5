"""`sql/postgres/current_schema.sql` shows what the migrations build: the file and
the migrations, each applied to an empty database, leave the same catalog."""

from __future__ import annotations

import psycopg
import pytest

from campaign_runner import migrate, sql
from campaign_runner.sql import schema
from tests.fixtures.postgres import Server

from .postgres_kit import run

REGENERATE = "out of date: run `make current-schema` (scripts/current_schema.py)"


def test_the_current_schema_file_is_what_the_migrations_build(
    pg_fresh_dsn: str, pg_server: Server
) -> None:
    current = sql.read("postgres/current_schema.sql")
    migrate.apply(pg_fresh_dsn)
    built = run(pg_fresh_dsn, "catalog_dump")
    with pg_server.database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(current)
        shown = run(dsn, "catalog_dump")

    assert built is not None and shown is not None
    for part, value in built.items():
        assert shown[part] == value, f"current_schema.sql, {part}: {REGENERATE}"
    assert f"schema version {schema.latest()}," in current, REGENERATE


@pytest.mark.parametrize("part", ["columns", "functions", "indexes"])
def test_the_comparison_sees_each_kind_of_change(pg_fresh_dsn: str, part: str) -> None:
    """A catalog dump that missed a change would let the file drift unnoticed."""
    migrate.apply(pg_fresh_dsn)
    before = run(pg_fresh_dsn, "catalog_dump")
    change = {
        "columns": "alter table email_queue alter column error set default 'x'",
        "functions": "create or replace function cr_schema_version() returns int "
        "language sql stable as $$ select 0 $$",
        "indexes": "create index email_queue_extra on email_queue (to_email)",
    }[part]
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        conn.execute(change)
    after = run(pg_fresh_dsn, "catalog_dump")

    assert before is not None and after is not None
    assert [key for key in before if before[key] != after[key]] == [part]
