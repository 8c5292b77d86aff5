"""A campaign's own window opens even when the worker's is closed (a campaign in
another time zone): the worker wakes for it and sends that campaign's steps, and
nothing else; a campaign without a window of its own waits for the worker's. Real
processes (`--once` and the loop) on SQLite."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.worker_process import WorkerProcess
from campaign_runner.config import DAY_NAMES
from campaign_runner.stores.sqlite import SqliteStore
from tests.reliability.workers import ROOT
from tests.stores.kits import Seeder
from tests.stores.sequence_seed import lead, lead_row, sequence_campaign
from tests.stores.sqlite_kit import SqliteSeeder

NOW = datetime.now(UTC)
# Neither today nor tomorrow (UTC): the worker's own window stays closed.
CLOSED_DAYS = DAY_NAMES[(NOW.weekday() + 2) % 7]
ALL_DAY = {"send_time_start": "00:00", "send_time_end": "00:00", "timezone": "UTC"}


def settings(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "SENDER": "outbox",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "GENERATOR": "template",
        "TIMEZONE": "UTC",
        "WORK_DAYS": CLOSED_DAYS,
        "DOMAIN_MIN_INTERVAL_SECONDS": "0",
        "HEARTBEAT_FILE": str(tmp_path / "beat"),
        "LOCK_FILE": str(tmp_path / "lock"),
    }


def seeded(tmp_path: Path, send_days: list[str]) -> tuple[Seeder, str, str]:
    """A lead due in a sequence campaign with a window of its own (on `send_days`), and
    a due row of a campaign without one. Their ids."""
    path = tmp_path / "queue.db"
    SqliteStore(path).close()
    seed = SqliteSeeder(path)
    steps = sequence_campaign(seed, [{}], send_days=send_days, **ALL_DAY)
    one = lead(seed, steps, 1, created_at=NOW - timedelta(hours=1))
    plain = seed.campaign(status="scheduled")
    row = seed.email(plain, scheduled_for=NOW - timedelta(hours=1))
    return seed, one, row


def once(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "campaign_runner", "--once"],
        env=settings(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_once_sends_a_campaign_in_its_own_window_while_the_workers_is_closed(
    tmp_path: Path,
) -> None:
    seed, one, row = seeded(tmp_path, list(DAY_NAMES))

    once(tmp_path)  # dispatches the step, then claims it: bound to the campaign's window

    (step,) = lead_row(seed, one)["rows"]
    assert step["status"] == "sent" and step["send_before"] is not None
    assert seed.email_row(row)["status"] == "queued"  # waits for the worker's window
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    seed.close()


def test_once_with_every_window_closed_sends_nothing(tmp_path: Path) -> None:
    seed, one, row = seeded(tmp_path, [CLOSED_DAYS])

    done = once(tmp_path)

    assert "window_closed" in done.stderr
    assert lead_row(seed, one)["rows"] == []
    assert seed.email_row(row)["status"] == "queued"
    seed.close()


def test_the_loop_wakes_for_a_campaigns_own_window(tmp_path: Path) -> None:
    seed, one, row = seeded(tmp_path, list(DAY_NAMES))
    environ = {**settings(tmp_path), "POLL_INTERVAL_SECONDS": "0.2", "LOG_FORMAT": "json"}
    environ["SEQUENCE_DISPATCH_SECONDS"] = "0.2"
    worker = WorkerProcess(environ, tmp_path / "run")
    try:
        worker.started_at()
        deadline = time.monotonic() + 30
        while not [r for r in lead_row(seed, one)["rows"] if r["status"] == "sent"]:
            assert time.monotonic() < deadline, worker.log_path.read_text()
            time.sleep(0.1)
        time.sleep(1)  # a few more cycles: the plain campaign's row still waits
    finally:
        code, _ = worker.stop()
    assert code == 0
    assert seed.email_row(row)["status"] == "queued"
    # The loop's own cycle sent it, with the worker's window closed all along.
    assert any(e.get("sent") for e in worker.events("cycle")), worker.log_path.read_text()
    seed.close()
