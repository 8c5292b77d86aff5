"""The sending window, including the two daylight-saving days of America/Los_Angeles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign_runner.config import parse_work_days
from campaign_runner.window import SendingWindow

LA = ZoneInfo("America/Los_Angeles")
WEEKDAYS = parse_work_days("mon-fri")
WINDOW = SendingWindow(LA, 9, 17, WEEKDAYS)


def la(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=LA, fold=fold)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (la(2026, 11, 23, 12, 0), True),  # Monday noon
        (la(2026, 11, 23, 9, 0), True),  # opens at 09:00 sharp
        (la(2026, 11, 23, 8, 59, 59), False),
        (la(2026, 11, 23, 16, 59, 59), True),
        (la(2026, 11, 23, 17, 0), False),  # closes at 17:00 sharp
        (la(2026, 11, 21, 12, 0), False),  # Saturday
        (la(2026, 11, 22, 12, 0), False),  # Sunday
        (la(2026, 11, 27, 16, 30), True),  # Friday
    ],
)
def test_open_and_closed(moment: datetime, is_open: bool) -> None:
    assert WINDOW.is_open(moment) is is_open
    assert WINDOW.is_open(moment.astimezone(UTC)) is is_open


def test_the_window_is_local_time_on_both_sides_of_a_dst_change() -> None:
    # 09:00 local is 17:00 UTC in winter (PST) and 16:00 UTC in summer (PDT).
    assert WINDOW.is_open(datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    assert not WINDOW.is_open(datetime(2026, 1, 5, 16, 30, tzinfo=UTC))
    assert WINDOW.is_open(datetime(2026, 7, 6, 16, 0, tzinfo=UTC))
    assert not WINDOW.is_open(datetime(2026, 7, 6, 15, 30, tzinfo=UTC))


def test_next_open_within_the_window_is_now() -> None:
    now = la(2026, 11, 23, 10, 15)
    assert WINDOW.next_open(now) == now


def test_next_open_before_the_window_is_today() -> None:
    assert WINDOW.next_open(la(2026, 11, 23, 6, 0)) == la(2026, 11, 23, 9, 0)


def test_next_open_after_friday_close_is_monday() -> None:
    assert WINDOW.next_open(la(2026, 11, 27, 17, 0)) == la(2026, 11, 30, 9, 0)
    assert WINDOW.next_open(la(2026, 11, 28, 11, 0)) == la(2026, 11, 30, 9, 0)


def test_sleeping_over_spring_forward_is_one_hour_shorter() -> None:
    # Friday 2026-03-06 17:00 PST to Monday 2026-03-09 09:00 PDT: 64 h less the lost hour.
    closed = la(2026, 3, 6, 17, 0)
    opens = WINDOW.next_open(closed)
    assert opens == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 09:00 PDT
    assert (opens - closed).total_seconds() == 63 * 3600


def test_sleeping_over_fall_back_is_one_hour_longer() -> None:
    closed = la(2026, 10, 30, 17, 0)  # Friday, PDT
    opens = WINDOW.next_open(closed)
    assert opens == datetime(2026, 11, 2, 17, 0, tzinfo=UTC)  # Monday 09:00 PST
    assert (opens - closed).total_seconds() == 65 * 3600


def test_a_window_that_opens_inside_the_spring_forward_gap() -> None:
    # 02:00 does not exist on 2026-03-08; the window opens at the first real instant, 03:00 PDT.
    window = SendingWindow(LA, 2, 5, parse_work_days("all"))
    opens = window.next_open(la(2026, 3, 8, 0, 30))
    assert opens == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    assert opens.astimezone(LA).hour == 3
    assert window.is_open(opens)


def test_on_fall_back_day_the_repeated_hour_is_inside_an_early_window() -> None:
    window = SendingWindow(LA, 1, 3, parse_work_days("all"))
    assert window.is_open(la(2026, 11, 1, 1, 30, fold=0))  # PDT
    assert window.is_open(la(2026, 11, 1, 1, 30, fold=1))  # PST, an hour later
    # PEP 495: an ambiguous local time never equals an instant of another zone, so compare in UTC.
    assert window.next_open(la(2026, 11, 1, 0, 0)) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_zero_to_twenty_four_every_day_never_closes() -> None:
    window = SendingWindow(LA, 0, 24, parse_work_days("all"))
    for hour in range(24):
        assert window.is_open(la(2026, 3, 8, hour if hour != 2 else 3))


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed,fri", {0, 2, 4}),
        ("all", set(range(7))),
        ("sat-sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("Tuesday, Thursday", {1, 3}),
    ],
)
def test_work_days(text: str, days: set[int]) -> None:
    assert parse_work_days(text) == frozenset(days)


@pytest.mark.parametrize("text", ["funday", "", "mon-", "1-5", "mo"])
def test_bad_work_days(text: str) -> None:
    with pytest.raises((ValueError, IndexError)):
        parse_work_days(text)


def test_openings_start_with_the_span_now_is_in_and_skip_the_weekend() -> None:
    spans = WINDOW.openings(la(2026, 11, 27, 12, 0), 4)  # Friday noon
    assert [(o.astimezone(LA), c.astimezone(LA)) for o, c in spans] == [
        (la(2026, 11, 27, 9, 0), la(2026, 11, 27, 17, 0)),
        (la(2026, 11, 30, 9, 0), la(2026, 11, 30, 17, 0)),
        (la(2026, 12, 1, 9, 0), la(2026, 12, 1, 17, 0)),
    ]
    assert all(WINDOW.is_open(o) and not WINDOW.is_open(c) for o, c in spans)


def test_openings_after_the_close_begin_with_the_next_day() -> None:
    (first, *_) = WINDOW.openings(la(2026, 11, 23, 17, 0), 2)
    assert first == (la(2026, 11, 24, 9, 0).astimezone(UTC), la(2026, 11, 24, 17, 0))


def test_openings_keep_local_hours_across_a_dst_change() -> None:
    spans = WINDOW.openings(la(2026, 10, 29, 12, 0), 4)  # Thursday; fall back on Sunday
    assert [o.astimezone(LA) for o, _ in spans] == [
        la(2026, 10, 29, 9, 0),
        la(2026, 10, 30, 9, 0),
        la(2026, 11, 2, 9, 0),
    ]
    assert [o.astimezone(UTC).hour for o, _ in spans] == [16, 16, 17]  # PDT, PDT, PST
    assert all(c - o == timedelta(hours=8) for o, c in spans)


def test_openings_that_meet_at_midnight_are_one_span() -> None:
    nights = SendingWindow(LA, 0, 24, parse_work_days("mon,tue,thu"))
    spans = nights.openings(la(2026, 11, 23, 12, 0), 7)  # Monday
    assert spans == [
        (la(2026, 11, 23, 0, 0), la(2026, 11, 25, 0, 0)),
        (la(2026, 11, 26, 0, 0), la(2026, 11, 27, 0, 0)),
        (la(2026, 11, 30, 0, 0), la(2026, 12, 1, 0, 0)),
    ]
