"""One poll: claim the read position, read every settled window since, let go.

The worker's timed duty and `campaign-runner events` both call `poll_once`; the
store's four methods (`EventsStore`) do the database's part, each one call of
0006's SQL (or its SQLite twin). With several workers one holds the lease and the
others skip the poll; a window is recorded as read only with its last page, and a
window left half read (a crash, a 429 that outlasted the retries) is resumed from
its stored next page, or read again whole if SparkPost no longer knows that cursor.
Events read twice change nothing. Errors of the Events API propagate (EventsBusy:
try next poll; EventsRefused: a person must act) after the lease is given back
(tried once; when the store is down the lease runs out by itself).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ..errors import StoreUnavailable
from ..ports import EventsStore
from .client import EventsClient, EventsQueryRefused
from .records import page_records
from .windows import RETENTION, RETENTION_MARGIN, Window, next_window

log = structlog.get_logger("campaign_runner")

LEASE_SECONDS = 300  # renewed with every page, so a long catch-up keeps it
FIRST_LOOK_BACK = RETENTION - RETENTION_MARGIN
MAX_WINDOWS = 48  # per poll: 12 days of 6-hour windows, more than SparkPost keeps
COUNTS = ("received", "stored", "duplicates", "landed", "unmatched", "problems")
COUNTS += ("suppressed", "settled_sent", "settled_not_sent")


@dataclass
class PollReport:
    held_by: str | None = None  # another worker polls: this one did nothing
    windows: int = 0
    pages: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    not_accepted: int = 0  # ambiguous sends with no event in the time they had
    read_to: datetime | None = None
    lost: str | None = None  # events aged out of SparkPost unread
    lease_lost: bool = False


def poll_once(
    store: EventsStore,
    client: EventsClient,
    poller: str,
    clock: Callable[[], datetime],
    grace_seconds: int,
    lease_seconds: int = LEASE_SECONDS,
    first_look_back: timedelta = FIRST_LOOK_BACK,
) -> PollReport:
    """`first_look_back`: how far back the very first poll reads (default: all that
    SparkPost keeps, so ambiguous sends of the last days can still be settled)."""
    claim = store.claim_events_poll(poller, clock(), lease_seconds)
    if not claim["claimed"]:
        return PollReport(held_by=claim["holder"])
    report = PollReport(read_to=_time(claim["read_to"]))
    try:
        start, end = _time(claim["window_from"]), _time(claim["window_to"])
        if claim["next_path"] and start and end:
            _read(
                store,
                client,
                poller,
                clock,
                lease_seconds,
                Window(start, end),
                claim["next_path"],
                report,
            )
        while not report.lease_lost and report.windows < MAX_WINDOWS:
            plan = next_window(report.read_to, clock(), first_look_back)
            if plan.warning and report.lost is None:
                report.lost = plan.warning
                log.error("events_lost", warning=plan.warning)
            if plan.window is None:
                break
            _read(store, client, poller, clock, lease_seconds, plan.window, None, report)
        if not report.lease_lost:
            report.not_accepted = store.settle_unseen_sends(grace_seconds, clock())
    except BaseException:
        # The first error is the one to report: a store that is down fails this too,
        # and the lease then runs out by itself.
        with contextlib.suppress(StoreUnavailable):
            store.release_events_poll(poller, clock())
        raise
    store.release_events_poll(poller, clock())
    log.info(
        "events_polled",
        windows=report.windows,
        pages=report.pages,
        not_accepted=report.not_accepted,
        read_to=report.read_to.isoformat() if report.read_to else None,
        **report.counts,
    )
    return report


def _read(
    store: EventsStore,
    client: EventsClient,
    poller: str,
    clock: Callable[[], datetime],
    lease_seconds: int,
    window: Window,
    resume: str | None,
    report: PollReport,
) -> None:
    """Every page of one window into the store; the window counts as read with its last."""
    try:
        for page in client.pages(window, resume):
            result = store.ingest_events(
                poller, clock(), lease_seconds, page_records(page.events), window, page.next_path
            )
            if not result["lease_held"]:
                # Our lease ran out and another worker took over: it reads on from here.
                log.warning("events_lease_lost", poller=poller, holder=result.get("holder"))
                report.lease_lost = True
                return
            report.pages += 1
            for key in COUNTS:
                report.counts[key] += int(result[key])
            if page.next_path is None:
                report.read_to = _time(result["read_to"])
    except EventsQueryRefused:
        if resume is None:
            raise
        log.warning("events_resume_refused", window=window.params())
        _read(store, client, poller, clock, lease_seconds, window, None, report)
        return
    report.windows += 1


def _time(value: str | datetime | None) -> datetime | None:
    """A timestamp as the store's JSON gives it (ISO 8601 text), or as it is."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
