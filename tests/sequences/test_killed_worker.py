"""A worker killed with SIGKILL in the middle of a sequence: the next worker carries
every lead on, no step is queued or sent twice, and what the killed one may have sent
stays ambiguous, never sent again (real worker processes on SQLite, Postgres, and
Supabase through the loopback PostgREST)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.postgrest import FakePostgrest
from tests.reliability.workers import start_worker
from tests.stores.kits import T0
from tests.stores.postgres_kit import PostgresSeeder
from tests.stores.sequence_seed import lead, sequence_campaign
from tests.stores.sqlite_kit import SqliteSeeder
from tests.stores.supabase_kit import SERVICE_ROLE_KEY

LEADS = 60
SUMMARY = {
    "postgres": "select l.id, l.status, l.error, (select coalesce(jsonb_agg(jsonb_build_object("
    "'id', q.id, 'step', q.step_number, 'status', q.status, 'kind', q.failure_kind)), '[]') "
    "from email_queue q where q.lead_id = l.id) as rows from campaign_leads l",
    "sqlite": "SELECT l.id, l.status, l.error, (SELECT json_group_array(json_object("
    "'id', q.id, 'step', q.step_number, 'status', q.status, 'kind', q.failure_kind)) "
    "FROM email_queue q WHERE q.lead_id = l.id) AS rows FROM campaign_leads l",
}


@dataclass(frozen=True)
class Database:
    url: str  # where the seeder and the summary read: sqlite:/// or postgresql://
    settings: dict[str, str]  # how the workers reach it


@pytest.fixture(params=["sqlite", "postgres", "supabase"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "queue.db"
        SqliteStore(path).close()
        yield Database(f"sqlite:///{path}", {"DATABASE_URL": f"sqlite:///{path}"})
        return
    dsn = str(request.getfixturevalue("pg_db"))
    if request.param == "postgres":
        yield Database(dsn, {"DATABASE_URL": dsn})
        return
    # The workers post every call to the loopback PostgREST, which runs it on `dsn`.
    with FakePostgrest(dsn, SERVICE_ROLE_KEY) as server:
        yield Database(
            dsn, {"SUPABASE_URL": server.url, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY}
        )


def summary(url: str) -> list[dict]:
    if url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute(SUMMARY["sqlite"])]
        db.close()
    else:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            rows = conn.execute(SUMMARY["postgres"]).fetchall()  # type: ignore[arg-type]
    return [
        {**r, "rows": json.loads(r["rows"]) if isinstance(r["rows"], str) else r["rows"]}
        for r in rows
    ]


def test_a_worker_killed_mid_sequence_loses_nothing_and_sends_nothing_twice(
    database: Database, tmp_path: Path
) -> None:
    seed = (
        PostgresSeeder(database.url)
        if database.url.startswith("postgres")
        else SqliteSeeder(Path(database.url.removeprefix("sqlite:///")))
    )
    campaign = sequence_campaign(seed, [{}, {}, {}])
    for n in range(LEADS):
        lead(seed, campaign, n, created_at=T0)
    seed.close()
    env = {
        **database.settings,
        "SENDER": "outbox",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "GENERATOR": "template",
        "WORK_DAYS": "all",
        "WORK_START_HOUR": "0",
        "WORK_END_HOUR": "24",
        "DOMAIN_MIN_INTERVAL_SECONDS": "0",
        "SEQUENCE_DISPATCH_SECONDS": "1",
        "POLL_INTERVAL_SECONDS": "0.2",
        "BATCH_SIZE": "5",
        "LEASE_SECONDS": "2",
        "LOG_FORMAT": "json",
        "HEARTBEAT_FILE": str(tmp_path / "beat"),
    }
    with start_worker({**env, "WORKER_ID": "first"}, tmp_path) as first:
        first.log.wait_for(lambda e: e.get("event") == "cycle" and e.get("sent", 0) > 0)
        first.log.wait_for(lambda e: e.get("event") == "sequence_dispatch", timeout=30)
        first.kill()  # between, or in the middle of, a dispatch and a cycle
    with start_worker({**env, "WORKER_ID": "second"}, tmp_path) as second:
        deadline = time.monotonic() + 60
        while any(lead["status"] == "active" for lead in summary(database.url)):
            assert time.monotonic() < deadline, second.log.tail()
            time.sleep(0.3)
        second.stop()

    files = {p.stem for p in (tmp_path / "outbox").glob("*.eml")}
    leads = summary(database.url)
    assert len(leads) == LEADS
    sent = set()
    for one in leads:
        steps = [r["step"] for r in one["rows"]]
        assert sorted(steps) == sorted(set(steps)), one  # no step queued twice
        ambiguous = [r for r in one["rows"] if r["kind"] == "ambiguous"]
        sent |= {r["id"] for r in one["rows"] if r["status"] == "sent"}
        if one["status"] == "completed":
            assert [r["status"] for r in sorted(one["rows"], key=lambda r: r["step"])] == [
                "sent"
            ] * 3
        else:  # the killed worker may have sent this step: never sent again
            assert one["status"] == "paused" and len(ambiguous) == 1, one
            assert "ambiguous" in one["error"]
    assert sent <= files  # every sent row left once (the outbox refuses a second file)
    assert all(lead["status"] in ("completed", "paused") for lead in leads)
