"""`python -m bench` (`make bench`): the worker's figures, side by side, in one run.

Throughput against the naive loop, statements per email, claim cost against
table size, footprint, and idle cost, on loopback Groq and SparkPost servers
and a throwaway database on the real Postgres. Prints a table and writes
docs/benchmarks.md (keeping its Groq pacing section). The full run takes
about two minutes on 2 CPUs; `--smoke` runs tiny sizes in seconds, writing nothing
unless `--output` is given (CI runs it: tests/bench/test_bench_smoke.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from campaign_runner import logs

from . import claim_cost, footprint, idle, postgres, throughput
from .machine import this_machine
from .report import Figures, Sizes, markdown, table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
COMMANDS = {"full": "make bench", "smoke": ".venv/bin/python -m bench --smoke --output FILE"}

FULL = Sizes(
    name="full",
    rows=1000,
    concurrency=16,
    batch_size=25,  # the default
    model_latency=0.6,
    send_latency=0.15,
    naive_rows=40,
    table_sizes=(10_000, 100_000, 1_000_000),
    claim_samples=21,
    backlog_rows=100_000,
    footprint_emails=10_000,
    idle_seconds=8.0,  # one hour of the worker's time, in time-lapse
)
SMOKE = Sizes(
    name="smoke",
    rows=24,
    concurrency=4,
    batch_size=8,
    model_latency=0.05,
    send_latency=0.02,
    naive_rows=3,
    table_sizes=(200, 400),
    claim_samples=3,
    backlog_rows=500,
    footprint_emails=40,
    idle_seconds=1.0,
)
STEP_SAMPLE = 200  # emails over which the footprint's CPU is split by step


def measure(sizes: Sizes) -> Figures:
    # The footprint first, while the disk is quiet: part of its CPU is the kernel's work
    # on its own fsyncs, which grows while Postgres still flushes the claim-cost tables.
    _progress(f"footprint: {sizes.footprint_emails:,} emails on the embedded path")
    foot = footprint.run(sizes.footprint_emails, min(STEP_SAMPLE, sizes.footprint_emails))
    _progress(f"throughput: {sizes.rows} rows through the worker, {sizes.naive_rows} naively")
    with (
        postgres.database() as dsn,
        throughput.services(dsn, sizes.model_latency, sizes.send_latency) as found,
    ):
        version = postgres.version(dsn)
        worker = throughput.worker(found, sizes.rows, sizes.concurrency, sizes.batch_size)
        naive = throughput.naive(found, sizes.naive_rows)
    _progress(f"claim cost: tables of {', '.join(f'{n:,}' for n in sizes.table_sizes)} rows")
    with postgres.database() as dsn:
        claims = claim_cost.run(dsn, list(sizes.table_sizes), sizes.claim_samples)
    _progress(f"claim cost: a backlog of {sizes.backlog_rows:,} due rows")
    with postgres.database() as dsn:
        waiting = claim_cost.backlog(dsn, sizes.backlog_rows, sizes.claim_samples)
    _progress(f"idle cost: {sizes.idle_seconds:g} s with the window open, then closed")
    with postgres.database() as dsn:
        quiet = idle.run(dsn, sizes.idle_seconds)
    return Figures(sizes, this_machine(version), worker, naive, claims, waiting, foot, quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, in seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the markdown here (default: {DOCS.relative_to(ROOT)} for a full run, "
        "nowhere for --smoke)",
    )
    args = parser.parse_args(argv)
    logs.configure("console", "warning")  # the figures, not a line per email
    sizes = SMOKE if args.smoke else FULL
    figures = measure(sizes)
    output = args.output or (None if args.smoke else DOCS)
    if output is not None:
        previous = output.read_text("utf-8") if output.exists() else ""
        output.write_text(markdown(figures, COMMANDS[sizes.name], previous), "utf-8")
    print(json.dumps(asdict(figures)) if args.json else table(figures))
    return 0


def _progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
