"""`python -m bench.fit_cost`: what fitting a sequence campaign's leads and steps to
its window costs (`fit_to_windows`, each dispatcher run, every
`SEQUENCE_DISPATCH_SECONDS`) as its active leads grow, on Postgres and SQLite.

A sending campaign with a weekday 09:00-17:00 New York window and `leads` active
leads, half due inside the window, half at night. The first run moves the night
ones (timed once); then runs that move nothing, as nearly every run is, are timed
(the median of `samples`). The ratio of the largest to the smallest campaign is the
figure: a run should cost the leads it moves, not the leads there are. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from campaign_runner.sequences.model import SequenceStore
from campaign_runner.stores.postgres import PostgresStore
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.window import SendingWindow

from . import postgres

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
WINDOW = SendingWindow(ZoneInfo("America/New_York"), 9, 17, frozenset(range(5)))


@dataclass(frozen=True)
class Fit:
    store: str
    leads: int
    first_run_ms: float  # moves the night half
    moved: int
    idle_median_ms: float  # a run that moves nothing


def leads(count: int, campaign_id: str) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for n in range(count):
        due = NOW + (timedelta(minutes=n % 400) if n % 2 else timedelta(hours=10))
        rows.append(
            (str(uuid.uuid4()), campaign_id, f"l{n}@x.test", due.isoformat(), NOW.isoformat())
        )
    return rows


INSERT = (
    "insert into campaign_leads (id, campaign_id, to_email, status, current_step, "
    "next_email_at, created_at) values (%s, %s, %s, 'active', 1, %s, %s)"
)


def measure(name: str, store: SequenceStore, campaign_id: str, count: int, samples: int) -> Fit:
    spans = {campaign_id: WINDOW.openings(NOW, 14)}
    began = time.perf_counter()
    moved = store.fit_to_windows(spans, NOW).get("leads", 0)
    first = time.perf_counter() - began
    timings = []
    for n in range(samples):
        began = time.perf_counter()
        store.fit_to_windows(spans, NOW + timedelta(seconds=n + 1))
        timings.append(time.perf_counter() - began)
    return Fit(
        name, count, round(first * 1000, 2), moved, round(statistics.median(timings) * 1000, 3)
    )


def on_postgres(counts: list[int], samples: int) -> list[Fit]:
    fits = []
    for count in counts:
        with postgres.database() as dsn:
            campaign_id = str(uuid.uuid4())
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    "insert into campaigns (id, name, status) values (%s, 'fit', 'sending')",
                    (campaign_id,),
                )
                with conn.cursor() as cursor:
                    cursor.executemany(INSERT, leads(count, campaign_id))
                conn.execute("analyze campaign_leads")
            store = PostgresStore(dsn)
            try:
                fits.append(measure("postgres", store, campaign_id, count, samples))
            finally:
                store.close()
    return fits


def on_sqlite(counts: list[int], samples: int) -> list[Fit]:
    fits = []
    for count in counts:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "queue.db"
            SqliteStore(path).close()  # the schema
            campaign_id = str(uuid.uuid4())
            with closing(sqlite3.connect(path)) as db, db:
                db.execute(
                    "INSERT INTO campaigns (id, name, status) VALUES (?, 'fit', 'sending')",
                    (campaign_id,),
                )
                db.executemany(INSERT.replace("%s", "?"), leads(count, campaign_id))
                db.execute("ANALYZE")
            store = SqliteStore(path)
            try:
                fits.append(measure("sqlite", store, campaign_id, count, samples))
            finally:
                store.close()
    return fits


def run(counts: list[int], samples: int) -> dict[str, object]:
    fits = on_postgres(counts, samples) + on_sqlite(counts, samples)
    ratios = {}
    for name in ("postgres", "sqlite"):
        mine = [f for f in fits if f.store == name]
        ratios[name] = round(mine[-1].idle_median_ms / mine[0].idle_median_ms, 2)
    return {"fits": [asdict(f) for f in fits], "idle_ratio_largest_to_smallest": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--samples", type=int, default=21)
    args = parser.parse_args()
    print(json.dumps(run(args.leads, args.samples), indent=2))


if __name__ == "__main__":
    main()
