"""`/metrics` read by the Prometheus client's own parser, and `/healthz` as `health` judges."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from campaign_runner.models import FAILED, REJECTED, SENT, Outcome

from .conftest import Face


def families(face: Face) -> dict[str, list]:
    answer = face.client.get(f"{face.server.url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(answer.text)}


def value(samples: list, **labels: str) -> float:
    (found,) = [s.value for s in samples if s.labels == labels]
    return found


def test_metrics_parse_and_count_what_the_worker_reports(face: Face) -> None:
    metrics = face.metrics
    metrics.claim(3)
    metrics.email(Outcome(SENT))
    metrics.email(Outcome(FAILED, error="rejected: no such user", failure_kind=REJECTED))
    metrics.cycle(0.4)
    metrics.generated("groq", 1.5)
    metrics.sent("sparkpost", 0.2)
    metrics.throttled("429")
    face.client.post(face.url(face.token), data={"List-Unsubscribe": "One-Click"})
    face.client.get(face.url("forged"))

    found = families(face)

    assert value(found["campaign_runner_emails"], outcome="sent", failure_kind="") == 1
    assert value(found["campaign_runner_emails"], outcome="failed", failure_kind="rejected") == 1
    assert value(found["campaign_runner_claims"]) == 1
    assert value(found["campaign_runner_claimed_rows"]) == 3
    assert value(found["campaign_runner_groq_throttled"], reason="429") == 1
    assert value(found["campaign_runner_unsubscribes"], result="suppressed") == 1
    assert value(found["campaign_runner_unsubscribes"], result="invalid") == 1
    assert value(found["campaign_runner_queue_due"]) == 1  # the staged row is due
    for histogram in (
        "campaign_runner_cycle_duration_seconds",
        "campaign_runner_generation_seconds",
        "campaign_runner_send_seconds",
    ):
        assert [s.value for s in found[histogram] if s.name.endswith("_count")] == [1]


def test_healthz_follows_the_heartbeat(face: Face) -> None:
    heartbeat = Path(face.config.heartbeat_file)
    fresh = face.client.get(f"{face.server.url}/healthz")
    old = time.time() - 3600
    os.utime(heartbeat, (old, old))
    stale = face.client.get(f"{face.server.url}/healthz")
    heartbeat.unlink()
    missing = face.client.get(f"{face.server.url}/healthz")

    assert (fresh.status_code, fresh.text) == (200, "healthy: last heartbeat 0 s ago\n")
    assert stale.status_code == 503 and "unhealthy: last heartbeat 3600 s ago" in stale.text
    assert missing.status_code == 503


@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
def test_operator_endpoints_take_only_get(face: Face, path: str) -> None:
    answer = face.client.post(f"{face.server.url}{path}", content=b"x")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


def test_stop_closes_the_port(face: Face) -> None:
    face.client.get(f"{face.server.url}/healthz")  # a keep-alive connection stays open
    face.server.stop()

    assert not face.server._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((face.server.host, face.server.port), timeout=5).close()
