"""The sending window: which instants may send, and when the next one opens.

All arithmetic is done on local wall-clock dates and converted through
zoneinfo, so a window of 09:00-17:00 stays 09:00-17:00 local on the days
daylight saving starts or ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SendingWindow:
    tz: ZoneInfo
    start_hour: int
    end_hour: int  # exclusive; 24 means midnight at the end of the day
    days: frozenset[int]  # Monday is 0

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return local.weekday() in self.days and self.start_hour <= local.hour < self.end_hour

    def next_open(self, now: datetime) -> datetime:
        """The first instant at or after `now` inside the window, in UTC."""
        if self.is_open(now):
            return now.astimezone(UTC)
        today = now.astimezone(self.tz).date()
        for offset in range(8):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = self._opening(day)
            if opens > now:
                return opens
        raise AssertionError("a window with at least one day opens within a week")

    def openings(self, now: datetime, days: int) -> list[tuple[datetime, datetime]]:
        """The spans the window is open, from the one `now` is in (or the next) to
        `days` local days ahead, as UTC instants [opens, closes). Spans that meet (a
        window open until midnight and again from midnight) are one span, so nothing
        that may send now is cut off at a midnight it may send through."""
        spans: list[tuple[datetime, datetime]] = []
        today = now.astimezone(self.tz).date()
        for offset in range(-1, days + 1):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens, closes = self._opening(day), self._closing(day)
            if closes <= now:
                continue
            if spans and spans[-1][1] == opens:
                opens = spans.pop()[0]
            spans.append((opens, closes))
        return spans

    def _closing(self, day: date) -> datetime:
        if self.end_hour == 24:
            local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)
        else:
            local = datetime.combine(day, time(self.end_hour), tzinfo=self.tz)
        return local.astimezone(UTC)

    def _opening(self, day: date) -> datetime:
        # A start hour that falls in a spring-forward gap (02:00 on the
        # changeover day) does not exist on the wall clock; fold=0 maps it to
        # the first real instant after the gap, which is when the window opens.
        local = datetime.combine(day, time(self.start_hour), tzinfo=self.tz)
        return local.astimezone(UTC)
