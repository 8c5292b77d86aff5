"""Putting work in at size: 100,000 contacts from a CSV file into a campaign, staged
and launched, on the embedded store and on Postgres.

The file is made up (five columns, one address per line, all valid and distinct),
written once to a temporary folder. Each store gets a fresh campaign: `import`
(read and check the file, then write it in one transaction), `stage` and `launch`
(two sending addresses, DOMAIN_MIN_INTERVAL_SECONDS=210, the default window) are
timed as the commands run them; `import` is also timed as a whole command, from
process start to exit, on each store.

Command: `.venv/bin/python -m bench.import_contacts` (`--rows N` for another size,
`--json` for machine-readable figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign_runner.intake import contacts, launch
from campaign_runner.intake.campaign_file import FROZEN_ONCE_LAUNCHED
from campaign_runner.intake.records import WorkStore
from campaign_runner.stores.postgres import PostgresStore
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.window import SendingWindow

from . import postgres

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {
    "name": "Benchmark",
    "subject": "Hello {{ first_name }}",
    "body_template": "Hi {{ first_name }} at {{ company }}",
}
# The defaults: 09:00-17:00 Monday to Friday in Los Angeles, 210 s between two sends.
RULES = launch.Rules(
    SendingWindow(ZoneInfo("America/Los_Angeles"), 9, 17, frozenset(range(5))), 210
)


@dataclass(frozen=True)
class Timing:
    store: str
    rows: int
    read_seconds: float  # read and check the file
    write_seconds: float  # the one transaction of the import
    stage_seconds: float
    launch_seconds: float
    command_seconds: float  # `campaign-runner import` from start to exit, on a fresh campaign


def write_file(folder: Path, rows: int) -> Path:
    path = folder / "contacts.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,last_name,company,city\n")
        for i in range(rows):
            out.write(f"person{i}@example{i % 97}.com,First{i},Last{i},Company {i % 1000},City\n")
    return path


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(name: str, store: WorkStore, csv: Path, env: dict[str, str]) -> Timing:
    now = datetime.now(UTC)
    frozen = list(FROZEN_ONCE_LAUNCHED)
    campaign = store.apply_campaign(f"bench-{name}", COLUMNS, frozen, now).campaign_id
    store.add_sending_domain("a@one.example.com", None, now)
    store.add_sending_domain("b@two.example.com", None, now)
    read_s, read = timed(lambda: contacts.read(csv))
    write_s, written = timed(lambda: store.import_contacts(campaign, read.contacts, now))
    assert written.imported == len(read.contacts), written
    stage_s, staged = timed(lambda: store.stage_campaign(campaign, now))
    assert staged.staged == written.imported, staged
    launch_s, launched = timed(
        lambda: store.launch_campaign(campaign, launch.planner(RULES, now), now)
    )
    assert launched.queued == staged.staged, launched
    store.apply_campaign(f"bench-{name}-command", COLUMNS, frozen, now)
    command_s, done = timed(
        lambda: subprocess.run(
            [
                sys.executable,
                "-m",
                "campaign_runner",
                "import",
                str(csv),
                "--campaign",
                f"bench-{name}-command",
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            capture_output=True,
            text=True,
            check=False,
        )
    )
    assert done.returncode == 0, done.stderr
    return Timing(
        name,
        len(read.contacts),
        *(round(s, 2) for s in (read_s, write_s, stage_s, launch_s, command_s)),
    )


@contextmanager
def sqlite_store(folder: Path) -> Iterator[tuple[WorkStore, dict[str, str]]]:
    store = SqliteStore(folder / "bench.db")
    try:
        yield store, {"DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", "LOG_LEVEL": "warning"}
    finally:
        store.close()


@contextmanager
def postgres_store() -> Iterator[tuple[WorkStore, dict[str, str]]]:
    with postgres.database() as dsn:
        store = PostgresStore(dsn)
        try:
            yield store, {"DATABASE_URL": dsn, "SENDER": "outbox", "LOG_LEVEL": "warning"}
        finally:
            store.close()


def run(rows: int) -> list[Timing]:
    with tempfile.TemporaryDirectory() as folder:
        csv = write_file(Path(folder), rows)
        results = []
        with sqlite_store(Path(folder)) as (store, env):
            results.append(measure("sqlite", store, csv, env))
        with postgres_store() as (store, env):
            results.append(measure("postgres", store, csv, env))
    return results


def report(results: list[Timing]) -> str:
    lines = [
        f"{'store':<9} {'rows':>8} {'read':>7} {'write':>7} {'stage':>7} {'launch':>7} "
        f"{'import command':>15}"
    ]
    for t in results:
        lines.append(
            f"{t.store:<9} {t.rows:>8,} {t.read_seconds:>6.2f}s {t.write_seconds:>6.2f}s "
            f"{t.stage_seconds:>6.2f}s {t.launch_seconds:>6.2f}s {t.command_seconds:>14.2f}s"
        )
    lines.append(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_contacts", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = run(args.rows)
    print(json.dumps([asdict(r) for r in results]) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
