"""Does the groq generator use Groq's request budget without earning 429s?

A whole cycle through the real wiring (embedded store, groq generator with
the process-wide limiter, outbox sender) against the loopback Groq, which
answers after a fixed delay and enforces a requests-per-minute limit over a
sliding minute, answering 429 beyond it, as Groq does.

Figures: the achieved request rate divided by the limit (goal: at least
0.9), and the number of 429s received (goal: 0).

    python -m bench.groq_pacing            # 200 rows, 600 ms answers, 60/minute: ~3.5 minutes
    python -m bench.groq_pacing --smoke    # 10 rows, 50 ms answers, 600/minute: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign_runner import config, logs
from campaign_runner.adapters import build_pipeline
from campaign_runner.ports import Pacing
from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.groq_server import running

PERIOD = 60.0  # Groq's limits are per minute


@dataclass(frozen=True)
class Result:
    rows: int
    rpm_limit: int
    latency_ms: int
    sent: int
    requests: int
    refused_429: int
    most_in_any_minute: int
    rate_per_minute: float
    rate_over_limit: float
    wall_seconds: float


def stage(store: SqliteStore, rows: int) -> None:
    """An AI campaign with `rows` due rows, none with a body."""
    due = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    store.stage(
        {
            "id": str(uuid.uuid4()),
            "name": "Groq pacing benchmark",
            "status": "scheduled",
            "ai_prompt": "Write a short note from Sam at Ledgerly offering a 15-minute call.",
            "from_name": "Sam at Ledgerly",
        },
        [
            {
                "id": str(uuid.uuid4()),
                "to_email": f"contact{i}@example.org",
                "to_name": f"Contact {i}",
                "from_email": "sam@send1.ledgerly.example.com",
                "status": "queued",
                "scheduled_for": due,
                "metadata": {"first_name": f"Contact{i}", "company": f"Company {i}"},
            }
            for i in range(rows)
        ],
    )


def run(rows: int, rpm: int, latency: float) -> Result:
    with (
        tempfile.TemporaryDirectory() as folder,
        running(latency=latency, rpm=rpm, period=PERIOD) as server,
    ):
        settings = config.load(
            environ={
                "DATABASE_URL": f"sqlite:///{Path(folder) / 'queue.db'}",
                "OUTBOX_DIR": str(Path(folder) / "outbox"),
                "GENERATOR": "groq",
                "GROQ_API_KEY": server.api_key,
                "GROQ_BASE_URL": server.url,
                "GROQ_RPM": str(rpm),
                "GROQ_TPM": "10000000",  # requests are what this measures
                "BATCH_SIZE": str(rows),
                "DOMAIN_MIN_INTERVAL_SECONDS": "0",
                "WORKER_ID": "bench",
            },
            env_file=None,
        )
        store = SqliteStore(Path(folder) / "queue.db")
        stage(store, rows)
        pipeline = build_pipeline(settings, store)
        started = time.monotonic()
        report = pipeline.run_cycle(Pacing())
        wall = time.monotonic() - started
        pipeline.close()
        store.close()
    arrivals = sorted(r.at for r in server.requests if r.status == 200)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    rate = (len(arrivals) - 1) / span * PERIOD if span else 0.0
    return Result(
        rows=rows,
        rpm_limit=rpm,
        latency_ms=round(latency * 1000),
        sent=report.outcomes["sent"],
        requests=len(server.requests),
        refused_429=server.statuses().count(429),
        most_in_any_minute=server.busiest(PERIOD),
        rate_per_minute=round(rate, 2),
        rate_over_limit=round(rate / rpm, 3),
        wall_seconds=round(wall, 1),
    )


def report(result: Result) -> str:
    return "\n".join(
        [
            f"Groq pacing: {result.rows} rows, model answering in {result.latency_ms} ms, "
            f"limit {result.rpm_limit} requests/minute",
            f"  rate / limit          {result.rate_over_limit:.3f}  (goal >= 0.9; "
            f"{result.rate_per_minute} requests/minute)",
            f"  429s received         {result.refused_429}  (goal 0)",
            f"  sent                  {result.sent} of {result.rows}",
            f"  requests              {result.requests}",
            f"  most in any minute    {result.most_in_any_minute}",
            f"  wall time             {result.wall_seconds} s",
            f"  machine               {os.cpu_count()} CPUs, Python {platform.python_version()}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.groq_pacing", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="10 rows at 600/minute, in seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    logs.configure("console", "warning")  # the figures, not a line per email
    result = run(10, 600, 0.05) if args.smoke else run(200, 60, 0.6)
    print(json.dumps(asdict(result)) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
