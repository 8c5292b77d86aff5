"""Figures 1 and 2: emails per second through the whole pipeline, and statements per email.

Every row needs content, so each email is one Groq request and one SparkPost
transmission, both to loopback servers (in this process) that answer after a
fixed delay. The rows live in the real Postgres behind `wire.StatementRelay`,
which counts the statements and stamps each with its time.

The worker is the real one, `python -m campaign_runner` in a process of its
own, draining the backlog as it would after an outage. Its rate is measured on
the wire: emails sent divided by the time from its first statement to its
last `cr_finish_v2`, so neither its start-up nor its stop counts.

The naive design the worker replaced runs beside it, over the same adapters:
claim one row, write it, send it, record it, repeat. Its rate does not depend
on how many rows there are, so a smaller sample measures it.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign_runner import config
from campaign_runner.adapters import make_generator, make_renderer, make_sender, open_store
from campaign_runner.models import SENT, Outcome
from campaign_runner.ports import Pacing
from tests.fakes.groq_server import FakeGroq
from tests.fakes.groq_server import running as groq_running
from tests.fakes.sparkpost_server import FakeSparkPost, Reply

from . import postgres
from .wire import Statement, StatementRelay
from .worker_process import ALWAYS_OPEN, WorkerProcess

SPARKPOST_KEY = "bench-sparkpost-key"
WORKER_ID = "bench"
AI_CAMPAIGN = {
    "name": "Throughput benchmark",
    "ai_prompt": "Write a short note from Sam at Ledgerly offering a 15-minute call.",
    "from_name": "Sam at Ledgerly",
}
SLOWEST_RATE = 0.25  # of the ideal, below which the drain is taken to be stuck


@dataclass(frozen=True)
class Throughput:
    """One drain of `rows` due rows; `statements` counts them by function called."""

    design: str
    rows: int
    concurrency: int
    batch_size: int
    sent: int
    seconds: float
    per_second: float
    ideal_per_second: float
    ratio_to_ideal: float
    statements: dict[str, int]
    statements_per_email: float


@dataclass(frozen=True)
class Services:
    dsn: str  # the database itself, for staging
    relay: StatementRelay
    groq: FakeGroq
    sparkpost: FakeSparkPost
    model_latency: float
    send_latency: float

    def settings(self, concurrency: int, batch_size: int) -> dict[str, str]:
        return {
            "DATABASE_URL": self.relay.dsn,
            "GENERATOR": "groq",
            "GROQ_API_KEY": self.groq.api_key,
            "GROQ_BASE_URL": self.groq.url,
            # Groq's own pacing is another benchmark's subject (bench.groq_pacing).
            "GROQ_RPM": "1000000",
            "GROQ_TPM": "1000000000",
            "SENDER": "sparkpost",
            "SPARKPOST_API_KEY": SPARKPOST_KEY,
            "SPARKPOST_API_URL": self.sparkpost.url,
            # The events poll has its own benchmark (bench.events_ingest).
            "EVENTS_POLL_SECONDS": "0",
            "CONCURRENCY": str(concurrency),
            "BATCH_SIZE": str(batch_size),
            "DOMAIN_MIN_INTERVAL_SECONDS": "0",
            "WORKER_ID": WORKER_ID,
            **ALWAYS_OPEN,
        }

    def stage(self, rows: int) -> str:
        """`rows` due rows needing content, and as many SparkPost answers; the campaign."""
        campaign = postgres.campaign(self.dsn, **AI_CAMPAIGN)
        postgres.rows(self.dsn, campaign, rows, datetime.now(UTC) - timedelta(minutes=1))
        self.sparkpost.script(*[Reply(delay=self.send_latency)] * rows)
        return campaign

    def ideal(self, concurrency: int) -> float:
        return concurrency / (self.model_latency + self.send_latency)


@contextlib.contextmanager
def services(dsn: str, model_latency: float, send_latency: float) -> Iterator[Services]:
    with (
        groq_running(latency=model_latency) as groq,
        FakeSparkPost(SPARKPOST_KEY) as sparkpost,
        StatementRelay(dsn) as relay,
    ):
        yield Services(dsn, relay, groq, sparkpost, model_latency, send_latency)


def worker(found: Services, rows: int, concurrency: int, batch_size: int) -> Throughput:
    """The worker loop in its own process drains `rows` rows."""
    campaign = found.stage(rows)
    patience = 30 + rows / (found.ideal(concurrency) * SLOWEST_RATE)
    with (
        tempfile.TemporaryDirectory() as folder,
        WorkerProcess(found.settings(concurrency, batch_size), Path(folder)) as process,
    ):
        since = process.started_at()
        deadline = time.monotonic() + patience
        while postgres.outcomes(found.dsn, campaign)[0] < rows:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not drain the queue: {process.log_path}")
            time.sleep(0.1)
        if process.stop()[0] != 0:
            raise RuntimeError(f"the worker did not stop cleanly: {process.log_path}")
    statements = found.relay.statements(since)
    return _figures(found, "worker", rows, concurrency, batch_size, campaign, statements)


def naive(found: Services, rows: int) -> Throughput:
    """The loop the worker replaced, over the same adapters, one row at a time."""
    campaign = found.stage(rows)
    settings = config.load(environ=found.settings(1, 1), env_file=None)
    store = open_store(settings)
    generator, sender = make_generator(settings), make_sender(settings)
    renderer = make_renderer(settings)
    since = time.time()
    try:
        while emails := store.claim(WORKER_ID, 1, datetime.now(UTC), Pacing()):
            (email,) = emails
            content = generator.generate(email)
            store.start_send(email, WORKER_ID, content, datetime.now(UTC))
            provider_id = sender.send(renderer.render(email, content))
            outcome = Outcome(SENT, provider_message_id=provider_id)
            store.finish(email, WORKER_ID, outcome, datetime.now(UTC))
    finally:
        sender.close()
        store.close()
    statements = found.relay.statements(since)
    return _figures(found, "naive loop", rows, 1, 1, campaign, statements)


def _figures(
    found: Services,
    design: str,
    rows: int,
    concurrency: int,
    batch_size: int,
    campaign: str,
    statements: list[Statement],
) -> Throughput:
    _, sent = postgres.outcomes(found.dsn, campaign)
    finishes = [s.at for s in statements if s.name == "cr_finish_v2"]
    seconds = max(finishes) - statements[0].at
    ideal = found.ideal(concurrency)
    counts = Counter(s.name for s in statements)
    return Throughput(
        design=design,
        rows=rows,
        concurrency=concurrency,
        batch_size=batch_size,
        sent=sent,
        seconds=round(seconds, 2),
        per_second=round(sent / seconds, 2),
        ideal_per_second=round(ideal, 2),
        ratio_to_ideal=round(sent / seconds / ideal, 3),
        statements=dict(counts.most_common()),
        statements_per_email=round(sum(counts.values()) / max(sent, 1), 3),
    )
