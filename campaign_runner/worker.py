"""The long-running loop and `--once`: the window, the pauses, and the signals.

The worker is awake while its own window (`WORK_*`, `TIMEZONE`) is open, or the own
window of a campaign that sends (its `send_days`, `send_time_*`, `timezone`); in the
second case it claims only rows bound to their campaign's open window (the sequence
steps the dispatcher fitted to it), so nothing else goes out after the worker's hours.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType

import structlog

from .duties import Backoff, Duties, Duty
from .errors import StoreUnavailable
from .events.duty import EventsDuty
from .intake import launch
from .intake.requests import RequestedWork
from .liveness import Liveness
from .pipeline import Pipeline, leave_stop_signals_to_main_thread
from .sequences.dispatch import Dispatcher
from .sequences.replies import ReplyPoller
from .window import SendingWindow

log = structlog.get_logger("campaign_runner")

# A lease can only have run out LEASE_SECONDS after its claim: looking for expired
# ones a few times a lease, rather than every cycle, lets an idle cycle cost one claim.
RECOVERY_CHECKS_PER_LEASE = 4
# A sleeping worker looks for campaigns whose own window opens before its own once
# every this many SEQUENCE_DISPATCH_SECONDS (an hour at the default); awake, the
# dispatcher reads them each run.
LOOKS_ASLEEP_EVERY = 60
# Writing back outcomes before exiting: the first wait, and how long before a stop
# signal's timer ends the process the last attempt must be over, so its report is logged.
WRITE_BACK_FIRST_WAIT_SECONDS = 0.5
WRITE_BACK_MARGIN_SECONDS = 1.0


class Worker:
    def __init__(self, pipeline: Pipeline, window: SendingWindow, liveness: Liveness) -> None:
        self.pipeline = pipeline
        self.window = window
        self.liveness = liveness
        self.config = pipeline.config
        self._wake = threading.Event()
        # A frontend's stage and launch requests (campaigns.*_requested_at), done before
        # the next cycle's claim: in the window only, so a sleeping worker stays silent.
        self.requested_work = RequestedWork(
            pipeline.store,  # type: ignore[arg-type]  # every store of this build has them
            launch.rules(self.config),
            pipeline.clock,
        )
        self.dispatcher = Dispatcher(
            pipeline.store,  # type: ignore[arg-type]  # every store keeps sequences
            pipeline.generator,
            window,
            pipeline.clock,
            self.config.sequence_dispatch_limit,
        )
        self.replies = ReplyPoller(
            pipeline.store,  # type: ignore[arg-type]
            self.config.reply_imap_url,
            pipeline.clock,
        )
        polls = [Duty("reply_poll", self.config.reply_poll_seconds, self.replies.run)]
        self.duties = Duties(
            [
                *(polls if self.replies.mailboxes else []),
                Duty(
                    "sequence_dispatch",
                    self.config.sequence_dispatch_seconds,
                    self.dispatcher.run,
                    in_window_only=True,  # what it queues waits for the window anyway
                ),
                Duty(
                    # Asleep too, and at start: which campaigns' own windows open before
                    # the worker's, so that it wakes for them.
                    "campaign_windows",
                    self.config.sequence_dispatch_seconds * LOOKS_ASLEEP_EVERY,
                    self.dispatcher.look,
                ),
                Duty(
                    "stale_recovery",
                    self.config.lease_seconds / RECOVERY_CHECKS_PER_LEASE,
                    pipeline.recover,
                    in_window_only=True,  # no lease is taken outside it: it sleeps silent
                ),
                Duty(
                    "requested_work",
                    self.config.poll_interval_seconds,
                    self.requested_work.run,
                    in_window_only=True,
                ),
                Duty(
                    "heartbeat",
                    liveness.ping_interval(self.config.poll_interval_seconds),
                    liveness.beat,
                ),
                *self._events_duty(),
            ],
            backoff_limit_seconds=self.config.max_backoff_seconds,
        )
        self._signals = 0
        self._signal_pipe = (-1, -1)
        self._stop_deadline = math.inf  # time.monotonic() when a stop signal's timer exits

    def _events_plan(self) -> str:
        """What the worker does about SparkPost's events, said once at start."""
        if self.config.sender != "sparkpost":
            return f"none: the {self.config.sender} sender gets no delivery reports back"
        if not self.config.events_poll_seconds:
            return "not polled here (EVENTS_POLL_SECONDS=0): run `campaign-runner events`"
        return f"polled every {self.config.events_poll_seconds} s"

    def _events_duty(self) -> list[Duty]:
        """SparkPost's events, read in and out of the window; the outbox has none."""
        if self.config.sender != "sparkpost" or not self.config.events_poll_seconds:
            return []
        events = EventsDuty(
            self.pipeline.store, self.config, self.pipeline.clock, self.pipeline.metrics
        )
        return [Duty("events_poll", self.config.events_poll_seconds, events)]

    # -- signals --------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        self._signal_pipe = os.pipe()
        threading.Thread(target=self._begin_stop, name="signals", daemon=True).start()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # This runs between two bytecodes of the main thread, which may be holding any
        # lock at that moment (the logger's, an Event's): taking one here can deadlock.
        # So only lock-free calls: a byte down a pipe to the thread that does the work,
        # and for the second signal a raw write and an immediate exit.
        self._signals += 1
        if self._signals > 1:
            name = signal.Signals(signum).name
            os.write(
                2, f'{{"event": "stopping_now", "signal": "{name}", "level": "error"}}\n'.encode()
            )
            os._exit(128 + signum)
        os.write(self._signal_pipe[1], bytes([signum]))

    def _begin_stop(self) -> None:
        leave_stop_signals_to_main_thread()  # and so do the threads started from here
        signum = os.read(self._signal_pipe[0], 1)[0]
        log.warning(
            "stopping",
            signal=signal.Signals(signum).name,
            finishing_in_flight=True,
            timeout_seconds=self.config.shutdown_timeout_seconds,
        )
        self._stop_deadline = time.monotonic() + self.config.shutdown_timeout_seconds
        self.pipeline.stopping.set()
        self.liveness.stopping()
        self._wake.set()
        timer = threading.Timer(self.config.shutdown_timeout_seconds, self._give_up)
        timer.daemon = True
        timer.start()

    def _give_up(self) -> None:
        log.error("shutdown_timeout", seconds=self.config.shutdown_timeout_seconds)
        os._exit(1)

    # -- running ------------------------------------------------------------

    def run_once(self) -> int:
        try:
            if self.replies.mailboxes:  # replies stop leads before their next step is queued
                self.replies.run()
        except StoreUnavailable as exc:
            log.error("store_unavailable", error=str(exc))
            return 1
        now = self.pipeline.clock()
        code = 0
        try:
            if not self.window.is_open(now):
                self.dispatcher.look()  # a campaign's own window may be open
            if not self._open(now):
                log.info("window_closed", next_open=self._local(self._next_open(now)))
                return 0
            self.requested_work.run()
            self.dispatcher.run()
            self.pipeline.run_cycle(bound_only=not self.window.is_open(now))
        except StoreUnavailable as exc:
            log.error("store_unavailable", error=str(exc))
            code = 1
        return max(code, self._write_back())

    def run_forever(self) -> int:
        log.info(
            "worker_started",
            worker_id=self.config.worker_id,
            store=self.config.store,
            generator=self.config.generator,
            sender=self.config.sender,
            events=self._events_plan(),
        )
        announced = None
        backoff = Backoff(self.config.poll_interval_seconds, self.config.max_backoff_seconds)
        self.liveness.ready()
        while not self.pipeline.stopping.is_set():
            self.duties.run_due(self._window_open())
            if self.pipeline.stopping.is_set():
                break
            now = self.pipeline.clock()
            if not self._open(now):
                opens = self._next_open(now)
                if opens != announced:  # once per closed stretch, not every minute
                    log.info("window_closed", sleeping_until=self._local(opens))
                    announced = opens
                # Wake at least hourly, so a changed system clock cannot oversleep by days.
                self._sleep(min((opens - now).total_seconds(), 3600.0))
                continue
            own = self.window.is_open(now)
            if announced is not None:
                log.info("window_open", own=own)
                announced = None
            full = False
            try:
                report = self.pipeline.run_cycle(
                    more=self._claiming_for_one_poll(own), recover=False, bound_only=not own
                )
                trouble = report.systemic
                full = report.more_due
            except StoreUnavailable as exc:
                trouble = str(exc)
            if trouble:
                seconds = backoff.failed()
                log.error("backing_off", seconds=seconds, reason=trouble)
                self._sleep(seconds)
                continue
            backoff.succeeded()
            if not full:  # a full batch means more is due: drain the backlog without pausing
                self._sleep(self.config.poll_interval_seconds)
        code = self._write_back()
        log.info("worker_stopped", worker_id=self.config.worker_id)
        return code

    def _write_back(self) -> int:
        """Before the process ends, the outcomes the database was down for: tried again
        until SHUTDOWN_TIMEOUT_SECONDS runs out. A row left unwritten stays `processing`
        and turns `ambiguous:` when its lease runs out, so each is logged with what
        really happened to it, and the exit code is 1."""
        give_up = time.monotonic() + self.config.shutdown_timeout_seconds
        wait = WRITE_BACK_FIRST_WAIT_SECONDS
        while kept := self.pipeline.pending_outcomes():
            try:
                self.pipeline.write_pending_outcomes()
            except StoreUnavailable as exc:
                # A stop signal during the wait brings the end forward: read it each time.
                deadline = min(give_up, self._stop_deadline - WRITE_BACK_MARGIN_SECONDS)
                if time.monotonic() + wait > deadline:
                    log.error(
                        "outcomes_not_recorded",
                        error=str(exc),
                        emails=[
                            {
                                "email_id": email.id,
                                "status": outcome.status,
                                "provider_message_id": outcome.provider_message_id,
                                "error": outcome.error,
                            }
                            for email, outcome in self.pipeline.pending_outcomes()  # still kept
                        ],
                        advice="these rows stay processing and will fail as ambiguous when "
                        "their lease runs out; set them to these outcomes by hand",
                    )
                    return 1
                log.warning(
                    "recording_outcomes", count=len(kept), retry_in_seconds=wait, error=str(exc)
                )
                time.sleep(wait)
                wait = min(wait * 2, self.config.max_backoff_seconds)
        return 0

    def _claiming_for_one_poll(self, own: bool) -> Callable[[], bool]:
        """While a backlog drains, one cycle claims batch after batch (see `run_cycle`)
        for up to one poll interval and only while the windows stay as they were (`own`:
        the worker's own open), so that the roll-up and the heartbeat still come about
        once a poll interval."""
        deadline = time.monotonic() + self.config.poll_interval_seconds

        def more() -> bool:
            now = self.pipeline.clock()
            return (
                time.monotonic() < deadline and self._open(now) and self.window.is_open(now) == own
            )

        return more

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on a stop signal, and for each duty as it comes due (the
        heartbeat among them, so supervisors hear from a worker asleep for the night)."""
        deadline = time.monotonic() + max(seconds, 0.0)
        while (left := deadline - time.monotonic()) > 0:
            if self._wake.wait(min(left, self.duties.seconds_until_next(self._window_open()))):
                return
            self.duties.run_due(self._window_open())

    def _window_open(self) -> bool:
        return self._open(self.pipeline.clock())

    def _open(self, now: datetime) -> bool:
        """Awake: the worker's own window is open, or a sending campaign's own window
        (then only rows bound to that window are claimed: see `Store.claim`)."""
        return self.window.is_open(now) or any(
            window.is_open(now) for window in self.dispatcher.campaign_windows.values()
        )

    def _next_open(self, now: datetime) -> datetime:
        return min(
            [self.window.next_open(now)]
            + [window.next_open(now) for window in self.dispatcher.campaign_windows.values()]
        )

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.window.tz).isoformat()
