"""A row SparkPost keeps answering "not now" waits twice as long after each try:
RETRY_DELAY_SECONDS, then twice that, then four times, until MAX_ATTEMPTS fails it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from campaign_runner.adapters import make_generator, make_renderer
from campaign_runner.config import Config
from campaign_runner.pipeline import Pipeline
from campaign_runner.ports import Pacing
from campaign_runner.senders.sparkpost import SparkPostSender
from campaign_runner.stores.rows import parse_time
from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.sparkpost_server import FakeSparkPost, Reply
from tests.fixtures.embedded import campaign, email_row

from .conftest import QUICK

DELAY = 60


def test_the_retry_delay_doubles_with_each_attempt(
    sparkpost_config: Callable[..., Config], sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    camp, row = campaign(), email_row()
    sqlite_store.stage(camp, [row])
    sparkpost.script(*[Reply.error(503, "Service Unavailable")] * 4 * QUICK.attempts)
    now = [datetime.now(UTC)]
    config = sparkpost_config(MAX_ATTEMPTS="5", RETRY_DELAY_SECONDS=str(DELAY))
    sender = SparkPostSender(config, QUICK)
    pipeline = Pipeline(
        config,
        store=sqlite_store,
        generator=make_generator(config),
        sender=sender,
        renderer=make_renderer(config),
        clock=lambda: now[0],
    )
    waits = []
    try:
        for attempt in (1, 2, 3, 4):
            assert pipeline.run_cycle(Pacing()).claimed == 1, f"attempt {attempt}"
            (stored,) = sqlite_store.campaign_rows(camp["id"])
            assert (stored["status"], stored["attempts"]) == ("queued", attempt)
            due = parse_time(stored["scheduled_for"])
            waits.append((due - now[0]).total_seconds())
            now[0] = due - timedelta(seconds=1)
            assert pipeline.run_cycle(Pacing()).claimed == 0  # not a second early
            now[0] = due
    finally:
        pipeline.close()
        sender.close()
    assert waits == [DELAY, 2 * DELAY, 4 * DELAY, 8 * DELAY]
