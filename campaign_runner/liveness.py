"""Telling supervisors the worker is alive: systemd's notify protocol and a heartbeat file.

systemd (`Type=notify`, `WatchdogSec=`) reads datagrams on `NOTIFY_SOCKET`;
Docker's HEALTHCHECK and other monitors read the heartbeat file's age
through `campaign-runner health`. Both are pinged on every cycle and while
the worker sleeps, so a night outside the sending window is not mistaken
for a hang.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


class Liveness:
    def __init__(self, heartbeat_file: Path | None, environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self.heartbeat_file = heartbeat_file
        self._socket_path = env.get("NOTIFY_SOCKET", "")
        if self._socket_path.startswith("@"):  # Linux abstract namespace
            self._socket_path = "\0" + self._socket_path[1:]
        watchdog_usec = int(env.get("WATCHDOG_USEC", "0") or 0)
        watchdog_pid = env.get("WATCHDOG_PID")
        if watchdog_pid and watchdog_pid != str(os.getpid()):
            watchdog_usec = 0  # the watchdog was meant for another process
        self.watchdog_seconds = watchdog_usec / 1_000_000

    def ping_interval(self, poll_interval: float) -> float:
        """How often to ping while sleeping: half the watchdog, and at least every poll."""
        if self.watchdog_seconds:
            return min(poll_interval, self.watchdog_seconds / 2)
        return poll_interval

    def ready(self) -> None:
        self._notify("READY=1")
        self.beat()

    def beat(self) -> None:
        self._notify("WATCHDOG=1")
        if self.heartbeat_file is not None:
            self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
            self.heartbeat_file.touch()

    def stopping(self) -> None:
        self._notify("STOPPING=1")

    def _notify(self, state: str) -> None:
        if not self._socket_path:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), self._socket_path)


def heartbeat_age(heartbeat_file: Path) -> float | None:
    """Seconds since the last beat, or None when there never was one."""
    try:
        return time.time() - heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        return None


def heartbeat_limit(poll_interval: float) -> float:
    """Older than this, the worker is taken to be stuck: three missed polls and a minute."""
    return 3 * poll_interval + 60
