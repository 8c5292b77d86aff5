"""The poller's windows: settled, overlapping, inside SparkPost's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign_runner.events.windows import (
    MAX_SPAN,
    OVERLAP,
    RETENTION,
    RETENTION_MARGIN,
    SETTLE,
    Window,
    next_window,
)

NOW = datetime(2026, 11, 30, 12, 0, 30, 250_000, tzinfo=UTC)


def test_the_next_window_overlaps_the_last_and_stays_a_minute_behind_now() -> None:
    read_to = datetime(2026, 11, 30, 11, 50, tzinfo=UTC)

    plan = next_window(read_to, NOW)

    assert plan.window == Window(read_to - OVERLAP, datetime(2026, 11, 30, 11, 59, 30, tzinfo=UTC))
    assert plan.window.end <= NOW - SETTLE
    assert plan.lost is None and plan.warning is None


def test_window_parameters_are_whole_seconds_in_sparkposts_format() -> None:
    plan = next_window(datetime(2026, 11, 30, 11, 50, 7, 900_000, tzinfo=UTC), NOW)

    assert plan.window is not None
    assert plan.window.params() == {"from": "2026-11-30T11:45:07Z", "to": "2026-11-30T11:59:30Z"}


def test_nothing_to_read_when_the_last_window_ended_at_the_settled_edge() -> None:
    assert next_window(NOW - SETTLE, NOW).window is None
    assert next_window(NOW - SETTLE - timedelta(seconds=1), NOW).window is not None


def test_a_poll_far_behind_reads_in_steps_that_still_advance() -> None:
    read_to = NOW - timedelta(days=2)

    first = next_window(read_to, NOW).window
    assert first is not None
    second = next_window(first.end, NOW).window

    assert first.end - first.start == MAX_SPAN
    assert second is not None and second.start == first.end - OVERLAP
    assert second.end > first.end


def test_the_first_poll_reads_what_sparkpost_still_keeps() -> None:
    plan = next_window(None, NOW)

    assert plan.window is not None
    assert plan.window.start >= NOW - RETENTION + RETENTION_MARGIN
    assert plan.window.start <= NOW - RETENTION + RETENTION_MARGIN + timedelta(seconds=1)
    assert plan.lost is None


def test_a_position_older_than_retention_is_reported_and_capped() -> None:
    read_to = NOW - RETENTION - timedelta(hours=3)

    plan = next_window(read_to, NOW)

    assert plan.window is not None
    assert plan.window.start >= NOW - RETENTION + RETENTION_MARGIN
    assert plan.lost is not None and plan.lost > timedelta(hours=3)
    assert plan.warning is not None and "never read" in plan.warning


def test_a_span_no_longer_than_the_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match="never advance"):
        next_window(NOW - timedelta(hours=1), NOW, max_span=OVERLAP)
