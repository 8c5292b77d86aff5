"""Store contract: a failure's kind is the `failure_kind` column, written beside `error`
by every write that sets one and read wherever a kind decides something (the bounce
guard, `status`, `retry-failed`); databases made before the column get it filled from
the prefixes of their errors."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from campaign_runner import migrate, sql
from campaign_runner.models import FAILED, QUEUED, TRANSIENT, Outcome
from campaign_runner.ports import BounceGuard, Pacing
from campaign_runner.sql import schema
from campaign_runner.stores.postgres import PostgresStore
from campaign_runner.stores.sqlite import SqliteStore

from .kits import T0, Kit
from .postgres_kit import PostgresSeeder
from .test_operations import LEASE, REJECTED, SENT, WORKER, plant, plant_many

# Errors as each earlier version wrote them, and the kind each must get.
OLD_ERRORS = {
    "rejected: recipient rejected by SparkPost: invalid recipient (code 1300)": "rejected",
    "ambiguous: interrupted during send (worker vm-2:1 stopped)": "ambiguous",
    "gave up after 3 attempts: SparkPost busy (503)": "transient",
    "recipient ana@example.org is on the suppression list": "suppressed",
    "to_email 'x' is not a valid address: no @": "invalid",
    "campaign 5b1e no longer exists": "campaign_gone",
    "subject: 'first_name' is undefined for this contact": "content",
    "worker stopped while processing this row 3 times": "interrupted",
}


def test_finish_writes_the_kind_and_a_row_put_back_or_sent_says_its_own(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for _ in range(3):
        kit.seed.email(campaign)
    failed, retried, sent = kit.store.claim(WORKER, 3, T0, Pacing())
    kit.store.finish(failed, WORKER, Outcome(FAILED, error=REJECTED, failure_kind="rejected"), T0)
    later = Outcome(QUEUED, error="503", retry_at=T0, failure_kind=TRANSIENT)
    kit.store.finish(retried, WORKER, later, T0)
    kit.store.finish(sent, WORKER, SENT, T0)

    kinds = [kit.seed.email_row(e.id)["failure_kind"] for e in (failed, retried, sent)]

    assert kinds == ["rejected", "transient", None]


def test_a_row_failed_then_retried_and_sent_has_no_kind_left(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (row,) = kit.store.claim(WORKER, 1, T0, Pacing())
    kit.store.finish(row, WORKER, Outcome(FAILED, error="bad", failure_kind="content"), T0)

    assert kit.store.retry_failed(campaign, False, T0) == 1

    assert kit.seed.email_row(row.id)["failure_kind"] is None
    (again,) = kit.store.claim(WORKER, 1, T0, Pacing())
    kit.store.finish(again, WORKER, SENT, T0)
    assert kit.seed.email_row(row.id)["failure_kind"] is None


def test_stale_recovery_says_interrupted_before_the_send_and_ambiguous_after(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    dead = {"status": "processing", "locked_by": "vm-2:1", "locked_at": T0 - timedelta(days=1)}
    before = plant(kit, campaign, **dead, attempts=1)
    worn_out = plant(kit, campaign, **dead, attempts=3)
    during = plant(kit, campaign, **dead, attempts=1, send_started_at=T0 - timedelta(days=1))

    kit.store.recover_stale(LEASE, 3, T0)

    kinds = {e: kit.seed.email_row(e)["failure_kind"] for e in (before, worn_out, during)}
    assert kinds == {before: "interrupted", worn_out: "interrupted", during: "ambiguous"}
    assert kit.store.status(T0)[0].failed_by_kind == {"ambiguous": 1, "interrupted": 1}


def test_the_kind_decides_not_the_text(kit: Kit) -> None:
    """A row whose text looks like another kind is judged by its column: the bounce
    guard, `status` and `retry-failed` read no prefix."""
    campaign = kit.seed.campaign("sending")
    plant_many(kit, campaign, 20, "sent", sent_at=T0 - timedelta(hours=1))
    # Refused recipients whose error text a person rewrote (no `rejected:` prefix) ...
    plant_many(kit, campaign, 3, "failed", error="refused by the provider", failure_kind="rejected")
    # ... and content failures that merely start with the word.
    plant_many(kit, campaign, 2, "failed", error="rejected: looks like one", failure_kind="content")
    plant(kit, campaign, "failed", error="ambiguous: not really", failure_kind="content")
    plant(kit, campaign)

    paused = kit.store.roll_up(T0, BounceGuard(pause_rate=0.1))
    (shown,) = kit.store.status(T0)

    assert [p.reason for p in paused] == [
        "bounce guard: the provider rejected 3 of 23 recipients, more than BOUNCE_PAUSE_RATE allows"
    ]
    assert (shown.rejected, shown.ambiguous) == (3, 0)
    assert shown.failed_by_kind == {"rejected": 3, "content": 3}
    assert kit.store.failed_rows(campaign).ambiguous == 0


# -- databases made before the column -----------------------------------------------


def test_an_embedded_file_made_before_the_column_gets_it_filled_from_the_prefixes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # what the previous version created
        db.executescript(sql.read("sqlite/schema.sql"))
        db.execute("ALTER TABLE email_queue DROP COLUMN failure_kind")
        db.execute("ALTER TABLE domain_pacing DROP COLUMN previous_claimed_at")
        db.execute("INSERT INTO campaigns (id, name, status) VALUES ('c1', 'Old', 'sending')")
        for n, error in enumerate([*OLD_ERRORS, "SparkPost busy (503)", None]):
            status = "queued" if error in ("SparkPost busy (503)", None) else "failed"
            db.execute(
                "INSERT INTO email_queue (id, campaign_id, status, error) VALUES (?, 'c1', ?, ?)",
                (f"e{n}", status, error),
            )
    db.close()

    for store in (SqliteStore(path), SqliteStore(path)):  # two processes, one after the other
        store.close()

    with sqlite3.connect(path) as db:
        kinds = dict(db.execute("SELECT error, failure_kind FROM email_queue").fetchall())
        pacing = [row[1] for row in db.execute("PRAGMA table_info(domain_pacing)")]
    db.close()
    assert kinds == {**OLD_ERRORS, "SparkPost busy (503)": "transient", None: None}
    assert "previous_claimed_at" in pacing


def test_0005_fills_the_kinds_and_the_previous_workers_finish_still_writes_one(
    pg_fresh_dsn: str,
) -> None:
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for migration in schema.migrations()[:4]:
            conn.execute(migration.text)
    seed = PostgresSeeder(pg_fresh_dsn)
    campaign = seed.campaign("sending")
    old = {
        error: plant_via(seed, campaign, "failed", error) for error in OLD_ERRORS
    }  # failed as the previous version failed them
    waiting = seed.email(campaign)
    seed.close()

    assert [m.file for m in migrate.apply(pg_fresh_dsn)] == [
        m.file for m in schema.migrations()[4:]
    ]

    with psycopg.connect(pg_fresh_dsn, autocommit=True, row_factory=dict_row) as conn:
        kinds = {
            row["error"]: row["failure_kind"]
            for row in conn.execute(
                "select error, failure_kind from email_queue where error is not null"
            )
        }
        assert kinds == OLD_ERRORS
        assert set(old) == set(OLD_ERRORS)
        # A worker of the previous version claims and fails a row with its own calls.
        conn.execute("select cr_claim('old-worker', 1, %(now)s, 0, 0, null)", {"now": T0})
        finished = conn.execute(
            "select cr_finish(%(id)s::uuid, 'old-worker', %(now)s, 'failed', %(error)s,"
            " null, null, false) as ok",
            {"id": waiting, "now": T0, "error": "rejected: recipient rejected by SparkPost: x"},
        ).fetchone()
        row = conn.execute(
            "select failure_kind from email_queue where id = %(id)s::uuid", {"id": waiting}
        ).fetchone()
        previous_status = conn.execute("select cr_campaign_status(%(now)s) as s", {"now": T0})
        (shown,) = previous_status.fetchone()["s"]
    assert finished is not None and finished["ok"] is True
    assert row is not None and row["failure_kind"] == "rejected"
    assert shown["rejected"] == 2 and shown["ambiguous"] == 1
    assert PostgresStore(pg_fresh_dsn).schema_version() == schema.latest()


def plant_via(seed: PostgresSeeder, campaign: str, status: str, error: str) -> str:
    """A row as the previous version left it: an error, and no kind (no such column)."""
    email_id = seed.email(campaign)
    seed._conn.execute(
        "update email_queue set status = %(status)s, error = %(error)s where id = %(id)s::uuid",
        {"status": status, "error": error, "id": email_id},
    )
    return email_id
