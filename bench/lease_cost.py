"""`python -m bench.lease_cost`: what renewing leases costs the database, in statements
per hour, for a busy worker (always holding rows: SparkPost answers slowly) and an
idle one (nothing due: it holds nothing).

The real worker (`python -m campaign_runner`) runs through `wire.StatementRelay` in
time-lapse, as `idle.py` does: `LEASE_SECONDS` 900 and `POLL_INTERVAL_SECONDS` 60
divided by `SPEEDUP`, so that a few seconds hold many renewal periods
(`LEASE_SECONDS / 3`). Each `cr_renew_leases` is counted, and scaled back to an hour
at the defaults. Prints one JSON object.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign_runner.leases import RENEWALS_PER_LEASE
from tests.fakes.sparkpost_server import FakeSparkPost, Reply

from . import postgres
from .wire import StatementRelay
from .worker_process import ALWAYS_OPEN, WorkerProcess

SPEEDUP = 450
POLL, LEASE = 60 / SPEEDUP, 900 // SPEEDUP
DEFAULT_PERIOD = 900 / RENEWALS_PER_LEASE
RENEWAL = "cr_renew_leases"
KEY = "sp-lease-cost-key-0123456789"


@dataclass(frozen=True)
class Cost:
    name: str
    seconds: float  # measured, each standing for SPEEDUP seconds
    periods: float  # renewal periods in that time
    renewals: int  # cr_renew_leases statements
    per_period: float
    renewals_per_hour: float  # at the default lease (900 s: a period of 300 s)
    statements: int  # every statement in that time
    sent: int


def measure(seconds: float, busy: bool) -> Cost:
    with postgres.database() as dsn, FakeSparkPost(KEY) as sparkpost:
        campaign = postgres.campaign(dsn, status="scheduled", subject="Hello", body_template="Hi")
        due = datetime.now(UTC) + (timedelta(minutes=-1) if busy else timedelta(days=1))
        postgres.rows(dsn, campaign, 2000, due)
        # Each answer takes a few renewal periods: the worker always holds rows in flight.
        sparkpost.script(*[Reply.slow(3 * LEASE / RENEWALS_PER_LEASE)] * 2000)
        with StatementRelay(dsn) as relay, tempfile.TemporaryDirectory() as folder:
            settings = {
                "DATABASE_URL": relay.dsn,
                "GENERATOR": "template",
                "SENDER": "sparkpost",
                "SPARKPOST_API_KEY": KEY,
                "SPARKPOST_API_URL": sparkpost.url,
                "SPARKPOST_TIMEOUT_SECONDS": "30",
                "DOMAIN_MIN_INTERVAL_SECONDS": "0",
                "CONCURRENCY": "8",
                "BATCH_SIZE": "8",
                "POLL_INTERVAL_SECONDS": str(POLL),
                "LEASE_SECONDS": str(LEASE),
                **ALWAYS_OPEN,
            }
            with WorkerProcess(settings, Path(folder)) as worker:
                since = worker.started_at()
                time.sleep(seconds)
                lasted = time.time() - since
                counts = relay.counts(since)
                if worker.stop()[0] != 0:
                    raise RuntimeError(f"the worker did not stop cleanly: {worker.log_path}")
                sent = sum(e["status"] == "sent" for e in worker.events("email"))
    periods = lasted / (LEASE / RENEWALS_PER_LEASE)
    per_period = counts.get(RENEWAL, 0) / periods
    return Cost(
        name="busy" if busy else "idle",
        seconds=round(lasted, 2),
        periods=round(periods, 1),
        renewals=counts.get(RENEWAL, 0),
        per_period=round(per_period, 3),
        renewals_per_hour=round(per_period * 3600 / DEFAULT_PERIOD, 1),
        statements=sum(counts.values()),
        sent=sent,
    )


def main() -> None:
    print(json.dumps([asdict(measure(12.0, busy)) for busy in (True, False)], indent=1))


if __name__ == "__main__":
    main()
