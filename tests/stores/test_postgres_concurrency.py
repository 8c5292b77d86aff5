"""Several workers on one Postgres: no row is ever claimed twice, and a sending
domain's slot goes to one claim only."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from campaign_runner.models import Email
from campaign_runner.ports import Pacing
from campaign_runner.stores.postgres import PostgresStore

from .drain import drain
from .kits import DUE, T0, Seeder
from .postgres_kit import PostgresSeeder, execute, run

ROWS = 2000
WORKERS = 4
INTERVAL = 210
PACED = Pacing(min_interval_seconds=INTERVAL, day_start=T0.replace(hour=8, minute=0))

# What a claim in flight holds: the row it is taking, or its sending domain's pacing row.
LOCK_EMAIL = "select id from email_queue where id = %(id)s::uuid for update"
LOCK_DOMAIN = "select domain from domain_pacing where domain = %(domain)s for update"


@pytest.fixture
def seed(pg_db: str) -> Iterator[Seeder]:
    seeder = PostgresSeeder(pg_db)
    yield seeder
    seeder.close()


@pytest.fixture
def stores(pg_db: str) -> Iterator[list[PostgresStore]]:
    opened = [PostgresStore(pg_db) for _ in range(2)]
    yield opened
    for store in opened:
        store.close()


def race(
    stores: list[PostgresStore], claim: Callable[[PostgresStore, str], list[Email]]
) -> list[list[Email]]:
    """Both stores claim at once: two threads released together by a barrier."""
    start = threading.Barrier(len(stores))

    def go(store: PostgresStore, worker: str) -> list[Email]:
        start.wait()
        return claim(store, worker)

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(go, stores, [f"worker-{i}" for i in range(len(stores))]))


@contextmanager
def holding(dsn: str, lock: str, **params: Any) -> Iterator[None]:
    """A lock taken by another transaction (`lock`, a `select ... for update`), held
    until the block ends."""
    with psycopg.connect(dsn) as holder:
        holder.execute(lock, params)  # type: ignore[arg-type]
        try:
            yield
        finally:
            holder.rollback()


def test_four_worker_processes_drain_2000_rows_each_claimed_exactly_once(
    pg_db: str, seed: Seeder
) -> None:
    run(
        pg_db,
        "bulk_emails",
        first=0,
        count=ROWS,
        campaign_id=seed.campaign(),
        from_email="news@acme.test",
        status="queued",
        scheduled_for=DUE,
    )
    # Every row each worker process was handed by a claim, written as it gets them.
    execute(pg_db, "create table handouts (email_id uuid not null, worker text not null)")
    try:
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(WORKERS)
        workers = [
            context.Process(target=drain, args=(pg_db, f"worker-{i}", 25, T0, start))
            for i in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=90)
        tally = run(pg_db, "tally")
    finally:
        execute(pg_db, "drop table if exists handouts")

    assert [worker.exitcode for worker in workers] == [0] * WORKERS
    assert tally == {
        "handouts": ROWS,
        "rows_handed_out": ROWS,
        "rows": ROWS,
        "sent": ROWS,
        "min_attempts": 1,
        "max_attempts": 1,
    }


def test_two_claims_racing_for_one_row_one_wins(seed: Seeder, stores: list[PostgresStore]) -> None:
    campaign = seed.campaign()
    for _ in range(20):
        row = seed.email(campaign)
        results = race(stores, lambda store, worker: store.claim(worker, 1, T0, Pacing()))

        assert sorted(len(r) for r in results) == [0, 1]
        assert [e.id for r in results for e in r] == [row]
        assert seed.email_row(row)["attempts"] == 1


def test_a_row_locked_by_a_claim_in_flight_is_skipped_not_waited_for(
    pg_db: str, seed: Seeder, stores: list[PostgresStore]
) -> None:
    campaign = seed.campaign()
    first = seed.email(campaign, scheduled_for=DUE)
    second = seed.email(campaign, scheduled_for=DUE + timedelta(seconds=1))

    with ThreadPoolExecutor(1) as pool, holding(pg_db, LOCK_EMAIL, id=first):
        claimed = pool.submit(stores[0].claim, "worker-b", 5, T0, Pacing()).result(timeout=10)

    assert [e.id for e in claimed] == [second]
    assert seed.email_row(first)["status"] == "queued"


def test_a_domain_held_by_a_claim_in_flight_is_skipped_not_waited_for(
    pg_db: str, seed: Seeder, stores: list[PostgresStore]
) -> None:
    campaign = seed.campaign()
    seed.email(campaign, scheduled_for=T0 - timedelta(days=2), from_email="a@alpha.test")
    stores[0].claim("worker-a", 5, T0 - timedelta(days=2), PACED)  # alpha has a pacing row now
    alpha = seed.email(campaign, from_email="b@alpha.test")
    beta = seed.email(campaign, from_email="b@beta.test")

    with ThreadPoolExecutor(1) as pool, holding(pg_db, LOCK_DOMAIN, domain="alpha.test"):
        during = pool.submit(stores[1].claim, "worker-b", 5, T0, PACED).result(timeout=10)
    after = stores[1].claim("worker-b", 5, T0, PACED)

    assert [e.id for e in during] == [beta]
    assert [e.id for e in after] == [alpha]


def test_two_paced_claims_racing_share_one_domain_slot(
    seed: Seeder, stores: list[PostgresStore]
) -> None:
    campaign = seed.campaign()
    for n in range(40):
        seed.email(campaign, scheduled_for=DUE + timedelta(seconds=n), from_email="n@alpha.test")
    for round_ in range(20):
        now = T0 + timedelta(seconds=INTERVAL * round_)
        results = race(stores, lambda store, worker, now=now: store.claim(worker, 5, now, PACED))

        assert sorted(len(r) for r in results) == [0, 1], f"round {round_}"
