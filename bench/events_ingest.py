"""How fast SparkPost's events land in Postgres, what they cost in statements, and
what a poll that finds nothing costs.

On a throwaway migrated database (bench/postgres.py), `rows` sent rows of one
campaign. Their events, three per row (injection, delivery, open) in pages of
`EVENTS_PER_PAGE`'s default (1,000), are handed to `PostgresStore.ingest_events`
through the statement-counting relay (bench/wire.py), as the poller hands them
over; the same pages again measure events read twice (the windows overlap).
Then the whole poll through the loopback SparkPost (tests/fakes): one poll that
reads up to now, and the next, five minutes later, which finds nothing: its
statements, its requests to SparkPost, its time.

    python -m bench.events_ingest            # 10,000 rows, 30,000 events
    python -m bench.events_ingest --smoke    # 300 rows: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from campaign_runner import logs
from campaign_runner.events.client import EventsClient
from campaign_runner.events.poll import poll_once
from campaign_runner.events.records import page_records
from campaign_runner.events.windows import Window
from campaign_runner.senders.sparkpost import Backoff
from campaign_runner.stores.postgres import PostgresStore
from tests.fakes.sparkpost_events import ManualClock, raw_event
from tests.fakes.sparkpost_server import FakeSparkPost

from . import postgres
from .wire import StatementRelay

PER_PAGE = 1000
KINDS = ("injection", "delivery", "open")
KEY = "sp-bench-events-0123456789"
QUICK = Backoff(attempts=2, initial=0.01, maximum=0.02, jitter=0.0)
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Result:
    rows: int
    events: int
    per_page: int
    new_per_second: int  # events stored and landed per second of store time
    new_ms_per_page: float
    duplicate_per_second: int  # the same pages again: nothing changes
    statements_per_1000: float  # statements on the wire per 1,000 events stored
    statements: dict[str, int]
    records_per_second: int  # parse + rules + records, in Python, per second
    empty_poll_ms: float  # a poll that finds nothing, through the loopback SparkPost
    empty_get_ms: float  # of which its one request to the loopback SparkPost (median of 5)
    empty_poll_statements: dict[str, int]
    empty_poll_requests: int  # GETs to SparkPost
    postgres: str


def stage(dsn: str, rows: int) -> list[str]:
    """One sending campaign with `rows` sent rows; their ids."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        (campaign,) = conn.execute(
            "insert into campaigns (name, status) values ('events bench', 'sending') returning id"
        ).fetchone() or ("",)
        ids = conn.execute(
            "insert into email_queue (campaign_id, to_email, status, sent_at, "
            "provider_message_id) select %s, 'p' || n || '@example.org', 'sent', %s, "
            "(1000000 + n)::text from generate_series(1, %s) n returning id::text",
            (campaign, T0, rows),
        ).fetchall()
    return [i for (i,) in ids]


def events_of(ids: list[str]) -> list[dict[str, Any]]:
    return [
        raw_event(kind, row, T0 + timedelta(seconds=k), to=f"row{n}@example.org")
        for n, row in enumerate(ids)
        for k, kind in enumerate(KINDS)
    ]


def ingest(store: PostgresStore, pages: list[list[dict[str, Any]]]) -> float:
    """Seconds the store took for these pages, each one call."""
    window = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=5))
    assert store.claim_events_poll("bench", T0, 3600)["claimed"]
    started = time.perf_counter()
    for page in pages:
        result = store.ingest_events("bench", T0, 3600, page, window, None)
        assert result["lease_held"]
    seconds = time.perf_counter() - started
    store.release_events_poll("bench", T0)
    return seconds


def empty_poll(relay: StatementRelay) -> tuple[float, float, dict[str, int], int]:
    """A poll that finds nothing (the one after a poll that caught up), and the time of
    its one request alone."""
    clock = ManualClock(datetime.now(UTC))
    with FakeSparkPost(KEY) as sparkpost:
        sparkpost.events.clock = clock
        store = PostgresStore(relay.dsn)
        with EventsClient(sparkpost.url, KEY, backoff=QUICK) as client:
            poll_once(store, client, "bench", clock, 1800, first_look_back=timedelta(hours=1))
            clock.advance(minutes=5)
            before, requests = time.time(), len(sparkpost.events.requests)
            started = time.perf_counter()
            poll_once(store, client, "bench", clock, 1800)
            seconds = time.perf_counter() - started
            asked = len(sparkpost.events.requests) - requests
            statements = dict(relay.counts(before))
            window = Window(clock() - timedelta(minutes=6), clock() - timedelta(minutes=1))
            gets = []
            for _ in range(5):
                started = time.perf_counter()
                list(client.pages(window))
                gets.append(time.perf_counter() - started)
        store.close()
    return seconds, statistics.median(gets), statements, asked


def run(rows: int) -> Result:
    with postgres.database() as dsn, StatementRelay(dsn) as relay:
        ids = stage(dsn, rows)
        raw = events_of(ids)
        started = time.perf_counter()
        records = page_records(raw)
        records_seconds = time.perf_counter() - started
        pages = [records[i : i + PER_PAGE] for i in range(0, len(records), PER_PAGE)]
        store = PostgresStore(relay.dsn)
        store.claim_events_poll("warm", T0, 1)  # the connection, opened before the clock
        store.release_events_poll("warm", T0)
        since = time.time()
        new = ingest(store, pages)
        statements = dict(relay.counts(since))
        again = ingest(store, pages)
        store.close()
        empty_seconds, get_seconds, empty_statements, asked = empty_poll(relay)
        server = postgres.version(dsn)
    stored = len(records)
    ingest_calls = statements.get("cr_ingest_events", 0)
    return Result(
        rows=rows,
        events=stored,
        per_page=PER_PAGE,
        new_per_second=round(stored / new),
        new_ms_per_page=round(new / len(pages) * 1000, 1),
        duplicate_per_second=round(stored / again),
        statements_per_1000=round(ingest_calls / stored * 1000, 2),
        statements=statements,
        records_per_second=round(stored / records_seconds),
        empty_poll_ms=round(empty_seconds * 1000, 1),
        empty_get_ms=round(get_seconds * 1000, 1),
        empty_poll_statements=empty_statements,
        empty_poll_requests=asked,
        postgres=server,
    )


def report(r: Result) -> str:
    return "\n".join(
        [
            f"Events ingest: {r.rows} rows, {r.events} events in pages of {r.per_page}",
            f"  new events stored      {r.new_per_second}/s ({r.new_ms_per_page} ms per page)",
            f"  read again             {r.duplicate_per_second}/s (nothing changes)",
            f"  statements per 1,000   {r.statements_per_1000} (cr_ingest_events; all: "
            f"{r.statements})",
            f"  parse + rules          {r.records_per_second} events/s",
            f"  empty poll             {r.empty_poll_ms} ms ({r.empty_get_ms} ms of it the "
            f"request to the loopback SparkPost), {r.empty_poll_requests} request(s), "
            f"statements {r.empty_poll_statements}",
            f"  machine                {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, {r.postgres}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events_ingest")
    parser.add_argument("--smoke", action="store_true", help="300 rows: checks it runs")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args(argv)
    logs.configure("json", "warning", ())
    result = run(300 if args.smoke else 10_000)
    print(json.dumps(asdict(result), indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
