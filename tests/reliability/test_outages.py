"""Outages in the middle of a run of a worker process: Postgres refusing
connections, SparkPost unreachable and then answering 503. The worker must say so,
back off (doubling from POLL_INTERVAL_SECONDS up to MAX_BACKOFF_SECONDS), stay up,
and carry on when the service returns, without losing a row, failing one, or
sending one twice.

"Minutes" of outage are compressed into a short poll interval and back-off cap;
what is proved is the shape: many cycles in the outage, none of which costs a
row anything.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fakes.tcp_proxy import DOWN, UP, Hold

from .conftest import Rig
from .workers import Event, Log, Worker

ROWS = 12
POLL = 0.05
CAP = 0.2
CAPPED_BACKOFFS = 3  # back-offs at the cap before the service returns: it stays there


def backing_off(log: Log, reason: str, count: int, start: int = 0) -> int:
    """Wait until the worker has backed off `count` times at the cap for `reason`;
    the index of the last of them."""
    seen = 0

    def capped(event: Event) -> bool:
        nonlocal seen
        if event["event"] == "backing_off" and reason in event["reason"]:
            seen += event["seconds"] == CAP
        return seen >= count

    index, _ = log.wait_for(capped, start=start)
    return index


def drained(worker: Worker, rig: Rig, start: int = 0) -> None:
    worker.log.wait_for(
        lambda e: e["event"] == "cycle" and rig.unsettled() == 0, timeout=60, start=start
    )


def assert_backoff_doubles_up_to_the_cap(log: Log) -> None:
    """Each stretch of trouble waits POLL, 2 POLL, 4 POLL ... then CAP, CAP, ...; a good
    cycle ends the stretch, and the next one starts again at POLL."""
    waits = [event["seconds"] for event in log.named("backing_off")]
    for before, wait in zip([0.0, *waits], waits, strict=False):
        assert wait in (pytest.approx(POLL), pytest.approx(min(2 * before, CAP))), waits
    assert max(waits) == CAP


def assert_every_row_sent_once(rig: Rig, ids: list[str]) -> None:
    rows, sparkpost = rig.rows(), rig.sparkpost
    assert set(rows) == set(ids)
    unsent = [row for row in rows.values() if row["status"] != "sent"]
    assert not unsent, unsent
    accepted = Counter(post.email_id for post in sparkpost.posts if post.status == 200)
    assert accepted == dict.fromkeys(ids, 1)
    for row_id, row in rows.items():
        (post,) = [p for p in sparkpost.posts_for(row_id) if p.status == 200]
        assert row["provider_message_id"] == post.answer["results"]["id"]


def sparkpost_accepts_then_postgres_goes(worker: Worker, answer: Hold, rig: Rig) -> str:
    """Once SparkPost has accepted an email (`answer` held on its way back), Postgres
    goes away, every connection cut and new ones refused; then the worker learns that
    the email left, and cannot write it down. SparkPost's id for the email."""
    assert answer.reached.wait(60), worker.log.tail()
    transmission = answer.find(rb'"id": "(\d+)"').group(1).decode()
    rig.postgres_proxy.refuse()
    rig.sparkpost_proxy.release(answer)
    return transmission


def test_postgres_refusing_connections_mid_run(rig: Rig) -> None:
    ids = rig.stage([False] * ROWS)
    # The worst moment: SparkPost has accepted the third email, and the answer is on its way.
    answer = rig.sparkpost_proxy.hold(b"HTTP/1.1 200", DOWN, skip=2)
    with rig.spawn(
        BATCH_SIZE="4",
        CONCURRENCY="2",
        POLL_INTERVAL_SECONDS=str(POLL),
        MAX_BACKOFF_SECONDS=str(CAP),
    ) as worker:
        transmission = sparkpost_accepts_then_postgres_goes(worker, answer, rig)
        last = backing_off(worker.log, "Postgres at", CAPPED_BACKOFFS)
        assert worker.alive
        rig.postgres_proxy.restore()
        drained(worker, rig, start=last)
        assert worker.stop() == 0, worker.log.tail()

    # The email sent during the outage is recorded as sent, with SparkPost's id.
    (post,) = [p for p in rig.sparkpost.posts if p.answer["results"]["id"] == transmission]
    assert rig.rows()[post.email_id]["status"] == "sent"
    assert_every_row_sent_once(rig, ids)
    assert_backoff_doubles_up_to_the_cap(worker.log)
    reasons = {event["reason"] for event in worker.log.named("backing_off")}
    assert all("Postgres at postgres@127.0.0.1" in reason for reason in reasons), reasons
    assert any("Connection refused" in reason for reason in reasons), reasons


