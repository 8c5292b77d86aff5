"""The worker's `events_poll` duty: a refusal is said once, not every poll; the duty
is there only when the sender is SparkPost and EVENTS_POLL_SECONDS is not 0."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.events.duty import EventsDuty
from campaign_runner.liveness import Liveness
from campaign_runner.metrics import Metrics
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.window import SendingWindow
from campaign_runner.worker import Worker
from tests.fakes.sparkpost_server import FakeSparkPost

from .conftest import API_KEY


def sparkpost_config(make_config: Callable[..., Config], url: str, **more: str) -> Config:
    values = {"SENDER": "sparkpost", "SPARKPOST_API_KEY": API_KEY, "SPARKPOST_API_URL": url}
    return make_config(**{**values, **more})


def test_a_refusal_is_logged_once_until_a_poll_works_again(
    make_config: Callable[..., Config], sparkpost: FakeSparkPost, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "queue.db")
    duty = EventsDuty(
        store, sparkpost_config(make_config, sparkpost.url), lambda: datetime.now(UTC), Metrics()
    )
    sparkpost.events.grant = False
    try:
        with capture_logs() as logged:
            refused = [duty(), duty(), duty()]
            sparkpost.events.grant = True
            report = duty()
            again = duty()
    finally:
        store.close()

    names = [entry["event"] for entry in logged if entry["event"] != "events_polled"]
    assert refused == [None, None, None] and len(sparkpost.events.requests) >= 3
    assert names == ["events_refused", "events_accepted"]
    assert "Events Search: Read-Only" in logged[0]["reason"]
    assert report is not None and again is not None and again.held_by is None


@pytest.mark.parametrize(
    ("more", "polls"),
    [({}, True), ({"EVENTS_POLL_SECONDS": "0"}, False), ({"SENDER": "outbox"}, False)],
)
def test_the_duty_is_there_only_when_there_are_events_to_read(
    make_config: Callable[..., Config], tmp_path: Path, more: dict[str, str], polls: bool
) -> None:
    config = sparkpost_config(make_config, "http://127.0.0.1:9/api/v1", **more)
    store = SqliteStore(tmp_path / "queue.db")
    pipeline = build_pipeline(config, store)
    try:
        worker = Worker(
            pipeline, SendingWindow(config.timezone, 0, 24, frozenset(range(7))), Liveness(None)
        )
        names = [duty.name for duty in worker.duties.due(window_open=False)]
    finally:
        pipeline.close()
        store.close()

    assert ("events_poll" in names) is polls
    assert names[:1] == ["heartbeat"] or "heartbeat" in names


def test_a_poll_counts_what_became_of_the_events_on_metrics(
    make_config: Callable[..., Config], sparkpost: FakeSparkPost, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "queue.db")
    metrics = Metrics()
    for n in range(3):
        sparkpost.events.add({"type": "delivery", "event_id": f"e{n}", "rcpt_to": "x@example.org"})
    duty = EventsDuty(
        store, sparkpost_config(make_config, sparkpost.url), lambda: datetime.now(UTC), metrics
    )
    try:
        reports = [duty(), duty()]  # the second finds nothing new
    finally:
        store.close()

    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    counted = {
        s.labels["result"]: s.value
        for s in families["campaign_runner_events"].samples
        if s.name.endswith("_total")
    }
    polled = Counter[str]()
    for report in reports:
        assert report is not None
        polled.update(report.counts)
    assert counted["stored"] == 3 and counted["unmatched"] == 3
    assert counted == {result: float(n) for result, n in polled.items()}
