"""Issue 15's done-when with real processes: workers SIGKILLed mid-send leave ambiguous
rows, and SparkPost's events settle each by what SparkPost really received.

Workers are killed at two points of test_crash's (tests/reliability/test_crash.py):
`during_post`, SparkPost accepted the transmission and its answer never reached the
worker, and `before_post`, the worker wrote `send_started_at` and its POST never
reached SparkPost. A worker started as `python -m campaign_runner` then recovers the
dead workers' rows (ambiguous, their send having started), sends the rest and polls
the events itself (its `events_poll` duty). The events of the last minute are not
readable yet (SparkPost's `to` lags a minute), so the test then polls once more
in-process with a clock an hour ahead, as a later poll would: every `during_post`
row becomes `sent`, every `before_post` row `not_accepted`, and no row was posted
twice.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from campaign_runner.events.client import EventsClient
from campaign_runner.events.poll import poll_once
from campaign_runner.senders.sparkpost import Backoff
from campaign_runner.stores.postgres import PostgresStore
from tests.fakes.sparkpost_events import ManualClock

from .conftest import SPARKPOST_KEY, Rig
from .test_crash import POINTS, Kill, held_row, kill_at

ROWS = 16
KILLS = 6
SETTLE = 1800  # AMBIGUOUS_SETTLE_SECONDS' default
QUICK = Backoff(attempts=3, initial=0.01, maximum=0.02, jitter=0.01)
AT = {point.name: point for point in POINTS}


def facts(dsn: str) -> dict[str, dict]:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        return {
            row["id"]: row
            for row in conn.execute(
                "select id::text as id, status, failure_kind, error, settled_note, "
                "delivered_at, provider_message_id from email_queue"
            )
        }


def test_killed_workers_ambiguous_rows_settle_by_what_sparkpost_received(rig: Rig) -> None:
    ids = rig.stage([False] * ROWS)
    settings = {"BATCH_SIZE": "1", "CONCURRENCY": "1", "MAX_ATTEMPTS": "10"}
    points = ["during_post", "before_post"] * (KILLS // 2)
    random.Random(15).shuffle(points)
    kills = [
        kill_at(rig, settings, Kill(n, AT[name], random.Random(n).randrange(2)))
        for n, name in enumerate(points)
    ]
    caught = {held_row(kill, ids, rig.sparkpost): kill.point.name for kill in kills}
    assert len(caught) == KILLS

    with rig.start(**settings, EVENTS_POLL_SECONDS="60") as drainer:
        drainer.log.wait_for(lambda e: e["event"] == "cycle" and rig.unsettled() == 0, 60)
        drainer.log.wait_for(lambda e: e["event"] == "events_polled", 60)
        assert drainer.stop() == 0, drainer.log.tail()
    before = facts(rig.queue_dsn)
    assert {before[row]["failure_kind"] for row in caught} == {"ambiguous"}

    # SparkPost's deliveries follow its injections by a second: wait until they happened.
    last = max(datetime.fromisoformat(e["timestamp"]) for e in rig.sparkpost.events.all_events())
    while datetime.now(UTC) <= last:
        time.sleep(0.1)
    later = ManualClock(datetime.now(UTC) + timedelta(hours=1))
    store = PostgresStore(rig.queue_dsn)
    try:
        with EventsClient(rig.sparkpost.url, SPARKPOST_KEY, backoff=QUICK) as client:
            report = poll_once(store, client, "test", later, SETTLE)
            later.advance(minutes=10)
            again = poll_once(store, client, "test", later, SETTLE)
    finally:
        store.close()

    rows = facts(rig.queue_dsn)
    received = {p.email_id for p in rig.sparkpost.posts if p.status == 200}
    posts = Counter(p.email_id for p in rig.sparkpost.posts if p.email_id is not None)
    assert max(posts.values()) == 1, "no row posted twice"
    for row, point in caught.items():
        if point == "during_post":
            assert row in received
            assert (rows[row]["status"], rows[row]["failure_kind"]) == ("sent", None)
            assert rows[row]["settled_note"].startswith("settled as sent: SparkPost reported")
        else:
            assert row not in received
            assert (rows[row]["status"], rows[row]["failure_kind"]) == ("failed", "not_accepted")
            assert rows[row]["error"].startswith("not accepted: SparkPost reported no event")
    assert {r for r, f in rows.items() if f["status"] == "sent"} == received
    undelivered = {r: caught.get(r) for r in received if rows[r]["delivered_at"] is None}
    assert undelivered == {}
    assert report.counts["settled_sent"] == points.count("during_post")
    assert report.not_accepted == points.count("before_post")
    assert again.counts["stored"] == 0 and facts(rig.queue_dsn) == rows
