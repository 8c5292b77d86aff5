"""The worker as deployed: `python -m campaign_runner` (the loop) in a process of its own.

Its settings come only from the environment given here (no `.env`: it runs in
an empty folder), its JSON log goes to a file that the benchmark reads, and it
is stopped the way systemd stops it, with SIGTERM.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ALWAYS_OPEN = {"TIMEZONE": "UTC", "WORK_DAYS": "all", "WORK_START_HOUR": "0", "WORK_END_HOUR": "24"}
STOP_TIMEOUT_SECONDS = 60


class WorkerProcess:
    def __init__(self, environ: dict[str, str], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "worker.log"
        self._log = self.log_path.open("wb")
        settings = {"LOG_FORMAT": "json", "WORKER_ID": "bench", **environ}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "campaign_runner"],
            cwd=folder,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(folder), **settings},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log events called `name`, in order."""
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == name:
                found.append(event)
        return found

    def started_at(self, timeout: float = 30.0) -> float:
        """When the loop began (time.time()): after the start-up checks, before any cycle."""
        deadline = time.monotonic() + timeout
        while not (started := self.events("worker_started")):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {self.log_path.read_text()}")
            time.sleep(0.05)
        return datetime.fromisoformat(started[0]["timestamp"]).timestamp()

    def peak_rss_kb(self) -> int:
        """The high-water mark of its memory so far (VmHWM). Not wait4's ru_maxrss: that
        also counts the memory of this process, which the child shares until its exec."""
        status = Path(f"/proc/{self._process.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1])

    def stop(self) -> tuple[int, resource.struct_rusage]:
        """SIGTERM; then its exit code, and the kernel's account of its life (CPU time)."""
        self._process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while not (found := os.wait4(self._process.pid, os.WNOHANG))[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not stop: {self.log_path}")
            time.sleep(0.05)
        self._process.returncode = os.waitstatus_to_exitcode(found[1])
        self._log.close()
        return self._process.returncode, found[2]

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._log.close()
