"""`python -m bench.lease_trial [--runs N] [--suite]`: the lease trial of issue 14,
again and again (tests/reliability/trial.py says what it does and judges).

The full plan: four workers with `LEASE_SECONDS=5`; Postgres stopped with
`pg_ctl -m immediate` for 20 s, three times, while sends are out; SparkPost
answering slower than the lease, slower than its timeout, refusing some
recipients, and killed for a few seconds. About a minute and a half a run. Prints
each run's figures as a JSON line, then a Markdown table of them all; exits 1 if
any run broke a promise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.reliability import trial
from tests.reliability.workers import ForkServer

COLUMNS = (
    ("rows", "rows"),
    ("posts", "POSTs"),
    ("posted_twice", "posted twice"),
    ("accepted", "accepted by SparkPost"),
    ("accepted_reached_worker", "of them, answer reached a worker"),
    ("accepted_not_sent", "known acceptances not `sent`"),
    ("accepted_failed", "acceptances `failed` (answer never reached a worker)"),
    ("recovery_guesses_left", "rows left with recovery's guess"),
    ("settled_late", "settled late"),
    ("renewal_failures", "failed renewals"),
    ("seconds", "seconds"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suite", action="store_true", help="the suite's shorter plan")
    args = parser.parse_args(argv)
    plan = trial.Plan.suite() if args.suite else trial.Plan.full()
    results = []
    server = ForkServer()
    try:
        for n in range(args.runs):
            with tempfile.TemporaryDirectory() as folder:
                result = trial.run(plan, server, Path(folder), say=lambda line: None)
            print(trial.dump(result), flush=True)
            for line in result.failures:
                print(f"  run {n + 1} FAILED: {line}", flush=True)
            results.append(result)
    finally:
        server.close()
    print(f"\n{plan}\n")
    print("| run | " + " | ".join(title for _, title in COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for n, result in enumerate(results, 1):
        figures = result.summary()
        print(f"| {n} | " + " | ".join(str(figures[key]) for key, _ in COLUMNS) + " |")
    return 1 if any(result.failures for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
