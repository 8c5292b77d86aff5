"""Worker processes under test, and their JSON log lines as they are written.

`start_worker` runs `python -m campaign_runner`; `ForkServer.spawn` forks the
same program from an interpreter that imported it once (see `forkserver.py`
for why). Either way the test gets a `Worker`: its pid, its stderr read line
by line by a thread (`Log`), and an Event set when it has exited.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
FORKSERVER = Path(__file__).with_name("forkserver.py")
Event = dict[str, Any]


class Log:
    """A worker's stderr: every line kept, the JSON ones parsed, waited on by predicate."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self.events: list[Event] = []
        self.ended = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                with self._changed:
                    self.lines.append(line)
                    if isinstance(event, dict):
                        self.events.append(event)
                    self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def named(self, name: str) -> list[Event]:
        with self._changed:
            return [event for event in self.events if event.get("event") == name]

    def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = 30.0, start: int = 0
    ) -> tuple[int, Event]:
        """The first event from index `start` on that satisfies `predicate`, and its index.

        Each event is judged once, as it arrives; the predicate may look elsewhere
        (the database) at that moment."""
        deadline = time.monotonic() + timeout
        index = start
        with self._changed:
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    if predicate(event):
                        return index, event
                    index += 1
                left = deadline - time.monotonic()
                if self.ended or left <= 0:
                    why = "the worker's stderr ended" if self.ended else f"{timeout:g} s passed"
                    raise AssertionError(f"{why} before the awaited log event:\n{self.tail()}")
                self._changed.wait(left)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.lines[-lines:])


class Worker:
    def __init__(self, pid: int, stderr: IO[bytes]) -> None:
        self.pid = pid
        self.log = Log(stderr)
        self.exited = threading.Event()
        self.code: int | None = None
        self._also_on_exit: threading.Event | None = None

    def notify_on_exit(self, event: threading.Event) -> None:
        """Set `event` too when the worker exits (at once if it has), so that one wait
        covers "the worker got where we wanted" and "the worker died first"."""
        self._also_on_exit = event
        if self.exited.is_set():
            event.set()

    def ended(self, code: int) -> None:
        self.code = code
        self.exited.set()
        if self._also_on_exit is not None:
            self._also_on_exit.set()

    @property
    def alive(self) -> bool:
        return not self.exited.is_set()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        """A test that failed half-way leaves no worker behind."""
        if self.alive:
            self.kill()

    def kill(self) -> int:
        """SIGKILL: no handler runs, nothing is flushed or written back."""
        return self._signal(signal.SIGKILL)

    def stop(self) -> int:
        """SIGTERM: the worker finishes what is in flight and exits."""
        return self._signal(signal.SIGTERM)

    def _signal(self, signum: int, timeout: float = 30.0) -> int:
        if self.alive:  # once reaped, the pid may be another process's
            with contextlib.suppress(ProcessLookupError):  # died, not reaped yet
                os.kill(self.pid, signum)
        assert self.exited.wait(timeout), f"worker {self.pid} did not exit:\n{self.log.tail()}"
        assert self.code is not None
        return self.code


def start_worker(env: dict[str, str], cwd: Path, *args: str) -> Worker:
    """`python -m campaign_runner [args]`, the way an operator starts it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "campaign_runner", *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    worker = Worker(process.pid, process.stderr)
    threading.Thread(target=lambda: worker.ended(process.wait()), daemon=True).start()
    return worker


class ForkServer:
    """The test's side of `forkserver.py`."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, str(FORKSERVER), str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._channel = ours
        self._spawning = threading.Lock()  # one request at a time, so replies pair up
        self._registry = threading.Lock()
        self._pids: queue.Queue[int] = queue.Queue()
        self._workers: dict[int, Worker] = {}
        self._early_exits: dict[int, int] = {}  # exits told before their worker was registered
        ours.settimeout(60)
        assert json.loads(ours.recv(4096)) == {"ready": True}
        ours.settimeout(None)
        threading.Thread(target=self._listen, daemon=True).start()

    def spawn(self, env: dict[str, str], cwd: Path) -> Worker:
        """A worker as `start_worker` would start it, minus the imports."""
        read_end, write_end = os.pipe()
        request = json.dumps({"env": {"PATH": os.environ["PATH"], **env}, "cwd": str(cwd)})
        with self._spawning:
            socket.send_fds(self._channel, [request.encode()], [write_end])
            os.close(write_end)
            pid = self._pids.get(timeout=30)
        worker = Worker(pid, os.fdopen(read_end, "rb"))
        with self._registry:
            self._workers[pid] = worker
            code = self._early_exits.pop(pid, None)
        if code is not None:
            worker.ended(code)
        return worker

    def close(self) -> None:
        for worker in list(self._workers.values()):
            if worker.alive:
                worker.kill()
        self._channel.shutdown(socket.SHUT_RDWR)  # the server exits when its end reads nothing
        self._channel.close()
        self.process.wait(timeout=30)

    def _listen(self) -> None:
        while message := self._channel.recv(4096):
            notice = json.loads(message)
            if "pid" in notice:
                self._pids.put(notice["pid"])
                continue
            with self._registry:
                worker = self._workers.get(notice["exited"])
                if worker is None:
                    self._early_exits[notice["exited"]] = notice["code"]
                    continue
            worker.ended(notice["code"])
