"""Which time window to read next, from how far we have read and what time it is.

SparkPost's cursor is a position inside one fixed query, not a tail to follow, so
the poller reads explicit `from`/`to` windows. `to` stays at least `SETTLE`
behind now (events are "generally available within 1 minute"), each window
starts `OVERLAP` before the last one ended so that a late event is still read
(duplicates are dropped by `event_id`), and nothing older than the 10 days
SparkPost keeps is asked for: a read position older than that means events were
lost unread, which the plan reports as `lost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

RETENTION = timedelta(days=10)
# Asked for no closer to the retention edge than this, so that the edge does not
# pass the window's `from` while its pages are read.
RETENTION_MARGIN = timedelta(minutes=10)
SETTLE = timedelta(minutes=1)
OVERLAP = timedelta(minutes=5)
# A window is re-read whole after a crash, so a poll far behind reads in steps.
MAX_SPAN = timedelta(hours=6)
PARAM_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the Events API's `from`/`to`: whole seconds, UTC


@dataclass(frozen=True)
class Window:
    """`from` inclusive, `to` exclusive, both whole seconds in UTC."""

    start: datetime
    end: datetime

    def params(self) -> dict[str, str]:
        return {
            "from": self.start.astimezone(UTC).strftime(PARAM_FORMAT),
            "to": self.end.astimezone(UTC).strftime(PARAM_FORMAT),
        }


@dataclass(frozen=True)
class Plan:
    window: Window | None  # None: too soon, nothing new is settled yet
    lost: timedelta | None = None  # how much of the stream aged out of SparkPost unread

    @property
    def warning(self) -> str | None:
        if self.lost is None:
            return None
        return (
            f"events read position is older than SparkPost's {RETENTION.days}-day retention: "
            f"about {_hours(self.lost)} of events were never read and are gone "
            "(delivery, bounce and complaint facts of that time are missing)"
        )


def next_window(
    read_to: datetime | None,
    now: datetime,
    first_look_back: timedelta = RETENTION - RETENTION_MARGIN,
    max_span: timedelta = MAX_SPAN,
) -> Plan:
    """The next window after `read_to` (the `to` of the last window read whole; None
    before the first poll, which reads `first_look_back` into the past)."""
    if max_span <= OVERLAP:
        raise ValueError("max_span must be longer than OVERLAP, or the windows never advance")
    oldest = _second(now - RETENTION + RETENTION_MARGIN, up=True)
    start = _second(now - first_look_back if read_to is None else read_to - OVERLAP)
    lost = None
    if start < oldest:
        if read_to is not None and read_to < oldest:
            lost = oldest - read_to
        start = oldest
    end = min(_second(now - SETTLE), start + max_span)
    if end <= start or (read_to is not None and end <= read_to):
        return Plan(None, lost)
    return Plan(Window(start, end), lost)


def _second(moment: datetime, up: bool = False) -> datetime:
    whole = moment.astimezone(UTC).replace(microsecond=0)
    return whole + timedelta(seconds=1) if up and whole != moment else whole


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 1 else f"{span.total_seconds() / 60:.0f} minutes"
