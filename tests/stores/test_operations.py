"""Store contract for operating the queue: stale leases left by dead workers, poison
rows, campaigns paused or cancelled in flight, the bounce guard, `status` and
`retry-failed`. Rows are planted as other workers and older versions leave them."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from campaign_runner import migrate, sql
from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.models import Outcome
from campaign_runner.ports import (
    BounceGuard,
    CampaignStatus,
    FailedRows,
    Pacing,
    PausedCampaign,
    Waiting,
)
from campaign_runner.sql import schema
from campaign_runner.stores.rows import parse_time
from campaign_runner.stores.sqlite import SqliteStore

from .kits import DUE, T0, Kit, statement
from .postgres_kit import PostgresSeeder, execute, run

WORKER = "worker-a"
LEASE = 900
GUARD = BounceGuard(pause_rate=0.05)  # the default BOUNCE_PAUSE_RATE, after 20 sends
REJECTED = "rejected: recipient rejected by SparkPost: invalid recipient address (code 1300)"
AMBIGUOUS = "ambiguous: SparkPost connection failed after the request went out (ReadTimeout)"
GAVE_UP = "gave up after 3 attempts: SparkPost busy (503): Service Unavailable"
# The failure_kind the worker writes beside each of these errors.
KIND_OF = {REJECTED: "rejected", AMBIGUOUS: "ambiguous", GAVE_UP: "transient"}
SENT = Outcome("sent", provider_message_id="pm")


def guard_reason(rejected: int, sends: int) -> str:
    return (
        f"bounce guard: the provider rejected {rejected} of {sends} recipients, "
        "more than BOUNCE_PAUSE_RATE allows"
    )


def plant(kit: Kit, campaign: str, status: str = "queued", **fields: Any) -> str:
    """One row written straight into the database, lifecycle columns and all."""
    email_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "to_email": f"{email_id[:8]}@example.org",
        "from_email": "news@acme.test",
        "subject": "Stored subject",
        "body": "Stored body",
        "scheduled_for": DUE,
        "attempts": 0 if status == "queued" else 1,
        "locked_by": None,
        "locked_at": None,
        "send_started_at": None,
        "sent_at": None,
        "error": None,
        "updated_at": DUE,
        **fields,
    }
    if "failure_kind" not in values:
        error = values["error"]
        values["failure_kind"] = None if error is None else KIND_OF.get(error, "content")
    values = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
    kit.seed.execute(
        "plant_email", {**values, "id": email_id, "campaign_id": campaign, "status": status}
    )
    return email_id


def plant_many(kit: Kit, campaign: str, n: int, status: str, **fields: Any) -> list[str]:
    return [plant(kit, campaign, status, **fields) for _ in range(n)]


# -- stale leases (issue 6, item 1) ---------------------------------------------------


def test_rows_a_dead_worker_left_long_ago_are_settled_by_what_is_known(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    # Locked days ago by a worker on another machine, written with its own offset.
    long_ago = "2026-11-20T09:00:00-08:00"
    dead = {"status": "processing", "locked_by": "vm-2:4242", "locked_at": long_ago}
    before_send = plant(kit, campaign, **dead, attempts=1)
    during_send = plant(kit, campaign, **dead, attempts=1, send_started_at=long_ago)
    worn_out = plant(kit, campaign, **dead, attempts=3)
    worn_out_during_send = plant(kit, campaign, **dead, attempts=3, send_started_at=long_ago)
    alive = plant(kit, campaign, "processing", locked_by="vm-3:1", locked_at=T0, attempts=1)

    recovered = kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE - 1))

    assert recovered == Counter({"queued": 1, "failed": 3})
    row = kit.seed.email_row(before_send)
    assert (row["status"], row["attempts"], row["locked_by"], row["locked_at"]) == (
        "queued",
        1,
        None,
        None,
    )
    assert row["error"] == "recovered: worker vm-2:4242 stopped before sending"
    for ambiguous in (during_send, worn_out_during_send):  # the send may have happened
        row = kit.seed.email_row(ambiguous)
        assert row["status"] == "failed"
        assert row["error"] == (
            "ambiguous: interrupted during send (worker vm-2:4242 stopped after the send "
            "started; it may have been delivered)"
        )
    row = kit.seed.email_row(worn_out)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["error"] == "worker stopped while processing this row 3 times"
    assert kit.seed.email_row(alive)["status"] == "processing"  # its lease still runs
    # Only the row that never started is sent again; status counts what may have left.
    (again,) = kit.store.claim(WORKER, 10, T0, Pacing())
    assert (again.id, again.attempts) == (before_send, 2)
    assert kit.store.status(T0)[0].ambiguous == 2


# -- poison rows (issue 6, item 4) ----------------------------------------------------


def test_poison_rows_fail_with_their_reasons_and_the_rest_of_the_batch_is_sent(
    kit: Kit, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    campaign = kit.seed.campaign(subject="Hello {{ first_name }}")
    broken = kit.seed.campaign(body_template="{{ (first_name | length) // 0 }}")
    gone = kit.seed.campaign()
    good = [kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i)) for i in range(3)]
    poison = {
        kit.seed.email(campaign, body=None, metadata=["not", "an object"]): (
            "metadata must be a JSON object of contact fields, got list"
        ),
        kit.seed.email(broken, body=None): (
            "campaign body_template: template raised ZeroDivisionError: "
            "integer division or modulo by zero"
        ),
        kit.seed.email(gone): f"campaign {gone} no longer exists",
        kit.seed.email(campaign, body="x" * 3_000_000): (
            "body is 3,000,000 characters; the limit is 100,000 "
            "(a cold email that long is a data error)"
        ),
    }
    kit.seed.delete_campaign(gone)
    pipeline = build_pipeline(make_config(GENERATOR="template"), kit.store, clock=lambda: T0)
    try:
        report = pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()

    assert (report.claimed, report.outcomes) == (7, Counter({"sent": 3, "failed": 4}))
    for email_id, reason in poison.items():
        row = kit.seed.email_row(email_id)
        assert (row["status"], row["error"], row["send_started_at"]) == ("failed", reason, None)
    assert [kit.seed.email_row(i)["status"] for i in good] == ["sent"] * 3
    assert sorted(p.stem for p in (tmp_path / "outbox").iterdir()) == sorted(good)


# -- campaign control in flight (issue 6, item 5) ---------------------------------------


def test_a_paused_campaign_finishes_what_is_in_flight_and_resumes_where_it_stopped(
    kit: Kit,
) -> None:
    campaign = kit.seed.campaign()
    ids = [kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i)) for i in range(5)]
    (in_flight,) = kit.store.claim(WORKER, 1, T0, Pacing())

    kit.seed.set_campaign_status(campaign, "paused")

    assert kit.store.claim(WORKER, 10, T0, Pacing()) == []
    assert kit.store.finish(in_flight, WORKER, SENT, T0)  # the claimed row completes
    kit.store.roll_up(T0, GUARD)
    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["sent_count"], row["completed_at"]) == ("paused", 1, None)

    kit.seed.set_campaign_status(campaign, "sending")

    assert [e.id for e in kit.store.claim(WORKER, 2, T0, Pacing())] == ids[1:3]
    assert [e.id for e in kit.store.claim(WORKER, 10, T0, Pacing())] == ids[3:]


def test_a_cancelled_campaign_leaves_the_rest_unsent_and_status_shows_it(kit: Kit) -> None:
    campaign = kit.seed.campaign(name="Spring")
    for i in range(4):
        kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i))
    first, second = kit.store.claim(WORKER, 2, T0, Pacing())
    kit.store.finish(first, WORKER, SENT, T0)

    kit.seed.set_campaign_status(campaign, "cancelled")

    kit.store.finish(second, WORKER, SENT, T0)
    assert kit.store.claim(WORKER, 10, T0 + timedelta(days=1), Pacing()) == []
    kit.store.roll_up(T0, GUARD)
    (shown,) = kit.store.status(T0)
    assert (shown.campaign_name, shown.campaign_status) == ("Spring", "cancelled")
    # Nothing of it is due: the worker claims no row of a cancelled campaign.
    assert (shown.rows, shown.due_now) == ({"queued": 2, "sent": 2}, 0)
    assert shown.waiting == {"campaign_cancelled": Waiting(rows=2, until=None)}
    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["sent_count"], row["completed_at"]) == ("cancelled", 2, None)


# -- the bounce guard (issue 6, item 6) -------------------------------------------------


def campaign_with(kit: Kit, sent: int, rejected: int, queued: int = 1, **fields: Any) -> str:
    campaign = kit.seed.campaign("sending", **fields)
    plant_many(kit, campaign, sent, "sent", sent_at=DUE)
    plant_many(kit, campaign, rejected, "failed", error=REJECTED)
    plant_many(kit, campaign, queued, "queued")
    return campaign


def test_the_bounce_guard_pauses_a_campaign_past_the_rate_once_and_says_why(kit: Kit) -> None:
    campaign = campaign_with(kit, sent=18, rejected=2, queued=3, name="Spring")

    paused = kit.store.roll_up(T0, GUARD)

    assert paused == [PausedCampaign(campaign, "Spring", guard_reason(2, 20))]
    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["paused_reason"]) == ("paused", guard_reason(2, 20))
    assert (row["sent_count"], row["failed_count"]) == (18, 2)
    assert kit.store.claim(WORKER, 10, T0, Pacing()) == []
    assert kit.store.roll_up(T0, GUARD) == []  # said once, when it happened
    (shown,) = kit.store.status(T0)
    assert (shown.campaign_status, shown.paused_reason, shown.rejected) == (
        "paused",
        guard_reason(2, 20),
        2,
    )


def test_the_bounce_guard_holds_at_the_rate_below_twenty_sends_and_for_other_failures(
    kit: Kit,
) -> None:
    at_the_rate = campaign_with(kit, sent=19, rejected=1)
    too_few_sends = campaign_with(kit, sent=10, rejected=9)
    other_failures = campaign_with(kit, sent=20, rejected=1)
    plant_many(kit, other_failures, 5, "failed", error=AMBIGUOUS)
    plant_many(kit, other_failures, 5, "failed", error=GAVE_UP)
    nothing_left = campaign_with(kit, sent=18, rejected=2, queued=0)

    assert kit.store.roll_up(T0, GUARD) == []

    assert [
        kit.seed.campaign_row(c)["status"]
        for c in (at_the_rate, too_few_sends, other_failures, nothing_left)
    ] == ["sending", "sending", "sending", "completed"]


def test_with_the_guard_off_nothing_is_paused(kit: Kit) -> None:
    campaign = campaign_with(kit, sent=10, rejected=10)

    assert kit.store.roll_up(T0) == []
    assert kit.store.roll_up(T0, BounceGuard(pause_rate=1.0)) == []
    assert kit.seed.campaign_row(campaign)["status"] == "sending"


def test_a_campaign_resumed_after_the_guard_paused_it_is_judged_on_new_sends_only(
    kit: Kit,
) -> None:
    campaign = campaign_with(kit, sent=18, rejected=2, queued=5)
    kit.store.roll_up(T0, GUARD)
    resumed = T0 + timedelta(hours=1)

    kit.seed.set_campaign_status(campaign, "sending")  # an operator resumes it

    assert kit.store.roll_up(resumed, GUARD) == []
    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["paused_reason"]) == ("sending", None)
    assert parse_time(row["guard_reset_at"]) == resumed
    later = resumed + timedelta(minutes=5)
    plant_many(kit, campaign, 19, "sent", sent_at=later, updated_at=later)
    plant(kit, campaign, "failed", error=REJECTED, updated_at=later)
    assert kit.store.roll_up(later, GUARD) == []  # 1 of 20 since the resume
    plant(kit, campaign, "failed", error=REJECTED, updated_at=later)
    assert [p.reason for p in kit.store.roll_up(later, GUARD)] == [guard_reason(2, 21)]


# -- status (issue 7, item 5) --------------------------------------------------------


def test_status_shows_each_campaigns_queue_errors_and_pause(kit: Kit) -> None:
    alpha = kit.seed.campaign("sending", name="Alpha")
    beta = kit.seed.campaign("paused", name="Beta")
    gone = kit.seed.campaign(name="Gone")
    plant(kit, alpha, scheduled_for=T0 - timedelta(minutes=1))
    plant(kit, alpha, scheduled_for=T0)
    plant(kit, alpha, scheduled_for=T0 + timedelta(hours=2))
    plant(  # put back after a transient failure
        kit,
        alpha,
        scheduled_for=T0 + timedelta(hours=1),
        attempts=1,
        error="SparkPost busy (503): Service Unavailable",
        failure_kind="transient",
        updated_at=T0 - timedelta(minutes=10),
    )
    plant(kit, alpha, "sent", sent_at=DUE)
    plant(kit, alpha, "failed", error=AMBIGUOUS, updated_at=T0 - timedelta(minutes=30))
    plant(kit, alpha, "failed", error=REJECTED, updated_at=T0 - timedelta(minutes=5))
    plant(kit, beta)
    orphan_error = f"campaign {gone} no longer exists"
    plant(
        kit,
        gone,
        "failed",
        error=orphan_error,
        failure_kind="campaign_gone",
        updated_at=T0 - timedelta(hours=3),
    )
    kit.seed.delete_campaign(gone)

    missing, first, second = kit.store.status(T0)

    assert missing == CampaignStatus(
        campaign_id=gone,
        campaign_name=None,
        campaign_status=None,
        rows={"failed": 1},
        due_now=0,
        next_scheduled_for=None,
        ambiguous=0,
        rejected=0,
        last_error=orphan_error,
        last_error_at=T0 - timedelta(hours=3),
        paused_reason=None,
        failed_by_kind={"campaign_gone": 1},
    )
    assert first == CampaignStatus(
        campaign_id=alpha,
        campaign_name="Alpha",
        campaign_status="sending",
        rows={"queued": 4, "sent": 1, "failed": 2},
        due_now=2,
        next_scheduled_for=T0 + timedelta(hours=1),
        ambiguous=1,
        rejected=1,
        last_error=REJECTED,
        last_error_at=T0 - timedelta(minutes=5),
        paused_reason=None,
        waiting={"scheduled": Waiting(rows=2, until=T0 + timedelta(hours=1))},
        failed_by_kind={"ambiguous": 1, "rejected": 1},
    )
    # A paused campaign's rows are not due: they wait for it to be resumed.
    assert (second.campaign_name, second.rows, second.due_now) == ("Beta", {"queued": 1}, 0)
    assert second.waiting == {"campaign_paused": Waiting(rows=1, until=None)}


def test_status_of_an_empty_queue_is_empty(kit: Kit) -> None:
    kit.seed.campaign()  # a campaign without rows is not shown

    assert kit.store.status(T0) == []


# -- retry-failed (issue 6, item 7) -----------------------------------------------------


def failures(kit: Kit, campaign: str) -> dict[str, str]:
    """One failed row of each kind, and a sent and a queued row that retry leaves alone."""
    kit.seed.suppress("gone@example.org")
    lease = {"locked_by": WORKER, "locked_at": DUE}
    return {
        "gave_up": plant(kit, campaign, "failed", attempts=3, error=GAVE_UP, **lease),
        "rejected": plant(kit, campaign, "failed", error=REJECTED, send_started_at=DUE, **lease),
        "ambiguous": plant(kit, campaign, "failed", error=AMBIGUOUS, send_started_at=DUE, **lease),
        "suppressed": plant(
            kit,
            campaign,
            "failed",
            to_email=" Gone@Example.org",
            error="recipient Gone@Example.org is on the suppression list",
        ),
        "sent": plant(kit, campaign, "sent", sent_at=DUE),
        "queued": plant(kit, campaign, scheduled_for=T0 + timedelta(days=1)),
    }


def test_failed_rows_tells_what_retry_failed_may_do(kit: Kit) -> None:
    campaign = kit.seed.campaign("completed")
    failures(kit, campaign)

    assert kit.store.failed_rows(campaign) == FailedRows("completed", 2, 1, 1)
    assert kit.store.failed_rows(str(uuid.uuid4())) == FailedRows(None, 0, 0, 0)
    assert kit.store.failed_rows("not-a-campaign-id") == FailedRows(None, 0, 0, 0)


def test_retry_failed_requeues_what_may_be_retried_due_now_with_a_clean_slate(kit: Kit) -> None:
    campaign = kit.seed.campaign("completed")
    rows = failures(kit, campaign)
    now = T0 + timedelta(hours=1)

    assert kit.store.retry_failed(campaign, False, now) == 2

    for name in ("gave_up", "rejected"):
        row = kit.seed.email_row(rows[name])
        assert (row["status"], row["attempts"], row["error"], row["scheduled_for"]) == (
            "queued",
            0,
            None,
            now,
        )
        assert (row["locked_by"], row["locked_at"], row["send_started_at"]) == (None, None, None)
    expected = {"ambiguous": "failed", "suppressed": "failed", "sent": "sent", "queued": "queued"}
    assert {name: kit.seed.email_row(rows[name])["status"] for name in expected} == expected
    assert kit.seed.email_row(rows["ambiguous"])["error"] == AMBIGUOUS
    assert kit.seed.campaign_row(campaign)["status"] == "sending"  # completed, and back
    claimed = kit.store.claim(WORKER, 10, now, Pacing())
    assert sorted(e.id for e in claimed) == sorted([rows["gave_up"], rows["rejected"]])


def test_retry_failed_requeues_ambiguous_rows_only_when_asked_and_suppressed_never(
    kit: Kit,
) -> None:
    campaign = kit.seed.campaign("completed")
    rows = failures(kit, campaign)
    kit.store.retry_failed(campaign, False, T0)

    assert kit.store.retry_failed(campaign, False, T0) == 0
    assert kit.store.retry_failed(campaign, True, T0) == 1

    assert kit.seed.email_row(rows["ambiguous"])["status"] == "queued"
    assert kit.seed.email_row(rows["suppressed"])["status"] == "failed"
    assert kit.store.failed_rows(campaign) == FailedRows("sending", 0, 0, 1)


def test_retry_failed_changes_a_campaigns_status_only_from_completed(kit: Kit) -> None:
    paused = kit.seed.campaign("paused")
    plant(kit, paused, "failed", error=GAVE_UP)
    nothing_to_retry = kit.seed.campaign("completed")
    plant(kit, nothing_to_retry, "failed", error=AMBIGUOUS)

    assert kit.store.retry_failed(paused, False, T0) == 1
    assert kit.store.retry_failed(nothing_to_retry, False, T0) == 0

    assert kit.seed.campaign_row(paused)["status"] == "paused"
    assert kit.seed.campaign_row(nothing_to_retry)["status"] == "completed"
    assert kit.store.retry_failed(str(uuid.uuid4()), True, T0) == 0


# -- the schema of each store ---------------------------------------------------------


def test_an_embedded_file_made_before_these_columns_gets_them_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # what the previous version created
        db.executescript(sql.read("sqlite/schema.sql"))
        campaign = dict.fromkeys(("subject", "body_template", "ai_prompt", "from_name", "reply_to"))
        db.execute(
            statement("sqlite", "insert_campaign"),
            {**campaign, "id": "c1", "name": "Old", "status": "paused"},
        )
    db.close()

    stores = [SqliteStore(path), SqliteStore(path)]  # two processes, one after the other
    for store in stores:
        store.close()

    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute(statement("sqlite", "campaign_row"), {"id": "c1"}).fetchone())
    db.close()
    assert (row["name"], row["paused_reason"], row["guard_reset_at"]) == ("Old", None, None)


def test_0003_applies_over_version_2_and_the_previous_workers_calls_keep_working(
    pg_fresh_dsn: str,
) -> None:
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for migration in schema.migrations()[:2]:
            conn.execute(migration.text)
    seed = PostgresSeeder(pg_fresh_dsn)
    seed.email(seed.campaign("sending"))
    seed.close()

    assert [m.file for m in migrate.apply(pg_fresh_dsn)] == [
        m.file for m in schema.migrations()[2:]
    ]
    before = run(pg_fresh_dsn, "schema_snapshot")
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for migration in schema.migrations()[2:]:  # applied again by hand: idempotent
            conn.execute(migration.text)

    assert run(pg_fresh_dsn, "schema_snapshot") == before
    # What a worker of the version before 0003 calls, and still may after it.
    previous = execute(
        pg_fresh_dsn, "select cr_status() as status, pg_typeof(cr_roll_up(now()))::text as roll_up"
    )
    assert previous is not None
    assert [row["status"] for row in previous["status"]] == ["queued"]
    assert previous["roll_up"] == "void"


def test_no_routine_of_the_worker_is_executable_by_public(pg_db: str) -> None:
    assert run(pg_db, "public_routines") is None
