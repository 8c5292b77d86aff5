"""Figure 3: what one claim of 50 rows costs as the table grows with sent history,
and what a paced claim costs behind a long backlog of due rows.

The table holds `size` rows, all `sent` but the 50 due ones, and grows in
place from one size to the next (the server builds the rows). Each sample is
one `PostgresStore.claim` call, timed from the caller's side, after which the
50 rows are put back; the figure is the median. Two claims are measured: the
plain one (pacing off) and the paced one (`DOMAIN_MIN_INTERVAL_SECONDS=210`,
the rows spread over 50 sending domains, the clock moved on past the interval
before each sample). The backlog: a campaign launched at once and held back by
pacing, `due_rows` due rows over the same 50 sending domains, each paced claim
taking one row per domain.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from campaign_runner.ports import Pacing
from campaign_runner.stores.postgres import PostgresStore

from . import postgres

CLAIM = 50
INTERVAL = 210  # the default DOMAIN_MIN_INTERVAL_SECONDS
WORKER_ID = "bench"


@dataclass(frozen=True)
class ClaimCost:
    table_rows: int
    samples: int
    plain_median_ms: float
    paced_median_ms: float


@dataclass(frozen=True)
class Backlog:
    due_rows: int
    samples: int
    paced_median_ms: float


def run(dsn: str, sizes: list[int], samples: int) -> list[ClaimCost]:
    start = datetime.now(UTC)
    history = postgres.campaign(dsn, status="completed", name="Sent history")
    live = postgres.campaign(dsn, status="sending", name="Claim benchmark", body_template="Hi")
    postgres.rows(dsn, live, CLAIM, start - timedelta(hours=1), domains=CLAIM)
    built = CLAIM
    store = PostgresStore(dsn)
    moments = _moments(start)
    results = []
    try:
        for size in sizes:
            postgres.rows(dsn, history, size - built, start, status="sent", first=built)
            built = size
            _settle(dsn)
            plain = _median_ms(dsn, store, moments, samples, Pacing())
            paced = _median_ms(dsn, store, moments, samples, Pacing(min_interval_seconds=INTERVAL))
            results.append(ClaimCost(size, samples, plain, paced))
    finally:
        store.close()
    return results


def backlog(dsn: str, due_rows: int, samples: int) -> Backlog:
    start = datetime.now(UTC)
    live = postgres.campaign(dsn, status="sending", name="Backlog", body_template="Hi")
    postgres.rows(dsn, live, due_rows, start - timedelta(hours=1), domains=CLAIM)
    _settle(dsn)
    store = PostgresStore(dsn)
    try:
        paced = _median_ms(
            dsn, store, _moments(start), samples, Pacing(min_interval_seconds=INTERVAL)
        )
    finally:
        store.close()
    return Backlog(due_rows, samples, paced)


def _settle(dsn: str) -> None:
    """After a bulk change: vacuumed and analysed, and its pages written out."""
    postgres.execute(dsn, "vacuum")
    postgres.execute(dsn, "checkpoint")


def _moments(start: datetime) -> Iterator[datetime]:
    """A pacing interval and a second apart, so every paced claim finds its domains free."""
    return (start + timedelta(seconds=(INTERVAL + 1) * n) for n in itertools.count(1))


def _median_ms(
    dsn: str, store: PostgresStore, moments: Iterator[datetime], samples: int, pacing: Pacing
) -> float:
    """Each claim at the next of `moments`, each a pacing interval after the last."""
    timings = []
    for sample in range(samples + 1):  # the first one warms the caches and is not counted
        now = next(moments)
        began = time.perf_counter()
        claimed = store.claim(WORKER_ID, CLAIM, now, pacing)
        elapsed = time.perf_counter() - began
        if len(claimed) != CLAIM:
            raise RuntimeError(f"a claim took {len(claimed)} rows instead of {CLAIM}")
        postgres.execute(dsn, "requeue")
        if sample:
            timings.append(elapsed)
    return round(statistics.median(timings) * 1000, 2)
