"""Stop signals: the first finishes what is in flight, the second exits at once."""

from __future__ import annotations

import signal
import time

from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.sparkpost_server import FakeSparkPost, Reply
from tests.fixtures.embedded import campaign, email_row

ROWS = 600


def stage_many(path) -> list[str]:
    store = SqliteStore(path / "queue.db")
    rows = [email_row(to_email=f"p{i}@example.org") for i in range(ROWS)]
    store.stage(campaign(), rows)
    store.close()
    return [r["id"] for r in rows]


def wait_for_first_eml(path, process) -> None:
    deadline = time.monotonic() + 60
    outbox = path / "outbox"
    while time.monotonic() < deadline and process.poll() is None:
        if outbox.exists() and any(p.suffix == ".eml" for p in outbox.iterdir()):
            return
        time.sleep(0.01)
    raise AssertionError("the worker sent nothing")


def test_sigterm_finishes_in_flight_rows_and_leaves_none_processing(cli) -> None:
    ids = stage_many(cli.path)
    worker = cli.spawn(BATCH_SIZE="1000", CONCURRENCY="4")
    wait_for_first_eml(cli.path, worker)
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err

    rows = {r["id"]: r for r in cli.rows()}
    assert set(rows) == set(ids)
    statuses = {r["status"] for r in rows.values()}
    assert "processing" not in statuses
    sent = {i for i, r in rows.items() if r["status"] == "sent"}
    released = {i for i, r in rows.items() if r["status"] == "queued"}
    assert sent and released, "the signal should land mid-batch"
    assert sent | released == set(ids)
    # Exactly the sent rows have a message, and a released row has its attempt given back.
    assert {p.stem for p in (cli.path / "outbox").glob("*.eml")} == sent
    assert all(rows[i]["attempts"] == 0 and rows[i]["locked_by"] is None for i in released)
    assert '"event": "stopping"' in err and '"event": "worker_stopped"' in err


def test_a_second_signal_exits_at_once(cli) -> None:
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(), [email_row()])
    store.close()
    with FakeSparkPost("sp-key-0123456789") as sparkpost:
        sparkpost.script(Reply.slow(60))  # in flight far longer than the test waits
        worker = cli.spawn(
            SENDER="sparkpost",
            SPARKPOST_API_KEY="sp-key-0123456789",
            SPARKPOST_API_URL=sparkpost.url,
            SPARKPOST_TIMEOUT_SECONDS="120",
            SHUTDOWN_TIMEOUT_SECONDS="600",
        )
        deadline = time.monotonic() + 60
        while sparkpost.max_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sparkpost.max_in_flight == 1
        worker.send_signal(signal.SIGTERM)
        # The first signal waits for the email in flight; a second one does not.
        for line in iter(worker.stderr.readline, ""):
            if '"event": "stopping"' in line:
                break
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert worker.returncode == 128 + signal.SIGTERM
    # The row stays `processing` with send_started_at set: stale recovery will mark it
    # ambiguous, because the POST may have gone through.
    (row,) = cli.rows()
    assert row["status"] == "processing" and row["send_started_at"]
