"""One cycle of the worker, top to bottom.

    recover stale leases -> claim due rows -> for each row, concurrently:
        check recipient -> content (saved or generated) -> render
        -> start_send (content and send_started_at recorded) -> send -> finish
    -> roll up campaigns -> one summary line

Meanwhile `leases` renews the lease of every row claimed and not yet settled.

Every failure is classified (see `errors`) and turned into exactly one
outcome by `_outcome_for`; no adapter decides a row's fate. A systemic
error (bad key, database down) stops the cycle: rows not yet started go back
to `queued` with their attempt given back, and the worker backs off.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import structlog
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from .config import Config
from .errors import (
    AmbiguousError,
    LeaseLost,
    RecipientRejected,
    RowError,
    StoreUnavailable,
    SystemicError,
    TransientError,
)
from .leases import Leases
from .metrics import Metrics
from .models import (
    AMBIGUOUS,
    FAILED,
    INTERRUPTED,
    QUEUED,
    SENT,
    SYSTEM,
    TRANSIENT,
    Content,
    Email,
    Message,
    Outcome,
)
from .ports import BounceGuard, Generator, Pacing, Sender, Store
from .recipients import checked_recipient
from .render import Renderer, personalize

log = structlog.get_logger("campaign_runner")

Clock = Callable[[], datetime]


def leave_stop_signals_to_main_thread() -> None:
    """Block SIGTERM/SIGINT in the calling (non-main) thread.

    The kernel hands a process's signal to any thread that does not block it.
    Delivered to a helper thread, it would not wake the main thread from a
    blocking wait, and the stop would go unnoticed until that wait ended.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


def utc_now() -> datetime:
    return datetime.now(UTC)


def pacing_for(config: Config, now: datetime) -> Pacing:
    """The configured pacing, with the cap's day starting at local midnight."""
    local_midnight = now.astimezone(config.timezone).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return Pacing(
        min_interval_seconds=config.domain_min_interval_seconds,
        daily_cap=config.domain_daily_cap,
        day_start=local_midnight.astimezone(UTC),
    )


@dataclass
class CycleReport:
    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    recovered: Counter[str] = field(default_factory=Counter)
    systemic: str | None = None  # why the cycle stopped early, if it did
    duration_ms: int = 0
    more_due: bool = False  # the last claim came back full: more is probably due now


