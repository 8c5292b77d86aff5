"""`campaign-runner events`, as cron runs it: one poll, a one-line summary, and the
exit code says whether it ran (0), could not reach or was refused (1), or has
nothing to read from (2)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.sparkpost_events import raw_event
from tests.fakes.sparkpost_server import FakeSparkPost

from .conftest import rows, run

KEY = "sp-events-command-0123456789"
CAMPAIGN = "11111111-2222-3333-4444-555555555555"
ROW = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TOOK = "aaaaaaaa-bbbb-cccc-dddd-000000000001"  # ambiguous; SparkPost reports its injection
NEVER = "aaaaaaaa-bbbb-cccc-dddd-000000000002"  # ambiguous; SparkPost never reports it


@pytest.fixture
def sparkpost() -> Iterator[FakeSparkPost]:
    with FakeSparkPost(KEY) as server:
        yield server


def settings(sparkpost: FakeSparkPost, **more: str) -> dict[str, str]:
    return {
        "SENDER": "sparkpost",
        "SPARKPOST_API_KEY": KEY,
        "SPARKPOST_API_URL": sparkpost.url,
        **more,
    }


def test_one_poll_lands_the_events_and_the_next_finds_nothing_new(
    tmp_path: Path, sparkpost: FakeSparkPost
) -> None:
    store = SqliteStore(tmp_path / "queue.db")
    store.stage(
        {"id": CAMPAIGN, "name": "Spring", "status": "sending"},
        [
            {"id": ROW, "to_email": "ana@example.org", "status": "sent"},
            {"id": TOOK, "to_email": "bob@example.org", "status": "failed"},
            {"id": NEVER, "to_email": "cy@example.org", "status": "failed"},
        ],
    )
    store.close()
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.execute(
            "UPDATE email_queue SET failure_kind = 'ambiguous', error = 'ambiguous: lost', "
            "send_started_at = ? WHERE status = 'failed'",
            (two_hours_ago,),
        )
    db.close()
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    sparkpost.events.add(raw_event("delivery", ROW, ten_minutes_ago), at=ten_minutes_ago)
    took = raw_event("injection", TOOK, ten_minutes_ago, to="bob@example.org")
    sparkpost.events.add(took, at=ten_minutes_ago)

    first = run(tmp_path, "events", **settings(sparkpost))
    second = run(tmp_path, "events", **settings(sparkpost))

    assert first.returncode == 0, first.stderr
    (line,) = first.stdout.splitlines()
    assert line.startswith("events: 2 stored from ") and "0 for no row of ours" in line
    assert line.endswith("ambiguous sends: 1 settled as sent, 1 not accepted")
    found = {row["id"]: row for row in rows(tmp_path)}
    assert found[ROW]["delivered_at"] is not None
    assert (found[TOOK]["status"], found[NEVER]["failure_kind"]) == ("sent", "not_accepted")
    assert second.returncode == 0 and second.stdout.startswith("events: 0 stored from ")

    shown = run(tmp_path, "status", "--json")
    text = run(tmp_path, "status")
    (campaign,) = json.loads(shown.stdout)["campaigns"]
    assert json.loads(shown.stdout)["version"] == 1
    assert (campaign["delivered"], campaign["opened"], campaign["bounced"]) == (1, 0, 0)
    assert campaign["rates"] == {
        "delivered": 0.5,  # of the two sent: ana, and bob's settled send
        "opened": 0.0,
        "clicked": 0.0,
        "bounced": 0.0,
        "complained": 0.0,
        "unsubscribed": 0.0,
    }
    assert (campaign["settled_sent"], campaign["not_accepted"], campaign["ambiguous"]) == (1, 1, 0)
    assert "    reported: 1 delivered (50.0%), 0 opened (0.0%)" in text.stdout
    assert (
        "    ambiguous sends: 1 settled as sent, 0 in doubt, 1 not accepted by SparkPost "
        "(retry-failed requeues those)"
    ) in text.stdout


def test_a_refused_key_is_one_line_and_exit_1(tmp_path: Path, sparkpost: FakeSparkPost) -> None:
    sparkpost.events.grant = False

    done = run(tmp_path, "events", **settings(sparkpost))

    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("campaign-runner: events: ") and "Events Search: Read-Only" in line
    assert KEY not in done.stderr


def test_an_unreachable_store_is_exit_1(tmp_path: Path, sparkpost: FakeSparkPost) -> None:
    done = run(
        tmp_path,
        "events",
        **settings(sparkpost, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none"),
    )

    assert done.returncode == 1 and "store unavailable" in done.stderr
    assert sparkpost.events.requests == []


def test_without_sparkpost_there_is_nothing_to_read(tmp_path: Path) -> None:
    done = run(tmp_path, "events", SENDER="outbox")

    assert done.returncode == 2
    assert "SENDER=outbox gets no delivery reports back" in done.stderr
