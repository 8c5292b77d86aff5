"""Several workers on one Postgres, some of whose rows fail before sending: each such
row gives its sending domain's slot back, and still no two rows of a domain are sent
within one interval."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from campaign_runner.models import CONTENT, FAILED, SENT, Content, Outcome
from campaign_runner.ports import Pacing
from campaign_runner.stores.postgres import PostgresStore

from .kits import DUE, T0
from .postgres_kit import PostgresSeeder

WORKERS = 4
ROUNDS = 25
INTERVAL = 210
PACED = Pacing(min_interval_seconds=INTERVAL, day_start=T0.replace(hour=8, minute=0))
BROKEN = Outcome(FAILED, error="template error", failure_kind=CONTENT)


@pytest.fixture
def stores(pg_db: str) -> Iterator[list[PostgresStore]]:
    opened = [PostgresStore(pg_db) for _ in range(WORKERS)]
    yield opened
    for store in opened:
        store.close()


def test_rows_failing_before_the_send_give_back_their_slot_to_one_worker_at_a_time(
    pg_db: str, stores: list[PostgresStore]
) -> None:
    seed = PostgresSeeder(pg_db)
    campaign = seed.campaign()
    for i in range(WORKERS * ROUNDS):
        seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i), from_email="n@a.test")
    seed.close()
    sent: list[str] = []
    failed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def work(store: PostgresStore, worker: str) -> None:
        """Every claim at the same instant: only a row that fails before sending may let
        another claim through, and the first ten rows (person2..person11) do."""
        start.wait()
        for _ in range(ROUNDS):
            for email in store.claim(worker, 5, T0, PACED):
                position = int(email.to_email.removeprefix("person").split("@")[0])
                if position <= 11:
                    store.finish(email, worker, BROKEN, T0)
                    with lock:
                        failed.append(email.id)
                else:
                    store.start_send(email, worker, Content("s", "b"), T0)
                    store.finish(email, worker, Outcome(SENT, provider_message_id="p"), T0)
                    with lock:
                        sent.append(email.id)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(work, stores, [f"worker-{i}" for i in range(WORKERS)]))

    assert len(sent) == 1  # the one slot of this interval, taken by the eleventh row
    assert len(failed) == len(set(failed)) == 10  # each gave it back
