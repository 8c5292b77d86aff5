"""The events poll with the configuration's settings: the worker's `events_poll` duty
and the one-shot `campaign-runner events`.

A refusal by SparkPost (a wrong key, a key without the "Events Search: Read-Only"
grant, a query it will not answer) needs a person, so the duty states it once and
then stays quiet, polling on at its interval, until the answer changes or a poll
works again; it never stops the worker. A busy SparkPost (`EventsBusy`) or an
unreachable store propagate, so that the duty backs off and the log says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from ..config import Config
from ..metrics import Metrics
from ..ports import EventsStore
from .client import EventsClient, EventsQueryRefused, EventsRefused
from .poll import PollReport, poll_once

log = structlog.get_logger("campaign_runner")

REFUSALS = (EventsRefused, EventsQueryRefused)


def poll(store: EventsStore, config: Config, clock: Callable[[], datetime]) -> PollReport:
    """One poll as the settings say; the errors of `poll_once`."""
    with EventsClient(
        config.sparkpost_api_url,
        config.sparkpost_api_key,
        per_page=config.events_per_page,
        timeout_seconds=config.events_timeout_seconds,
    ) as client:
        return poll_once(store, client, config.worker_id, clock, config.ambiguous_settle_seconds)


class EventsDuty:
    """`poll`, saying a refusal once (a `Duty`'s `run`)."""

    def __init__(
        self,
        store: EventsStore,
        config: Config,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self.store, self.config, self.clock, self.metrics = store, config, clock, metrics
        self.refused: str | None = None  # what SparkPost last refused, until a poll works

    def __call__(self) -> PollReport | None:
        try:
            report = poll(self.store, self.config, self.clock)
        except REFUSALS as exc:
            if str(exc) != self.refused:
                log.error(
                    "events_refused",
                    reason=str(exc),
                    advice="no events are read until this is fixed; the worker goes on "
                    "sending and says this again only if the answer changes",
                )
                self.refused = str(exc)
            return None
        if self.refused is not None:
            log.info("events_accepted", after=self.refused)
            self.refused = None
        self.metrics.events_polled(report.counts)
        return report


def summary(report: PollReport) -> str:
    """The one line `campaign-runner events` prints."""
    if report.held_by is not None:
        return f"events: {report.held_by} is polling now; nothing read"
    counts = report.counts
    read_to = report.read_to.isoformat() if report.read_to else "nothing yet"
    line = (
        f"events: {counts['stored']} stored from {report.pages} pages of {report.windows} "
        f"windows, read to {read_to} ({counts['duplicates']} seen before, "
        f"{counts['unmatched']} for no row of ours, {counts['problems']} malformed); "
        f"{counts['suppressed']} addresses suppressed; ambiguous sends: "
        f"{counts['settled_sent']} settled as sent, "
        f"{counts['settled_not_sent'] + report.not_accepted} not accepted"
    )
    if report.lost:
        line += f"; {report.lost}"
    if report.lease_lost:
        line += "; stopped: another poller took over the read position"
    return line
