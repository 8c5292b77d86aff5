"""The worker's counters, in the Prometheus text format (prometheus-client).

One `Metrics` per process, on its own registry (nothing of the client's default
process collectors, and two workers in one test process never share counts).
The pipeline and the Groq generator report through a few plain methods, so
they need to know nothing of Prometheus; `/metrics` renders the registry when
HTTP_LISTEN is set, and otherwise nobody reads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .errors import StoreUnavailable
from .models import Outcome

# `*_created` samples double the page and no dashboard of ours reads them.
disable_created_metrics()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a fast template render to a slow LLM answer or a provider call near its timeout.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _DueNow(Collector):
    """Rows due now, read from the store at each scrape; no sample while it is down."""

    def __init__(self, due_now: Callable[[], int]) -> None:
        self._due_now = due_now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "campaign_runner_queue_due", "Queued rows whose scheduled_for has come"
        )
        with contextlib.suppress(StoreUnavailable):
            family.add_metric([], self._due_now())
        yield family


class Metrics:
    def __init__(self, due_now: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.emails = Counter(
            "campaign_runner_emails",
            "Emails finished, by outcome (sent, failed, queued) and failure kind",
            ["outcome", "failure_kind"],
            registry=r,
        )
        self.claims = Counter("campaign_runner_claims", "Claims made", registry=r)
        self.claimed = Counter("campaign_runner_claimed_rows", "Rows claimed", registry=r)
        self.cycle_seconds = Histogram(
            "campaign_runner_cycle_duration_seconds", "Duration of one cycle", registry=r
        )
        self.generation_seconds = Histogram(
            "campaign_runner_generation_seconds",
            "Time to content for a row with an empty body",
            ["generator"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.send_seconds = Histogram(
            "campaign_runner_send_seconds",
            "Time a sender took to take one message",
            ["sender"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.groq_throttled = Counter(
            "campaign_runner_groq_throttled",
            "Groq throttling: 429 answers, and waits of our own rate limiter",
            ["reason"],
            registry=r,
        )
        self.unsubscribes = Counter(
            "campaign_runner_unsubscribes",
            "Unsubscribe requests, by result (suppressed, invalid)",
            ["result"],
            registry=r,
        )
        self.events = Counter(
            "campaign_runner_events",
            "SparkPost events read, by what became of them (stored, duplicates, unmatched, "
            "problems, suppressed, settled_sent, settled_not_sent)",
            ["result"],
            registry=r,
        )
        if due_now is not None:
            r.register(_DueNow(due_now))

    # -- what the pipeline, the Groq generator and the endpoint report ------

    def claim(self, rows: int) -> None:
        self.claims.inc()
        self.claimed.inc(rows)

    def cycle(self, seconds: float) -> None:
        self.cycle_seconds.observe(seconds)

    def email(self, outcome: Outcome) -> None:
        """One outcome written: its status, and its failure kind ("" when it has none)."""
        self.emails.labels(outcome=outcome.status, failure_kind=outcome.failure_kind or "").inc()

    def generated(self, generator: str, seconds: float) -> None:
        self.generation_seconds.labels(generator=generator).observe(seconds)

    def sent(self, sender: str, seconds: float) -> None:
        self.send_seconds.labels(sender=sender).observe(seconds)

    def throttled(self, reason: str) -> None:
        """reason: `429` (Groq refused) or `limiter` (we waited to stay under GROQ_RPM/TPM)."""
        self.groq_throttled.labels(reason=reason).inc()

    def unsubscribe(self, result: str) -> None:
        """result: `suppressed` (a one-click POST took) or `invalid` (a token not ours)."""
        self.unsubscribes.labels(result=result).inc()

    def events_polled(self, counts: Mapping[str, int]) -> None:
        """One poll's counts, as `PollReport.counts` has them."""
        for result, n in counts.items():
            self.events.labels(result=result).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
