"""Forks worker processes from an interpreter that has already imported the worker.

Run as `python forkserver.py FD`, FD being one end of an AF_UNIX SOCK_SEQPACKET
pair. Why: starting `python -m campaign_runner` costs about two seconds of CPU
(groq, supabase, psycopg, pydantic imports), so twenty-odd crash-and-restart
rounds would take a minute of a 2-core machine in imports alone. A child forked
here is a fresh OS process running the very code `python -m campaign_runner`
runs (`cli.main()`), with its own environment, pid, connections and threads,
killed by a real SIGKILL; only the imports are done once, before any thread or
connection exists.

Messages (one JSON object per packet):
- in: `{"env": {...}, "cwd": "..."}` with one file descriptor (the write end of
  the child's stderr pipe); out: `{"pid": N}`;
- out: `{"exited": N, "code": C}` when a child ends (C negative: killed by signal -C);
- out: `{"ready": true}` once, after the imports.
The server exits when the other end of the socket closes, and kills the workers still
running: none outlives the test.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading
import traceback

from campaign_runner import cli  # everything the worker imports, imported once here


def main(fd: int) -> None:
    channel = socket.socket(fileno=fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to write to the wake-up pipe
    assert threading.active_count() == 1, "a fork must not copy other threads' locks"
    children: set[int] = set()
    channel.send(json.dumps({"ready": True}).encode())
    try:
        while True:
            readable, _, _ = select.select([channel, wake_read], [], [])
            if wake_read in readable:
                os.read(wake_read, 4096)
                reap(channel, children)
            if channel in readable:
                message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 1)
                if not message:
                    return
                pid = os.fork()
                if pid == 0:
                    channel.close()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    os.close(wake_read)
                    os.close(wake_write)
                    run_worker(json.loads(message), fds[0])
                children.add(pid)
                os.close(fds[0])
                channel.send(json.dumps({"pid": pid}).encode())
    finally:
        for pid in children:  # the test is gone: no worker outlives it
            os.kill(pid, signal.SIGKILL)


def reap(channel: socket.socket, children: set[int]) -> None:
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        channel.send(json.dumps({"exited": pid, "code": code}).encode())


def run_worker(request: dict, stderr_fd: int) -> None:
    """In the child: become `python -m campaign_runner` with the requested environment."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(stderr_fd, 2)
    os.close(stderr_fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["campaign_runner"]
    try:
        code = cli.main([])
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(int(sys.argv[1]))
