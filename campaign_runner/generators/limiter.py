"""Staying under Groq's per-minute limits, for every thread of the process at once.

Groq counts requests and tokens per organisation, so the worker's threads
share one `Limiter` (see `shared`). Requests are spaced evenly, one every
`period / rpm`, rather than let through in a burst: a burst at the start of
a minute is what a sliding-window limit answers with 429. Besides, a log of
the last `period` seconds holds every request with its tokens, and no
request leaves while the log is full of either. A request books its worst
case (prompt estimate plus the most it may write) and settles to what Groq
reports it used, so the log tracks the real spend.

A 429 means someone else is using the same quota (another worker, another
program): `pause` then holds every thread until Groq's `retry-after`, since
asking again sooner only earns more 429s.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# Aim a little under the limits: our clock and Groq's see a request at
# slightly different moments, and a request on the edge of a window is a 429.
HEADROOM = 0.97


class Paused(Exception):
    """The limiter is paused for longer than the caller is willing to wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"paused for another {seconds:.0f} s")
        self.seconds = seconds


@dataclass(eq=False)  # each booking is itself, whatever its numbers
class Spend:
    """One request's tokens in the log; `settle` corrects its reservation."""

    at: float
    tokens: int
    counted: bool = True
    waited: bool = False  # it could not leave at once: a wait of our own to stay under limits


class Limiter:
    def __init__(
        self,
        rpm: int,
        tpm: int,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.period = period
        self.rpm = rpm
        self.interval = period / (rpm * HEADROOM)
        self.capacity = max(int(tpm * HEADROOM), 1)
        self._clock = clock
        self._changed = threading.Condition()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._log: deque[Spend] = deque()  # the last period's requests, in order of `at`
        self._tokens = 0  # their sum

    def acquire(self, tokens: int, max_wait: float) -> Spend:
        """Block until one request of up to `tokens` tokens may go out, and book it.

        Raises `Paused` at once when a pause has longer than `max_wait` to run,
        rather than hold a thread (and its row) for that long.
        """
        cost = min(tokens, self.capacity)  # a request bigger than the budget waits for all of it
        waited = False
        with self._changed:
            while True:
                now = self._clock()
                paused = self._paused_until - now
                if paused > max_wait:
                    raise Paused(paused)
                self._forget(now)
                wait = max(paused, self._next_slot - now, self._log_wait(cost, now))
                if wait <= 0:
                    self._next_slot = max(self._next_slot, now) + self.interval
                    spend = Spend(now, cost, waited=waited)
                    self._log.append(spend)
                    self._tokens += cost
                    return spend
                self._changed.wait(wait)
                waited = True

    def settle(self, spend: Spend, tokens: int) -> None:
        """Once the request is over: its tokens become what Groq says it used (or stay
        as booked when Groq said nothing), and it is dated again to now.

        Groq dates a request when it arrives, which is later than our booking;
        dated at the answer, an entry never leaves our window before Groq's.
        """
        with self._changed:
            if spend.counted:
                self._log.remove(spend)
                self._tokens += tokens - spend.tokens
                spend.tokens, spend.at = tokens, self._clock()
                self._log.append(spend)  # now the latest, so the log stays in order
            self._changed.notify_all()

    def pause(self, seconds: float) -> None:
        """No request leaves this process for `seconds` (Groq's retry-after)."""
        with self._changed:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._changed.notify_all()

    def _forget(self, now: float) -> None:
        while self._log and self._log[0].at <= now - self.period:
            gone = self._log.popleft()
            gone.counted = False
            self._tokens -= gone.tokens

    def _log_wait(self, cost: int, now: float) -> float:
        """Seconds until the window has room for one more request of `cost` tokens:
        until enough of the oldest entries have left it."""
        leaving = max(len(self._log) + 1 - self.rpm, 0)  # entries that must go for the count
        excess = self._tokens + cost - self.capacity
        free_at = now
        for index, spend in enumerate(self._log):
            if index >= leaving and excess <= 0:
                break
            excess -= spend.tokens
            free_at = spend.at + self.period
        return free_at - now


_shared: Limiter | None = None
_shared_lock = threading.Lock()


def shared(rpm: int, tpm: int) -> Limiter:
    """The process's one limiter: every generator made in this process draws on it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Limiter(rpm, tpm)
        return _shared
