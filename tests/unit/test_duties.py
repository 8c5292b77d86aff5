"""The timed duties' scheduler, on a clock the test moves by hand."""

from __future__ import annotations

import math

import pytest
from structlog.testing import capture_logs

from campaign_runner.duties import Backoff, Duties, Duty
from campaign_runner.errors import StoreUnavailable

LIMIT = 900.0  # MAX_BACKOFF_SECONDS' default


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Runs:
    """A duty's body that records each run, raising what it is told to."""

    def __init__(self, clock: Clock, *raises: Exception | None) -> None:
        self.clock = clock
        self.raises = list(raises)
        self.at: list[float] = []

    def __call__(self) -> None:
        self.at.append(self.clock.now)
        if self.raises and (error := self.raises.pop(0)) is not None:
            raise error


def test_a_duty_is_due_at_once_then_every_n_seconds_from_the_end_of_its_run() -> None:
    clock = Clock()
    runs = Runs(clock)
    duties = Duties([Duty("poll", 300, runs)], LIMIT, clock)
    duties.run_due(window_open=True)
    assert runs.at == [1000.0]
    assert duties.seconds_until_next(window_open=True) == 300
    clock.now += 299
    duties.run_due(window_open=True)
    assert runs.at == [1000.0]  # not yet
    assert duties.seconds_until_next(window_open=True) == 1
    clock.now += 1
    duties.run_due(window_open=True)
    assert runs.at == [1000.0, 1300.0]


def test_each_duty_keeps_its_own_clock() -> None:
    clock = Clock()
    fast, slow = Runs(clock), Runs(clock)
    duties = Duties([Duty("fast", 10, fast), Duty("slow", 25, slow)], LIMIT, clock)
    for _ in range(6):
        duties.run_due(window_open=True)
        clock.now += duties.seconds_until_next(window_open=True)
    assert fast.at == [1000.0, 1010.0, 1020.0, 1030.0, 1040.0]
    assert slow.at == [1000.0, 1025.0]


def test_a_window_only_duty_waits_while_the_window_is_closed_and_the_others_do_not() -> None:
    clock = Clock()
    recovery, beat = Runs(clock), Runs(clock)
    duties = Duties(
        [Duty("recovery", 225, recovery, in_window_only=True), Duty("beat", 30, beat)],
        LIMIT,
        clock,
    )
    assert [d.name for d in duties.due(window_open=False)] == ["beat"]
    duties.run_due(window_open=False)
    assert (recovery.at, beat.at) == ([], [1000.0])
    assert duties.seconds_until_next(window_open=False) == 30
    clock.now += 8 * 3600  # a night: the recovery that came due meanwhile waits for morning
    duties.run_due(window_open=True)
    assert (recovery.at, beat.at) == ([clock.now], [1000.0, clock.now])


def test_with_only_window_duties_a_closed_window_waits_for_nothing() -> None:
    clock = Clock()
    duties = Duties([Duty("recovery", 225, Runs(clock), in_window_only=True)], LIMIT, clock)
    assert duties.seconds_until_next(window_open=False) == math.inf
    assert duties.seconds_until_next(window_open=True) == 0


@pytest.mark.parametrize(
    ("error", "event"),
    [(RuntimeError("a bug"), "duty_failed"), (StoreUnavailable("db down"), "duty_backing_off")],
)
def test_a_failing_duty_is_logged_backed_off_and_the_others_still_run(
    error: Exception, event: str
) -> None:
    clock = Clock()
    failing = Runs(clock, error, error, error, error, error, None)
    other = Runs(clock)
    duties = Duties([Duty("events", 300, failing), Duty("beat", 100, other)], LIMIT, clock)
    with capture_logs() as logs:
        for _ in range(6):
            clock.now += 1000  # due again whichever wait it has
            duties.run_due(window_open=True)
    assert len(other.at) == 6  # never held up by its neighbour's failures
    failures = [e for e in logs if e["event"] == event]
    assert [e["duty"] for e in failures] == ["events"] * 5
    # Its period, then doubling up to MAX_BACKOFF_SECONDS; a success goes back to the period.
    assert [e["retry_in_seconds"] for e in failures] == [300, 600, 900, 900, 900]
    assert duties.seconds_until_next(window_open=True) == 100  # beat, just run; events in 300
    assert [d.name for d in duties.due(window_open=True)] == []
    clock.now += 300
    assert [d.name for d in duties.due(window_open=True)] == ["events", "beat"]


def test_the_back_off_never_waits_less_than_the_period_of_a_slow_duty() -> None:
    clock = Clock()
    runs = Runs(clock, RuntimeError("a bug"))
    duties = Duties([Duty("daily", 86400, runs)], LIMIT, clock)
    duties.run_due(window_open=True)
    assert duties.seconds_until_next(window_open=True) == 86400


def test_backoff_doubles_from_first_to_most_and_starts_over_after_a_success() -> None:
    backoff = Backoff(first=60, most=900)
    assert [backoff.failed() for _ in range(6)] == [60, 120, 240, 480, 900, 900]
    backoff.succeeded()
    assert backoff.failed() == 60