def test_sparkpost_unreachable_costs_no_row_an_attempt(rig: Rig) -> None:
    ids = rig.stage([False] * ROWS)
    settings = dict(
        BATCH_SIZE="4",
        CONCURRENCY="1",  # one email at a time, so that SparkPost can go between two sends
        POLL_INTERVAL_SECONDS=str(POLL),
        MAX_BACKOFF_SECONDS=str(CAP),
        SPARKPOST_ATTEMPTS="1",
        # Were an outage the row's fault, two tries without delay would fail it.
        RETRY_DELAY_SECONDS="0",
        MAX_ATTEMPTS="2",
    )
    # SparkPost goes away while the one email thread records the fifth send's start: no POST
    # is in flight to be cut half-way (that one would rightly fail as ambiguous).
    fifth = rig.postgres_proxy.hold(b"cr_start_send", UP, skip=4)
    with rig.spawn(**settings) as worker:
        assert fifth.reached.wait(60), worker.log.tail()
        rig.sparkpost_proxy.refuse()
        rig.postgres_proxy.release(fifth)
        last = backing_off(worker.log, "SparkPost not reached", CAPPED_BACKOFFS)

        rig.sparkpost_proxy.restore()
        drained(worker, rig, start=last)
        assert worker.alive
        assert worker.stop() == 0, worker.log.tail()

    assert_every_row_sent_once(rig, ids)
    # No attempt was spent on the outage: every row was sent on its first counted try.
    assert {row["attempts"] for row in rig.rows().values()} == {1}
    emails = worker.log.named("email")
    assert not [e for e in emails if e["status"] == "failed"]
    released = [e for e in emails if e["status"] == "queued"]
    assert released and all(e["error"].startswith(("system: ", "released: ")) for e in released)
    assert_backoff_doubles_up_to_the_cap(worker.log)


def test_once_writes_a_sent_email_down_if_the_database_returns_before_it_must_exit(
    rig: Rig,
) -> None:
    ids = rig.stage([False])
    answer = rig.sparkpost_proxy.hold(b"HTTP/1.1 200", DOWN)
    with rig.start("--once", SHUTDOWN_TIMEOUT_SECONDS="60", MAX_BACKOFF_SECONDS=str(CAP)) as worker:
        sparkpost_accepts_then_postgres_goes(worker, answer, rig)
        # A run of cron's would end here, leaving a sent email to turn ambiguous.
        worker.log.wait_for(lambda e: e["event"] == "recording_outcomes", timeout=60)
        assert worker.alive
        rig.postgres_proxy.restore()
        assert worker.exited.wait(60), worker.log.tail()

    # Still 1: the database was out during the run (its roll-up waits for the next).
    assert worker.code == 1, worker.log.tail()
    assert worker.log.named("store_unavailable")
    assert_every_row_sent_once(rig, ids)
    assert not worker.log.named("outcomes_not_recorded")


def test_once_that_cannot_write_a_sent_email_down_exits_1_saying_what_was_sent(
    rig: Rig,
) -> None:
    (row,) = rig.stage([False])
    answer = rig.sparkpost_proxy.hold(b"HTTP/1.1 200", DOWN)
    with rig.start("--once", SHUTDOWN_TIMEOUT_SECONDS="2", MAX_BACKOFF_SECONDS=str(CAP)) as worker:
        sparkpost_accepts_then_postgres_goes(worker, answer, rig)
        assert worker.exited.wait(60), worker.log.tail()
    rig.postgres_proxy.restore()

    assert worker.code == 1, worker.log.tail()
    assert worker.log.named("recording_outcomes")  # it did try again before giving up
    (post,) = rig.sparkpost.posts
    (report,) = worker.log.named("outcomes_not_recorded")
    assert report["level"] == "error"
    assert report["emails"] == [
        {
            "email_id": row,
            "status": "sent",
            "provider_message_id": post.answer["results"]["id"],
            "error": None,
        }
    ]
    stored = rig.rows()[row]
    assert stored["status"] == "processing" and stored["send_started_at"] is not None


def test_a_worker_stopped_while_the_database_is_out_reports_the_outcomes_it_holds(
    rig: Rig,
) -> None:
    (row,) = rig.stage([False])
    answer = rig.sparkpost_proxy.hold(b"HTTP/1.1 200", DOWN)
    with rig.spawn(
        SHUTDOWN_TIMEOUT_SECONDS="3",
        POLL_INTERVAL_SECONDS=str(POLL),
        MAX_BACKOFF_SECONDS=str(CAP),
    ) as worker:
        sparkpost_accepts_then_postgres_goes(worker, answer, rig)
        backing_off(worker.log, "Postgres at", 1)
        # Tried until just before SHUTDOWN_TIMEOUT_SECONDS ends the process, then reported.
        assert worker.stop() == 1, worker.log.tail()
    rig.postgres_proxy.restore()

    (post,) = rig.sparkpost.posts
    (report,) = worker.log.named("outcomes_not_recorded")
    assert [(e["email_id"], e["status"], e["provider_message_id"]) for e in report["emails"]] == [
        (row, "sent", post.answer["results"]["id"])
    ]
    assert not worker.log.named("shutdown_timeout")
    assert worker.log.named("worker_stopped")
