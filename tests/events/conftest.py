"""A loopback SparkPost whose clock the test moves, and quick retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from campaign_runner.senders.sparkpost import Backoff
from tests.fakes.sparkpost_events import ManualClock
from tests.fakes.sparkpost_server import FakeSparkPost

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
