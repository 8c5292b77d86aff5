"""Timed duties: what the worker does every N seconds besides sending.

Stale recovery and the heartbeat today. A duty runs on the main thread, whenever
the loop would otherwise wait (between cycles, in the poll and back-off sleeps, and
all night while the sending window is closed, unless it is `in_window_only`), so two
runs of one duty never overlap and the duties share no state with each other that
needs a lock. A duty that raises is logged and backed off; it never ends the loop,
and the other duties keep their clocks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from .errors import SystemicError, TransientError

log = structlog.get_logger("campaign_runner")


@dataclass(frozen=True)
class Duty:
    name: str  # in the log lines of its failures
    every_seconds: float  # from the end of one run to the start of the next
    run: Callable[[], object]  # what it returns is ignored
    in_window_only: bool = False  # True: never due while the sending window is closed


@dataclass
class Backoff:
    """The loop's rule after a failure: wait `first`, then twice as long each time in a
    row, never more than `most`; a success starts it over."""

    first: float
    most: float
    seconds: float = 0.0  # the last wait, 0 after a success

    def failed(self) -> float:
        self.seconds = min(max(self.seconds * 2, self.first), self.most)
        return self.seconds

    def succeeded(self) -> None:
        self.seconds = 0.0


class Duties:
    """When each duty is due, and running those that are. Every duty is due at once
    when the scheduler is made (the worker looks for expired leases before its first
    claim); after a run it is due `every_seconds` later. After a failure it waits the
    loop's back-off instead, starting from its own period and doubling up to
    `backoff_limit_seconds` (or its period, if that is longer)."""

    def __init__(
        self,
        duties: Iterable[Duty],
        backoff_limit_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._duties = list(duties)
        now = clock()
        self._next = {duty.name: now for duty in self._duties}
        self._backoff = {
            duty.name: Backoff(duty.every_seconds, max(duty.every_seconds, backoff_limit_seconds))
            for duty in self._duties
        }

    def due(self, window_open: bool) -> list[Duty]:
        now = self.clock()
        return [d for d in self._eligible(window_open) if self._next[d.name] <= now]

    def seconds_until_next(self, window_open: bool) -> float:
        """0 when one is due now; infinity when none can come due (the window is closed
        and every duty waits for it)."""
        nexts = [self._next[d.name] for d in self._eligible(window_open)]
        return max(min(nexts) - self.clock(), 0.0) if nexts else math.inf

    def run_due(self, window_open: bool) -> None:
        """Run every duty that is due, one after the other, in the order they were given."""
        for duty in self.due(window_open):
            self._run(duty)

    def _eligible(self, window_open: bool) -> list[Duty]:
        return [d for d in self._duties if window_open or not d.in_window_only]

    def _run(self, duty: Duty) -> None:
        backoff = self._backoff[duty.name]
        try:
            duty.run()
        except (SystemicError, TransientError) as exc:  # database down, a 429: no traceback
            wait = backoff.failed()
            log.error("duty_backing_off", duty=duty.name, retry_in_seconds=wait, reason=str(exc))
        except Exception as exc:  # a bug in one duty must not stop the worker or the others
            wait = backoff.failed()
            log.exception("duty_failed", duty=duty.name, retry_in_seconds=wait, error=str(exc))
        else:
            backoff.succeeded()
            wait = duty.every_seconds
        self._next[duty.name] = self.clock() + wait
