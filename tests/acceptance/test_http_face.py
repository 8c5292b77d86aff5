"""The HTTP face of a real worker process: HTTP_LISTEN serves while the loop or `--once`
runs, `/metrics` counts what the pipeline did, and the server ends with the worker."""

from __future__ import annotations

import signal
import socket
import time
from email import message_from_bytes

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.embedded import campaign, email_row
from tests.fixtures.postgres import free_port

SECRET = "worker-http-secret-0123456789"
BASE_URL = "https://mail.example.com/unsubscribe"


def stage_one(path) -> str:
    store = SqliteStore(path / "queue.db")
    row = email_row(to_email="ana.ruiz@example.org")
    store.stage(campaign(), [row])
    store.close()
    return row["id"]


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def wait_for_sent(url: str, process) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The metrics once the pipeline has counted one sent email and ended the cycle that
    sent it (a cycle's duration is counted at its end, after its emails)."""
    key = ("campaign_runner_emails_total", (("failure_kind", ""), ("outcome", "sent")))
    cycles = ("campaign_runner_cycle_duration_seconds_count", ())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            found = samples(url)
        except httpx.TransportError:  # not listening yet
            found = {}
        if found.get(key) and found.get(cycles):
            return found
        time.sleep(0.05)
    raise AssertionError(f"no sent email counted (worker exit code {process.poll()})")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_worker_serves_metrics_and_health_until_sigterm(cli) -> None:
    email_id = stage_one(cli.path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    worker = cli.spawn(
        HTTP_LISTEN=f"127.0.0.1:{port}",
        UNSUBSCRIBE_BASE_URL=BASE_URL,
        UNSUBSCRIBE_SECRET=SECRET,
        POLL_INTERVAL_SECONDS="0.2",
    )
    try:
        found = wait_for_sent(url, worker)
        health = httpx.get(f"{url}/healthz", timeout=10)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)

    assert worker.returncode == 0, err
    emails = {k: v for k, v in found.items() if k[0] == "campaign_runner_emails_total"}
    assert emails == {
        ("campaign_runner_emails_total", (("failure_kind", ""), ("outcome", "sent"))): 1
    }
    assert found["campaign_runner_claimed_rows_total", ()] == 1
    assert found["campaign_runner_claims_total", ()] >= 1
    assert found["campaign_runner_cycle_duration_seconds_count", ()] >= 1
    assert found["campaign_runner_send_seconds_count", (("sender", "outbox"),)] == 1
    assert found["campaign_runner_queue_due", ()] == 0  # the one row went out
    assert health.status_code == 200 and health.text.startswith("healthy")
    # The row really went through the outbox, with a link to this endpoint's page.
    assert [r["status"] for r in cli.rows()] == ["sent"]
    eml = message_from_bytes((cli.path / "outbox" / f"{email_id}.eml").read_bytes())
    assert eml["List-Unsubscribe"].startswith(f"<{BASE_URL}/u/")
    assert f'"port": {port}' in err and '"event": "http_listening"' in err
    assert refused(port)  # the server stopped with the worker


def test_once_serves_while_it_runs_and_stops_with_it(cli) -> None:
    stage_one(cli.path)
    port = free_port()

    done = cli.run("--once", HTTP_LISTEN=f"127.0.0.1:{port}")

    assert done.returncode == 0, done.stderr
    assert f'"port": {port}' in done.stderr and '"event": "http_listening"' in done.stderr
    assert [r["status"] for r in cli.rows()] == ["sent"]
    assert refused(port)


@pytest.mark.parametrize("args", [(), ("--once",)])
def test_a_port_taken_is_a_configuration_error(cli, args: tuple[str, ...]) -> None:
    stage_one(cli.path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli.run(*args, HTTP_LISTEN=f"127.0.0.1:{port}")

    assert done.returncode == 2
    assert f"HTTP_LISTEN=127.0.0.1:{port}: cannot listen" in done.stderr
    assert [r["status"] for r in cli.rows()] == ["queued"]  # nothing was sent
