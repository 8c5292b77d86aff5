"""What only Postgres has to prove: the migration, the rights, rollback and concurrent claims."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from campaign_runner import migrate, sql
from campaign_runner.sql import schema

NOW = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
INGEST = "cr_ingest_events(text, timestamptz, integer, jsonb, timestamptz, timestamptz, text)"


@pytest.fixture
def dsn(pg_fresh_dsn: str) -> str:
    migrate.apply(pg_fresh_dsn)
    return pg_fresh_dsn


def test_0006_applies_again_without_change(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.read("migrations/0006_events.sql"))
        (version,) = conn.execute("select cr_schema_version()").fetchone() or (0,)

    assert version >= 6
    assert migrate.apply(dsn) == []
    assert schema.manifest().functions["cr_ingest_events"] == "0006_events.sql"
    assert schema.manifest().columns[("email_queue", "delivered_at")] == "0006_events.sql"


def test_only_the_owner_may_run_the_events_functions(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop role if exists cr_events_anon")
        conn.execute("create role cr_events_anon")
        try:
            (allowed,) = conn.execute(
                "select has_function_privilege('cr_events_anon', %s, 'execute')", (INGEST,)
            ).fetchone() or (True,)
        finally:
            conn.execute("drop role cr_events_anon")

    assert allowed is False


def test_a_page_that_fails_halfway_leaves_everything_as_it_was(dsn: str) -> None:
    good = {"event_id": "1", "type": "delivery", "occurred_at": NOW.isoformat(), "raw": {}}
    broken = {**good, "event_id": "2", "occurred_at": "not a time"}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select cr_events_claim_poll('w1', %s, 300)", (NOW,))
        with pytest.raises(psycopg.errors.InvalidDatetimeFormat):
            conn.execute(
                f"select {INGEST.split('(')[0]}('w1', %s, 300, %s, %s, %s, null)",
                (NOW, Jsonb([good, broken]), NOW - timedelta(hours=1), NOW),
            )
        (events,) = conn.execute("select count(*) from email_events").fetchone() or (None,)
        (read_to,) = conn.execute("select read_to from cr_events_position").fetchone() or (1,)

    assert events == 0 and read_to is None


def test_of_many_workers_claiming_at_once_one_polls(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into cr_events_position (stream) values ('sparkpost')")
    start = threading.Barrier(6)
    claimed: list[str] = []

    def claim(worker: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            start.wait()
            (answer,) = conn.execute(
                "select cr_events_claim_poll(%s, %s, 300)", (worker, NOW)
            ).fetchone() or ({},)
        if answer["claimed"]:
            claimed.append(worker)

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(claimed) == 1
