"""The leases this worker holds, kept alive for as long as it holds them.

A row's lease runs `LEASE_SECONDS` from its `locked_at`: the claim sets it, the
start of the send sets it again, and `Leases` renews it for every row the worker
still holds (waiting for a thread, being generated or sent, SparkPost being
retried, an outcome kept because the database was down), all of them in one
statement, every `LEASE_SECONDS / RENEWALS_PER_LEASE`. Stale recovery by any
worker then means what it says: the holder stopped renewing, so it is dead or cut
off from the database.

Renewal runs on a thread of its own rather than as a duty of the main thread: a
cycle that waits for its emails (a stalled SparkPost, a slow Groq) keeps the main
thread for as long as they take, and the leases of those very emails are the ones
that must not run out meanwhile. The thread needs only the held ids and the store,
which serialises its calls under its own lock. Its clock is fixed: a failure is
tried again one period later, never backed off, since the leases keep running out
at the same pace whatever the database does.

A renewal that fails (the database is down) clears `can_send`: the pipeline starts
no new send and claims nothing until a renewal succeeds again, because a send
started on a lease that may run out before the outcome is written is the one that
turns ambiguous. A worker holding nothing renews nothing, and says nothing to the
database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

import structlog

from .errors import StoreUnavailable

log = structlog.get_logger("campaign_runner")

# Three renewals a lease: one failed renewal still leaves two thirds of the lease to
# try again in, and two in a row a third.
RENEWALS_PER_LEASE = 3


class Renewing(Protocol):
    """The store's side of renewal (`Store.renew_leases`)."""

    def renew_leases(self, worker_id: str, ids: list[str], now: datetime) -> int: ...


class Leases:
    def __init__(
        self,
        store: Renewing,
        worker_id: str,
        lease_seconds: float,
        clock: Callable[[], datetime],
        thread_setup: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.thread_setup = thread_setup  # run first on the renewal thread (signal masks)
        self.worker_id = worker_id
        self.clock = clock
        self.every_seconds = lease_seconds / RENEWALS_PER_LEASE
        self._held: set[str] = set()
        self._held_lock = threading.Lock()
        self._renewing = threading.Lock()  # one renewal at a time, so the flag ends true
        self._can_send = threading.Event()
        self._can_send.set()
        self._why_not = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what is held -------------------------------------------------------

    def hold(self, ids: Iterable[str]) -> None:
        """Rows just claimed: renewed from now on, until `release`."""
        with self._held_lock:
            self._held.update(ids)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
                self._thread.start()

    def release(self, email_id: str) -> None:
        """The row's outcome is written, or the row is no longer ours."""
        with self._held_lock:
            self._held.discard(email_id)

    def held(self) -> list[str]:
        with self._held_lock:
            return sorted(self._held)

    # -- renewal --------------------------------------------------------------

    @property
    def can_send(self) -> bool:
        """False from a failed renewal until one succeeds: no new send may start."""
        return self._can_send.is_set()

    @property
    def why_not(self) -> str:
        """Why the last renewal failed (for the log lines that stop a send)."""
        return self._why_not

    def renew(self) -> bool:
        """Renew every held lease in one statement (none when nothing is held). Whether
        it worked; a failure clears `can_send` until the next success."""
        with self._renewing:
            ids = self.held()
            if not ids:
                self._succeeded(0, 0)
                return True
            try:
                renewed = self.store.renew_leases(self.worker_id, ids, self.clock())
            except StoreUnavailable as exc:
                self._failed(len(ids), str(exc))
                return False
            except Exception as exc:  # a bug: fail safe (no new sends), say so, keep going
                log.exception("lease_renewal_failed", held=len(ids), error=str(exc))
                self._failed(len(ids), f"{type(exc).__name__}: {exc}")
                return False
            self._succeeded(len(ids), renewed)
            return True

    def _failed(self, held: int, reason: str) -> None:
        self._why_not = reason
        log.error(
            "lease_renewal_failed",
            held=held,
            error=reason,
            retry_in_seconds=round(self.every_seconds, 3),
            new_sends="stopped until a renewal succeeds",
        )
        self._can_send.clear()

    def _succeeded(self, held: int, renewed: int) -> None:
        if not self._can_send.is_set():
            log.warning("lease_renewal_resumed", held=held, renewed=renewed)
        self._why_not = ""
        self._can_send.set()

    def _run(self) -> None:
        self.thread_setup()
        while not self._stop.wait(self.every_seconds):
            self.renew()

    def close(self) -> None:
        """Stop renewing (the process is ending: what it still holds runs out)."""
        self._stop.set()
        with self._held_lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
