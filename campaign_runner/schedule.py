"""A campaign's own sending window (send_days, send_time_start, send_time_end,
timezone), each part the worker's setting where the campaign has none, and the
local day a moment falls in, for its daily_limit. One source for the launch plan
(intake/launch.py) and the sequence dispatcher (sequences/dispatch.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import DAY_NAMES
from .window import SendingWindow


class ScheduleError(ValueError):
    """A campaign's schedule columns say nothing that can be sent in; the message says why."""


def campaign_window(row: Mapping[str, Any], default: SendingWindow) -> SendingWindow:
    """Times that are not whole hours are rounded inwards (09:30-17:00 sends from
    10:00), so nothing goes outside what the campaign promised."""
    start, end = default.start_hour, default.end_hour
    if row.get("send_time_start") is not None:
        start = math.ceil(_hours(str(row["send_time_start"])))
    if row.get("send_time_end") is not None:
        end = math.floor(_hours(str(row["send_time_end"]))) or 24  # 00:00 as an end: midnight
    if not 0 <= start < end <= 24:
        raise ScheduleError(
            f"the sending window {start:02d}:00-{end:02d}:00 is empty: send_time_end must be "
            "at least an hour after send_time_start, on the same day"
        )
    days = default.days
    if row.get("send_days") is not None:
        days = _days(row["send_days"])
    tz = default.tz
    if row.get("timezone"):
        try:
            tz = ZoneInfo(str(row["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"the campaign's timezone {row['timezone']!r} is not a known (IANA) time zone"
            ) from None
    return SendingWindow(tz, start, end, days)


def _days(names: Iterable[str]) -> frozenset[int]:
    wanted = {str(day).strip().lower()[:3] for day in names}
    days = frozenset(i for i, name in enumerate(DAY_NAMES) if name in wanted)
    if not days:
        raise ScheduleError(f"send_days {list(names)!r} names no day")
    return days


def _hours(clock: str) -> float:
    """Hours since midnight of a `time` column's text ('HH:MM' or 'HH:MM:SS')."""
    try:
        parts = [float(p) for p in clock.split(":")]
    except ValueError:
        raise ScheduleError(f"the campaign's send time {clock!r} is not HH:MM") from None
    return sum(part / 60**i for i, part in enumerate(parts[:3]))


def local_day(moment: datetime, window: SendingWindow) -> tuple[datetime, datetime]:
    """The local day `moment` falls in, in the window's time zone, as UTC instants."""
    day = moment.astimezone(window.tz).date()
    start = datetime.combine(day, time(0), tzinfo=window.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=window.tz)
    return start.astimezone(UTC), end.astimezone(UTC)
