"""The embedded claim reads due rows already in its order, so it can stop when its
batch is full: a backlog of due rows costs a claim only the rows it takes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from campaign_runner import sql
from campaign_runner.stores.sqlite import SqliteStore, claimable

Q = sql.queries("sqlite/queries.sql")
PARAMS = {"now": "2026-01-05T12:00:00+00:00", "min_interval": 210, "daily_cap": 50, "day_start": ""}


@pytest.mark.parametrize("bound_only", [False, True])
def test_due_rows_come_from_the_ordered_index_without_a_sort(
    tmp_path: Path, bound_only: bool
) -> None:
    SqliteStore(tmp_path / "queue.db").close()
    params = {**PARAMS, "bound_only": bound_only}
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.create_function("cr_claimable", 1, claimable, deterministic=True)
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + Q["due_in_order"], params)]

    assert any("USING INDEX email_queue_due_order" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_file_of_an_older_version_loses_the_index_the_claim_no_longer_reads(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.executescript(sql.read("sqlite/schema.sql"))
        db.execute(
            "CREATE INDEX email_queue_due ON email_queue (scheduled_for) WHERE status = 'queued'"
        )

    SqliteStore(tmp_path / "queue.db").close()

    with sqlite3.connect(tmp_path / "queue.db") as db:
        indexes = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert "email_queue_due" not in indexes and "email_queue_due_order" in indexes