class Pipeline:
    def __init__(
        self,
        config: Config,
        store: Store,
        generator: Generator,
        sender: Sender,
        renderer: Renderer,
        clock: Clock = utc_now,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.generator = generator
        self.sender = sender
        self.renderer = renderer
        self.clock = clock
        # Counted whether or not anyone reads them: served on /metrics with HTTP_LISTEN.
        self.metrics = metrics or Metrics()
        self.guard = BounceGuard(
            pause_rate=config.bounce_pause_rate,
            complaint_rate=config.complaint_pause_rate,
            complaint_min=config.complaint_min_delivered,
        )
        self.stopping = threading.Event()  # set by the first stop signal
        self._halt_reason: str | None = None
        self._halted_domains: set[str] = set()
        self._halt_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=config.concurrency,
            thread_name_prefix="email",
            initializer=leave_stop_signals_to_main_thread,
        )
        self._unstarted = 0  # rows handed to the pool that no thread has picked up yet
        self._started = threading.Condition()
        # Outcomes the database was down for, by email id: written first thing next cycle.
        self._pending: dict[str, _Pending] = {}
        self._pending_lock = threading.Lock()
        self.leases = Leases(
            store, config.worker_id, config.lease_seconds, clock, leave_stop_signals_to_main_thread
        )

    # -- a cycle ------------------------------------------------------------

    def run_cycle(
        self,
        pacing: Pacing | None = None,
        more: Callable[[], bool] | None = None,
        recover: bool = True,
        bound_only: bool = False,
    ) -> CycleReport:
        """Claim one batch and process it. With `more`, a full batch is followed by the
        next claim as soon as every claimed row has started, for as long as `more()`
        allows: the threads then never sit idle waiting for a batch's slowest email.
        `recover=False` skips the look for expired leases (the worker's timed duty
        `recover()` does it instead). `bound_only`: see `Store.claim`."""
        started = time.monotonic()
        report = CycleReport()
        self._halt_reason = None
        self._halted_domains = set()
        written_late = self.write_pending_outcomes()
        now = self.clock()
        if recover:
            report.recovered = self._recover_stale(now)
        if not self.stopping.is_set() and self._leases_renewed():
            claimed = self._claim_and_start(now, pacing, more, report, bound_only)
            self._tally(claimed, report, wait=True)
        if report.claimed or report.recovered or written_late:
            self._roll_up()
        report.systemic = self._halt_reason
        seconds = time.monotonic() - started
        report.duration_ms = int(seconds * 1000)
        self.metrics.cycle(seconds)
        log.info(
            "cycle",
            claimed=report.claimed,
            sent=report.outcomes[SENT],
            failed=report.outcomes[FAILED],
            requeued=report.outcomes[QUEUED],
            recovered=sum(report.recovered.values()),
            duration_ms=report.duration_ms,
            **({"halted": report.systemic} if report.systemic else {}),
        )
        return report

    def _leases_renewed(self) -> bool:
        """Whether new leases may be taken: after a failed renewal, only once one has
        worked again (tried here once more, so a database back from an outage is used
        at once rather than at the next tick of the renewal clock)."""
        if self.leases.can_send or self.leases.renew():
            return True
        self._halt(f"cannot renew leases: {self.leases.why_not}")
        return False

    def recover(self) -> Counter[str]:
        """Settle the rows whose lease ran out, between cycles (a timed duty of the
        worker). This worker's pending outcomes go first: once their own lease ran out,
        recovery would take an email known to be sent for an ambiguous one."""
        written = self.write_pending_outcomes()
        recovered = self._recover_stale(self.clock())
        if recovered or written:
            self._roll_up()
        return recovered

    def _recover_stale(self, now: datetime) -> Counter[str]:
        recovered = self.store.recover_stale(
            self.config.lease_seconds, self.config.max_attempts, now
        )
        if recovered:
            log.warning("recovered_stale_rows", **recovered)
        return recovered

    def _roll_up(self) -> None:
        for paused in self.store.roll_up(self.clock(), self.guard):
            log.error(
                "campaign_paused",
                campaign_id=paused.campaign_id,
                campaign_name=paused.campaign_name,
                reason=paused.reason,
                bounce_pause_rate=self.guard.pause_rate,
            )

    def _claim_and_start(
        self,
        now: datetime,
        pacing: Pacing | None,
        more: Callable[[], bool] | None,
        report: CycleReport,
        bound_only: bool,
    ) -> list[tuple[Email, Future[Outcome | None]]]:
        """The rows claimed and handed to the pool, less those already tallied in `report`
        (a cycle that drains a backlog holds on to no more than a few batches)."""
        work: list[tuple[Email, Future[Outcome | None]]] = []
        while True:
            try:
                emails = self.store.claim(
                    self.config.worker_id,
                    self.config.batch_size,
                    now,
                    pacing or self.pacing(now),
                    bound_only,
                )
            except StoreUnavailable as exc:
                if not report.claimed:
                    raise
                self._halt(str(exc))  # the rows claimed already still finish
                return work
            self.leases.hold(email.id for email in emails)
            self.metrics.claim(len(emails))
            with self._started:
                self._unstarted += len(emails)
            work += [(email, self._pool.submit(self._start, email)) for email in emails]
            report.claimed += len(emails)
            report.more_due = len(emails) >= self.config.batch_size
            if more is None or not report.more_due:
                return work
            with self._started:
                self._started.wait_for(lambda: self._unstarted == 0)
            work = self._tally(work, report, wait=False)
            if self.stopping.is_set() or self._halt_reason or not more():
                return work
            if not self.leases.can_send:
                self._halt(f"cannot renew leases: {self.leases.why_not}")
                return work
            now = self.clock()

    def _tally(
        self, work: list[tuple[Email, Future[Outcome | None]]], report: CycleReport, wait: bool
    ) -> list[tuple[Email, Future[Outcome | None]]]:
        """Count the outcomes of the rows done (all of them, waiting, if `wait`); the rest."""
        left = []
        for email, future in work:
            if not wait and not future.done():
                left.append((email, future))
                continue
            outcome = future.result()
            if outcome is not None:
                report.outcomes[outcome.status] += 1
        return left

    def _start(self, email: Email) -> Outcome | None:
        with self._started:
            self._unstarted -= 1
            self._started.notify_all()
        try:
            return self._process(email)
        finally:
            # Settled, or no longer ours; an outcome kept for later keeps its lease alive.
            with self._pending_lock:
                if email.id not in self._pending:
                    self.leases.release(email.id)

    def pacing(self, now: datetime) -> Pacing:
        return pacing_for(self.config, now)

    def dry_run(self, pacing: Pacing | None = None) -> list[tuple[Email, str]]:
        """Render what the next claim would take; nothing is sent and no row changes."""
        results = []
        now = self.clock()
        pacing = self.pacing(now) if pacing is None else pacing
        for email in self.store.peek_due(self.config.batch_size, now, pacing):
            try:
                checked_recipient(email)
                message = self.renderer.render(email, self._content(email))
                verdict = f"would send {message.subject!r} to {message.to_email}"
            except (RowError, TransientError, SystemicError) as exc:
                verdict = f"would fail: {exc}"
            log.info("dry_run", email_id=email.id, campaign_id=email.campaign_id, result=verdict)
            results.append((email, verdict))
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.leases.close()
        self.sender.close()

    # -- one email ----------------------------------------------------------

    def _process(self, email: Email) -> Outcome | None:
        started = time.monotonic()
        sent_from: datetime | None = None  # the send's send_started_at, once recorded
        if self.stopping.is_set() or self._halt_reason:
            outcome = Outcome(
                QUEUED,
                error="released: worker stopping",
                count_attempt=False,
                failure_kind=INTERRUPTED if self.stopping.is_set() else SYSTEM,
            )
        elif email.sending_domain in self._halted_domains:
            outcome = Outcome(
                QUEUED,
                error=f"released: {email.sending_domain} halted",
                count_attempt=False,
                failure_kind=SYSTEM,
            )
        else:
            try:
                checked_recipient(email)
                content = self._content(email)
                message = self.renderer.render(email, content)
                if not self.leases.can_send:
                    # This worker may be cut off from the database: a lease it cannot renew
                    # may run out while the email is out, and the email turn ambiguous.
                    raise StoreUnavailable(f"cannot renew leases: {self.leases.why_not}")
                moment = self.clock()
                self.store.start_send(email, self.config.worker_id, content, moment)
                sent_from = moment
                provider_id = self._send(message)
                outcome = Outcome(SENT, provider_message_id=provider_id)
            except LeaseLost:
                log.warning(
                    "lease_lost",
                    email_id=email.id,
                    campaign_id=email.campaign_id,
                    stage="before_send",
                    advice="nothing was sent; the worker that took the row over settles it",
                )
                return None
            except Exception as exc:  # every failure becomes an outcome; see _outcome_for
                outcome = self._outcome_for(email, exc, sent_from is not None)
        return self._settle(email, outcome, started, sent_from)

    def content_for(self, email: Email) -> Content:
        """What this pipeline would send for the row, written nowhere (for test-send)."""
        return self._content(email)

    def _content(self, email: Email) -> Content:
        if (email.body or "").strip():
            subject = email.subject
            if not (subject or "").strip() and email.campaign is not None:
                subject = personalize(email.campaign.subject or "", email, "campaign subject")
            return Content(subject=subject or "", body=email.body or "")
        began = time.monotonic()
        try:
            return self.generator.generate(email)
        finally:
            self.metrics.generated(self.config.generator, time.monotonic() - began)

    def _send(self, message: Message) -> str:
        began = time.monotonic()
        try:
            return self.sender.send(message)
        finally:
            self.metrics.sent(self.config.sender, time.monotonic() - began)

    def _outcome_for(self, email: Email, exc: Exception, send_started: bool) -> Outcome:
        # The error text keeps the prefixes people know; the kind is what code reads.
        if isinstance(exc, RecipientRejected):
            return Outcome(FAILED, error=f"rejected: {exc}", failure_kind=exc.kind)
        if isinstance(exc, RowError):
            return Outcome(FAILED, error=str(exc), failure_kind=exc.kind)
        if isinstance(exc, AmbiguousError):
            return Outcome(FAILED, error=f"ambiguous: {exc}", failure_kind=AMBIGUOUS)
        if isinstance(exc, SystemicError):
            self._halt(str(exc), exc.sending_domain)
            return Outcome(QUEUED, error=f"system: {exc}", count_attempt=False, failure_kind=SYSTEM)
        if send_started and not isinstance(exc, TransientError):
            # An unexpected error once the message may have left: never guess.
            return Outcome(
                FAILED, error=f"ambiguous: {type(exc).__name__}: {exc}", failure_kind=AMBIGUOUS
            )
        # Transient, or unexpected before anything left: retry while attempts remain, so a
        # bug cannot burn through the queue and a poison row still ends with its reason.
        reason = str(exc) if isinstance(exc, TransientError) else f"{type(exc).__name__}: {exc}"
        if email.attempts >= self.config.max_attempts:
            return Outcome(
                FAILED,
                error=f"gave up after {email.attempts} attempts: {reason}",
                failure_kind=TRANSIENT,
            )
        delay = self.config.retry_delay_seconds * 2 ** max(email.attempts - 1, 0)
        return Outcome(
            QUEUED,
            error=reason,
            retry_at=self.clock() + timedelta(seconds=delay),
            failure_kind=TRANSIENT,
        )

    def _halt(self, reason: str, sending_domain: str | None = None) -> None:
        with self._halt_lock:
            if sending_domain is not None:
                if sending_domain not in self._halted_domains:
                    self._halted_domains.add(sending_domain)
                    log.error("sending_domain_halted", sending_domain=sending_domain, reason=reason)
            elif self._halt_reason is None:
                self._halt_reason = reason
                log.error("cycle_halted", reason=reason)

    def _settle(
        self, email: Email, outcome: Outcome, started: float, sent_from: datetime | None
    ) -> Outcome | None:
        """Write one email's outcome, trying harder than usual (`_write_outcome`); if the
        database stays down, keep it pending instead and halt the cycle."""
        pending = _Pending(email, outcome, started, sent_from)
        try:
            written = self._write(pending, _write_outcome)
        except StoreUnavailable as exc:
            # The row stays `processing`, locked by this worker, its lease renewed while the
            # outcome is kept; written first thing next cycle, before stale recovery.
            with self._pending_lock:
                self._pending[email.id] = pending
            self._halt(str(exc))
            log.error(
                "outcome_not_recorded",
                email_id=email.id,
                campaign_id=email.campaign_id,
                status=outcome.status,
                provider_message_id=outcome.provider_message_id,
                outcome_error=outcome.error,
                error=str(exc),
                advice="kept, its lease renewed, and written when the database answers",
            )
            return None
        return self._log_outcome(pending, written)

    def pending_outcomes(self) -> list[tuple[Email, Outcome]]:
        """The outcomes `_settle` kept while the database was down, not written yet."""
        with self._pending_lock:
            return [(kept.email, kept.outcome) for kept in self._pending.values()]

    def write_pending_outcomes(self) -> int:
        """Write the outcomes `_settle` kept, once each (the caller decides when to try
        again); StoreUnavailable if the database is still down, the rest staying
        pending. How many were written."""
        with self._pending_lock:
            kept = list(self._pending.values())
        for pending in kept:
            written = self._write(pending, _finish)
            with self._pending_lock:
                del self._pending[pending.email.id]
                self.leases.release(pending.email.id)
            self._log_outcome(pending, written)
        return len(kept)

    def _write(self, pending: _Pending, finish: _Finish) -> str:
        """Write an outcome with `finish`: WRITTEN; SETTLED_LATE when this worker's lease
        had run out and stale recovery had failed the row as ambiguous, and what this
        worker knows of its send replaced that guess; else LEASE_LOST."""
        email, outcome = pending.email, pending.outcome
        if finish(self.store, email, self.config.worker_id, outcome, self.clock()):
            return WRITTEN
        if pending.sent_from is None:  # nothing left: recovery guessed nothing
            return LEASE_LOST
        late = replace(outcome, error=_settled_late(outcome))
        if self.store.settle_late(
            email, self.config.worker_id, late, pending.sent_from, self.clock()
        ):
            pending.outcome = late
            return SETTLED_LATE
        return LEASE_LOST

    def _log_outcome(self, pending: _Pending, written: str) -> Outcome | None:
        """The `email` line of an outcome the store took (`settled_late` first when it
        replaced recovery's guess); `lease_lost` when it refused it (the row was no
        longer ours), and then the outcome counts for nothing."""
        email, outcome = pending.email, pending.outcome
        if written == SETTLED_LATE:
            log.warning(
                "settled_late",
                email_id=email.id,
                campaign_id=email.campaign_id,
                status=outcome.status,
                provider_message_id=outcome.provider_message_id,
                error=outcome.error,
            )
        elif written == LEASE_LOST:
            level, advice = _lost_advice(pending)
            log.log(
                level,
                "lease_lost",
                email_id=email.id,
                campaign_id=email.campaign_id,
                stage="outcome",
                status=outcome.status,
                provider_message_id=outcome.provider_message_id,
                outcome_error=outcome.error,
                advice=advice,
            )
            return None
        self.metrics.email(outcome)
        log.log(
            _LEVEL[outcome.status],
            "email",
            email_id=email.id,
            campaign_id=email.campaign_id,
            recipient_domain=email.recipient_domain,
            status=outcome.status,
            provider_message_id=outcome.provider_message_id,
            duration_ms=int((time.monotonic() - pending.started) * 1000),
            error=outcome.error,
        )
        return outcome


