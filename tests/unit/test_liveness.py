"""systemd's watchdog settings, as a worker reads them from its environment."""

from __future__ import annotations

import os

from campaign_runner.liveness import Liveness

TEN_SECONDS = "10000000"  # WATCHDOG_USEC


def test_the_watchdog_sets_the_ping_interval_to_half_of_it() -> None:
    for environ in (
        {"WATCHDOG_USEC": TEN_SECONDS},
        {"WATCHDOG_USEC": TEN_SECONDS, "WATCHDOG_PID": str(os.getpid())},
    ):
        assert Liveness(None, environ).ping_interval(60) == 5, environ
    assert Liveness(None, {}).ping_interval(60) == 60


def test_a_watchdog_meant_for_another_process_is_not_this_one_s() -> None:
    # systemd names the main process; a child started from its environment (a helper,
    # a `--once` run from a script) must not take that process's watchdog for its own.
    other = str(os.getppid())
    liveness = Liveness(None, {"WATCHDOG_USEC": TEN_SECONDS, "WATCHDOG_PID": other})
    assert liveness.ping_interval(60) == 60
