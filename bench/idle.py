"""Figure 5: what the worker costs the database while there is nothing to do.

The real worker loop (`python -m campaign_runner`) runs against a queue whose
only rows are due tomorrow, through `wire.StatementRelay`, in time-lapse: its
default `POLL_INTERVAL_SECONDS` (60), `SEQUENCE_DISPATCH_SECONDS` (60) and
`LEASE_SECONDS` (900) all divided by
`SPEEDUP`, so that a few seconds hold the cycles and the looks for expired
leases of many minutes. Every statement after its start-up check is counted
and scaled back to an hour at the defaults. Then the same with the sending
window closed today and tomorrow: the worker should sleep without a word to
the database.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign_runner.config import DAY_NAMES

from . import postgres
from .wire import StatementRelay
from .worker_process import ALWAYS_OPEN, WorkerProcess

SPEEDUP = 450
POLL, LEASE = 60 / SPEEDUP, 900 // SPEEDUP  # LEASE_SECONDS takes whole seconds
RECOVERY = "cr_recover_stale"
REQUESTS = "cr_requested_work"  # the timed duty that looks for a frontend's stage/launch
# The sequence dispatcher's timed duty: with no live sequence campaign, its one look for
# them; the rest (progress, due leads, fitting to windows) only when there is one.
DISPATCH = ("cr_sequence_schedules",)


@dataclass(frozen=True)
class Idle:
    seconds: float  # measured, each of them standing for `speedup` seconds
    speedup: int
    cycles: int
    statements: dict[str, int]
    per_cycle: float
    per_hour: float  # at the default poll interval and lease
    recoveries_per_hour: float  # of them, looks for expired leases
    requests_per_hour: float  # of them, looks for a frontend's requests
    dispatch_per_hour: float  # of them, the sequence dispatcher's looks for live campaigns
    closed_statements: int
    closed_per_hour: float
    closed: dict[str, int]  # by function: while asleep, only looks for campaigns' windows
    closed_hours: float  # how long it slept, at the defaults


# Asleep, the worker makes the dispatcher's look for live campaigns once at start and
# then once an hour (60 dispatch intervals), for a campaign whose own window opens
# before its own.
(ASLEEP_LOOK,) = DISPATCH


def run(dsn: str, seconds: float) -> Idle:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    campaign = postgres.campaign(dsn, status="scheduled", body_template="Hi")
    postgres.rows(dsn, campaign, 10, tomorrow)
    # Neither today nor tomorrow (UTC), so the window cannot open while this runs.
    closed_days = DAY_NAMES[(tomorrow.weekday() + 1) % 7]
    with StatementRelay(dsn) as relay:
        counts, cycles, lasted = _watch(relay, ALWAYS_OPEN, seconds)
        closed, _, closed_lasted = _watch(relay, {**ALWAYS_OPEN, "WORK_DAYS": closed_days}, seconds)
    total, closed_total = sum(counts.values()), sum(closed.values())
    return Idle(
        seconds=round(lasted, 2),
        speedup=SPEEDUP,
        cycles=cycles,
        statements=counts,
        per_cycle=round(total / max(cycles, 1), 3),
        per_hour=round(total / (lasted * SPEEDUP) * 3600, 1),
        recoveries_per_hour=round(counts.get(RECOVERY, 0) / (lasted * SPEEDUP) * 3600, 1),
        requests_per_hour=round(counts.get(REQUESTS, 0) / (lasted * SPEEDUP) * 3600, 1),
        dispatch_per_hour=round(
            sum(counts.get(name, 0) for name in DISPATCH) / (lasted * SPEEDUP) * 3600, 1
        ),
        closed_statements=closed_total,
        closed_per_hour=round(closed_total / (closed_lasted * SPEEDUP) * 3600, 1),
        closed=closed,
        closed_hours=round(closed_lasted * SPEEDUP / 3600, 2),
    )


def _watch(
    relay: StatementRelay, window: dict[str, str], seconds: float
) -> tuple[dict[str, int], int, float]:
    """Statements by function once the loop began, cycles run, and for how long."""
    settings = {
        "DATABASE_URL": relay.dsn,
        "GENERATOR": "template",
        "SENDER": "outbox",
        "POLL_INTERVAL_SECONDS": str(POLL),
        "LEASE_SECONDS": str(LEASE),
        "SEQUENCE_DISPATCH_SECONDS": str(POLL),  # its default is the poll interval's
        **window,
    }
    with tempfile.TemporaryDirectory() as folder, WorkerProcess(settings, Path(folder)) as worker:
        since = worker.started_at()
        time.sleep(seconds)
        lasted = time.time() - since
        if worker.stop()[0] != 0:
            raise RuntimeError(f"the worker did not stop cleanly: {worker.log_path}")
        cycles = len(worker.events("cycle"))
    return dict(relay.counts(since).most_common()), cycles, lasted
