"""A loopback SparkPost whose clock the test moves, quick retries, and both dialects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign_runner import migrate
from campaign_runner.senders.sparkpost import Backoff
from tests.fakes.sparkpost_events import ManualClock
from tests.fakes.sparkpost_server import FakeSparkPost

from .kits import Kit, PostgresKit, SqliteKit

API_KEY = "sp-events-0123456789abcdef"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
QUICK = Backoff(attempts=3, initial=0.01, maximum=0.02, jitter=0.01)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sparkpost(clock: ManualClock) -> Iterator[FakeSparkPost]:
    with FakeSparkPost(API_KEY) as server:
        server.events.clock = clock
        yield server


@pytest.fixture(params=["postgres", "sqlite"])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_fresh_dsn")
        migrate.apply(dsn)
        made: PostgresKit | SqliteKit = PostgresKit(dsn)
    else:
        made = SqliteKit(tmp_path / "queue.db")
    yield made
    made.close()