_LEVEL = {SENT: 20, QUEUED: 30, FAILED: 30}  # info, warning, warning
WRITTEN, SETTLED_LATE, LEASE_LOST = "written", "settled_late", "lease_lost"
_Finish = Callable[[Store, Email, str, Outcome, datetime], bool]


@dataclass
class _Pending:
    """An outcome on its way to the database (kept while it is down)."""

    email: Email
    outcome: Outcome
    started: float  # time.monotonic() when the email's processing began
    sent_from: datetime | None  # the send_started_at this worker wrote; None: not sent


def _lost_advice(pending: _Pending) -> tuple[int, str]:
    """How loud a refused outcome is, and what a person should do about it."""
    if pending.sent_from is None:
        return 30, "nothing was sent; the worker that took the row over settles it"
    return 40, "the row was settled otherwise: set it to this outcome by hand if it differs"


def _settled_late(outcome: Outcome) -> str:
    note = (
        "settled late: this worker's lease ran out while it held the outcome of the send, "
        "and stale recovery had marked the row ambiguous"
    )
    if outcome.status == SENT:
        return f"{note}; the provider accepted it as {outcome.provider_message_id}"
    return f"{outcome.error} ({note})" if outcome.error else note


def _finish(store: Store, email: Email, worker_id: str, outcome: Outcome, now: datetime) -> bool:
    return store.finish(email, worker_id, outcome, now)


@retry(
    retry=retry_if_exception_type(StoreUnavailable),
    stop=stop_after_attempt(4),
    wait=wait_random_exponential(multiplier=0.5, max=8),
    reraise=True,
)
def _write_outcome(
    store: Store, email: Email, worker_id: str, outcome: Outcome, now: datetime
) -> bool:
    """`store.finish`, retried through a short outage: a sent email whose outcome cannot
    be written would later look ambiguous. False: the row was no longer ours."""
    return store.finish(email, worker_id, outcome, now)
