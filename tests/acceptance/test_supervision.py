"""What supervisors see: systemd notifications, the heartbeat, and the `--once` lock."""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from campaign_runner import once_lock
from campaign_runner.config import DAY_NAMES
from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.embedded import campaign, email_row


def test_the_loop_sends_ready_watchdog_and_stopping(cli, tmp_path: Path) -> None:
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(), [email_row()])
    store.close()
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(30)
        worker = cli.spawn(
            NOTIFY_SOCKET=address,
            WATCHDOG_USEC="200000",
            POLL_INTERVAL_SECONDS="0.1",
            HEARTBEAT_FILE=str(tmp_path / "beat"),
        )
        received = [listener.recv(100).decode()]
        while received.count("WATCHDOG=1") < 3:
            received.append(listener.recv(100).decode())
        worker.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in received:
            received.append(listener.recv(100).decode())
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert received[0] == "READY=1"
    assert set(received) == {"READY=1", "WATCHDOG=1", "STOPPING=1"}
    assert (tmp_path / "beat").exists()
    assert [r["status"] for r in cli.rows()] == ["sent"]


def test_health_follows_the_heartbeat(cli, tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    missing = cli.run("health", HEARTBEAT_FILE=str(beat))
    assert missing.returncode == 1 and "does not exist" in missing.stdout
    beat.touch()
    assert cli.run("health", HEARTBEAT_FILE=str(beat)).returncode == 0
    stale = time.time() - 3 * 60 - 61  # three missed 60 s polls and a minute
    os.utime(beat, (stale, stale))
    result = cli.run("health", HEARTBEAT_FILE=str(beat))
    assert result.returncode == 1 and "unhealthy: last heartbeat" in result.stdout
    # Unset (or empty, as a copied .env.example may leave it): the default, in the working
    # directory, where the worker run from the same directory touches it.
    assert cli.run("health", HEARTBEAT_FILE="").returncode == 1
    (cli.path / "campaign-runner.heartbeat").touch()
    assert cli.run("health").returncode == 0
    assert cli.run("health", HEARTBEAT_FILE="").returncode == 0


def test_an_overlapping_once_run_says_so_and_exits_0(cli, tmp_path: Path) -> None:
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(), [email_row()])
    store.close()
    lock = tmp_path / "run.lock"
    with once_lock.held(lock) as mine:
        assert mine
        result = cli.run("--once", LOCK_FILE=str(lock))
    assert result.returncode == 0, result.stderr
    assert '"event": "once_skipped"' in result.stderr
    assert [r["status"] for r in cli.rows()] == ["queued"]
    # Once the other run is gone, the lock is free again.
    assert cli.run("--once", LOCK_FILE=str(lock)).returncode == 0
    assert [r["status"] for r in cli.rows()] == ["sent"]


def test_outside_the_window_the_worker_sends_nothing_but_keeps_pinging(cli, tmp_path: Path) -> None:
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(), [email_row()])
    store.close()
    # Neither today nor tomorrow (UTC), so the window cannot open while this runs.
    closed = DAY_NAMES[(datetime.now(UTC).weekday() + 2) % 7]
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(30)
        worker = cli.spawn(
            NOTIFY_SOCKET=address,
            WATCHDOG_USEC="200000",
            WORK_DAYS=closed,
            TIMEZONE="UTC",
        )
        received = [listener.recv(100).decode()]
        while received.count("WATCHDOG=1") < 4:
            received.append(listener.recv(100).decode())
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert '"event": "window_closed"' in err and '"event": "cycle"' not in err
    assert [r["status"] for r in cli.rows()] == ["queued"]


def test_a_failing_duty_is_logged_and_the_worker_goes_on_sending(cli, tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    worker = cli.spawn(POLL_INTERVAL_SECONDS="0.1", HEARTBEAT_FILE=str(beat))
    deadline = time.monotonic() + 30
    while not beat.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # From now on the heartbeat cannot be written: a link into a folder that does not exist.
    (tmp_path / "link").symlink_to(tmp_path / "missing" / "beat")
    os.replace(tmp_path / "link", beat)
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(), [email_row()])
    store.close()
    while [r["status"] for r in cli.rows()] != ["sent"] and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert [r["status"] for r in cli.rows()] == ["sent"]
    failed = [line for line in err.splitlines() if '"event": "duty_failed"' in line]
    assert failed and all('"duty": "heartbeat"' in line for line in failed)
