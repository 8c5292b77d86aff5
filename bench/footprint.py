"""Figure 4: memory and CPU of the embedded path (SQLite, template generator, outbox).

The worker runs as deployed (`python -m campaign_runner`, default settings
but pacing off) on a queue of `emails` due rows, and is stopped with SIGTERM
once every row is settled. Its peak RSS is the kernel's high-water mark of
its memory (VmHWM), read just before the stop; its CPU time is the kernel's
account of the whole process (`os.wait4`), start-up and imports included,
divided by the emails: there is no network on this path, so all of it is the
worker's own work.

`steps` says where that CPU goes: the same adapters, in this process, one
email at a time, each step timed with the thread's CPU clock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign_runner import config, demo
from campaign_runner.adapters import make_generator, make_renderer, make_sender
from campaign_runner.models import SENT, Outcome
from campaign_runner.ports import Pacing
from campaign_runner.recipients import checked_recipient
from campaign_runner.stores.sqlite import SqliteStore

from .postgres import SQL
from .worker_process import ALWAYS_OPEN, WorkerProcess

PATIENCE_PER_EMAIL = 0.05  # seconds; well above what an email costs, so a stuck drain fails


@dataclass(frozen=True)
class Footprint:
    emails: int
    sent: int
    peak_rss_mb: float
    cpu_seconds: float
    cpu_ms_per_email: float
    system_ms_per_email: float  # the kernel's share of it: file writes, fsyncs, thread switches
    steps_ms: dict[str, float]  # CPU per email by step, one thread


WORKER_ID = "bench"


def stage(database: Path, emails: int) -> None:
    """The demo campaign (template content), `emails` due rows of valid contacts."""
    due = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    store = SqliteStore(database)
    try:
        store.stage(
            {**demo.CAMPAIGN, "id": str(uuid.uuid4())},
            [
                {
                    "id": str(uuid.uuid4()),
                    "to_email": f"contact{i}@example.org",
                    "to_name": f"Contact {i}",
                    "from_email": demo.SENDING_ADDRESSES[i % len(demo.SENDING_ADDRESSES)],
                    "status": "queued",
                    "scheduled_for": due,
                    "metadata": {"first_name": f"Contact{i}", "company": f"Company {i}"},
                }
                for i in range(emails)
            ],
        )
    finally:
        store.close()


def settled(database: Path) -> tuple[int, int]:
    """Rows settled (sent or failed), and sent; read-only, beside the worker's writes."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute((SQL / "sqlite_outcomes.sql").read_text()).fetchone()
    return int(row[0]), int(row[1])


def embedded(folder: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{folder / 'queue.db'}",
        "GENERATOR": "template",
        "SENDER": "outbox",
        "OUTBOX_DIR": str(folder / "outbox"),
        "DOMAIN_MIN_INTERVAL_SECONDS": "0",
        **ALWAYS_OPEN,
    }


def steps(emails: int) -> dict[str, float]:
    """CPU milliseconds per email of each step of the pipeline, in this process."""
    spent: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as folder:
        settings = config.load(environ=embedded(Path(folder)), env_file=None)
        stage(Path(folder) / "queue.db", emails)
        store = SqliteStore(Path(folder) / "queue.db")
        generator, sender = make_generator(settings), make_sender(settings)
        renderer = make_renderer(settings)
        try:
            with _timed(spent, "claim"):
                claimed = store.claim(WORKER_ID, emails, datetime.now(UTC), Pacing())
            for email in claimed:
                with _timed(spent, "check recipient"):
                    checked_recipient(email)
                with _timed(spent, "content (template)"):
                    content = generator.generate(email)
                with _timed(spent, "render"):
                    message = renderer.render(email, content)
                with _timed(spent, "start_send"):
                    store.start_send(email, WORKER_ID, content, datetime.now(UTC))
                with _timed(spent, "send (outbox)"):
                    provider_id = sender.send(message)
                with _timed(spent, "finish"):
                    outcome = Outcome(SENT, provider_message_id=provider_id)
                    store.finish(email, WORKER_ID, outcome, datetime.now(UTC))
        finally:
            store.close()
    return {step: round(seconds / emails * 1000, 3) for step, seconds in spent.items()}


@contextlib.contextmanager
def _timed(spent: Counter[str], step: str) -> Iterator[None]:
    began = time.thread_time()
    yield
    spent[step] += time.thread_time() - began


def run(emails: int, sample: int) -> Footprint:
    """The worker process on `emails` rows; the steps on `sample` more in this process."""
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "queue.db"
        stage(database, emails)
        settings = embedded(Path(folder))
        with WorkerProcess(settings, Path(folder) / "worker") as process:
            process.started_at()
            deadline = time.monotonic() + 30 + emails * PATIENCE_PER_EMAIL
            while settled(database)[0] < emails:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not drain the queue: {process.log_path}")
                time.sleep(0.1)
            peak_kb = process.peak_rss_kb()
            status, usage = process.stop()
            if status != 0:
                raise RuntimeError(f"the worker did not stop cleanly: {process.log_path}")
        _, sent = settled(database)
    cpu = usage.ru_utime + usage.ru_stime
    return Footprint(
        emails=emails,
        sent=sent,
        peak_rss_mb=round(peak_kb / 1024, 1),
        cpu_seconds=round(cpu, 2),
        cpu_ms_per_email=round(cpu / emails * 1000, 3),
        system_ms_per_email=round(usage.ru_stime / emails * 1000, 3),
        steps_ms=steps(sample),
    )
