"""Migration 0009 (leases) against a real Postgres: it applies over what came before,
applied again by hand it changes nothing, and a worker of the version before it keeps
working through the functions it calls, gaining the renewal at the start of a send."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from campaign_runner import migrate
from campaign_runner.sql import schema

from .kits import T0
from .postgres_kit import PostgresSeeder, execute, run

LEASES = "0009_leases.sql"


def test_0009_applies_over_the_schema_before_it_and_again_by_hand_changes_nothing(
    pg_fresh_dsn: str,
) -> None:
    files = [m.file for m in schema.migrations()]
    before_it = files.index(LEASES)
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for migration in schema.migrations()[:before_it]:
            conn.execute(migration.text)

    assert [m.file for m in migrate.apply(pg_fresh_dsn)] == files[before_it:]
    snapshot = run(pg_fresh_dsn, "schema_snapshot")
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        conn.execute(schema.migrations()[before_it].text)

    assert run(pg_fresh_dsn, "schema_snapshot") == snapshot


def test_a_worker_of_the_version_before_keeps_its_calls_and_renews_at_the_send(
    pg_fresh_dsn: str,
) -> None:
    migrate.apply(pg_fresh_dsn)
    seed = PostgresSeeder(pg_fresh_dsn)
    seed.email(seed.campaign("sending"))
    seed.close()
    started = T0 + timedelta(minutes=10)

    # The calls, as a worker before 0009 writes them (signatures of 0002-0004).
    claimed = execute(
        pg_fresh_dsn, "select cr_claim('old', 1, %(t0)s, 0, 0, %(t0)s) -> 0 ->> 'id' as id", t0=T0
    )
    assert claimed is not None
    row = {"id": claimed["id"], "at": started}
    assert execute(
        pg_fresh_dsn,
        "select cr_start_send(%(id)s::uuid, 'old', %(at)s, 's', 'b', null, null, null) as ok",
        **row,
    ) == {"ok": True}
    locked = execute(
        pg_fresh_dsn, "select locked_at from email_queue where id = %(id)s::uuid", **row
    )
    assert locked == {"locked_at": started}
    assert execute(
        pg_fresh_dsn,
        "select cr_finish(%(id)s::uuid, 'old', %(at)s, 'sent', null, 'pm-1', null, false) as ok",
        **row,
    ) == {"ok": True}
