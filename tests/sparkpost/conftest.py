"""The real SparkPost sender against a loopback SparkPost, alone or inside the pipeline."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from campaign_runner.adapters import make_generator, make_renderer
from campaign_runner.config import Config
from campaign_runner.models import Message
from campaign_runner.pipeline import Pipeline
from campaign_runner.senders.sparkpost import Backoff, SparkPostSender
from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.sparkpost_server import FakeSparkPost

API_KEY = "sp-test-0123456789abcdef"
SENDER_ADDRESS = "Fund Team, 1 Main Street, Springfield"
# Three tries as in production, with waits short enough for a test.
QUICK = Backoff(attempts=3, initial=0.01, maximum=0.02, jitter=0.01)


@pytest.fixture
def sparkpost() -> Iterator[FakeSparkPost]:
    with FakeSparkPost(API_KEY) as server:
        yield server


@pytest.fixture
def sparkpost_config(
    make_config: Callable[..., Config], sparkpost: FakeSparkPost
) -> Callable[..., Config]:
    def make(**overrides: str) -> Config:
        return make_config(
            **{
                "SENDER": "sparkpost",
                "SPARKPOST_API_KEY": API_KEY,
                "SPARKPOST_API_URL": sparkpost.url,
                "SPARKPOST_TIMEOUT_SECONDS": "1",  # the least the setting accepts
                "GENERATOR": "template",
                "MAX_ATTEMPTS": "3",
                "RETRY_DELAY_SECONDS": "0",  # a requeued row is due again next cycle
                "SENDER_ADDRESS": SENDER_ADDRESS,
                **overrides,
            }
        )

    return make


@pytest.fixture
def sender_for(sparkpost_config: Callable[..., Config]) -> Iterator[Callable[..., SparkPostSender]]:
    senders: list[SparkPostSender] = []

    def make(**overrides: str) -> SparkPostSender:
        senders.append(SparkPostSender(sparkpost_config(**overrides), QUICK))
        return senders[-1]

    yield make
    for sender in senders:
        sender.close()


@pytest.fixture
def pipeline_for(
    sparkpost_config: Callable[..., Config], sqlite_store: SqliteStore
) -> Iterator[Callable[..., Pipeline]]:
    """A pipeline on the embedded store with the real sender; run it with `run_cycle(Pacing())`."""
    pipelines: list[Pipeline] = []

    def make(**overrides: str) -> Pipeline:
        config = sparkpost_config(**overrides)
        pipelines.append(
            Pipeline(
                config,
                store=sqlite_store,
                generator=make_generator(config),
                sender=SparkPostSender(config, QUICK),
                renderer=make_renderer(config),
            )
        )
        return pipelines[-1]

    yield make
    for pipeline in pipelines:
        pipeline.close()
        pipeline.sender.close()


def message(**fields: Any) -> Message:
    email_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "email_id": email_id,
        "campaign_id": str(uuid.uuid4()),
        "from_email": "outreach@send1.example.com",
        "from_name": "Fund Team",
        "to_email": "ana@example.org",
        "to_name": "Ana Ruiz",
        "reply_to": "replies@example.com",
        "subject": "Hello Ana",
        "text": "Hi Ana,\n",
        "html": "<p>Hi Ana,</p>",
        "headers": {"List-Unsubscribe": "<mailto:replies@example.com>", "X-Email-Id": email_id},
    }
    values.update(fields)
    return Message(**values)


def suppress(store: SqliteStore, address: str) -> None:
    """What the frontend does when someone unsubscribes (any SQLite client may)."""
    with sqlite3.connect(store.path) as db:
        db.execute(
            "INSERT INTO suppressions (email, reason, source) VALUES (?, 'unsubscribed', 'test')",
            (address.lower(),),
        )
