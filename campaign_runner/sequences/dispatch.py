"""The dispatcher: each due lead's next step becomes one `email_queue` row.

One run: the live sequence campaigns and their schedules are read
(`sequence_schedules`; none: the run ends there), the store moves leads on from
what happened to their rows (`sequence_progress`), the campaigns with due leads
whose own window is open now have their due leads read (`due_leads`, within each
one's daily limit), each lead's step is written here (templates or the generator,
see `content`), and what was written is queued in one transaction
(`dispatch_leads`), which checks again under lock that each lead is still due, so
two workers, or a run after a crash, never queue one lead's step twice. Last,
leads and queued rows are fitted to their campaign's window (`fit_to_windows`):
each active lead's `next_email_at` moved into it, and each queued step given the
end of the span it may go in (`send_before`), past which no claim takes it. The
normal claim and pipeline send the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ..models import CLAIMABLE_CAMPAIGN_STATUSES
from ..ports import Generator
from ..schedule import ScheduleError, campaign_window, local_day
from ..window import SendingWindow
from .content import draft
from .model import OpenCampaign, SequenceStore

log = structlog.get_logger("campaign_runner")

# How far ahead leads and rows are fitted to their campaign's window: a lead whose
# next send is further off is fitted once it comes within this.
HORIZON_DAYS = 14


@dataclass
class DispatchReport:
    progress: dict[str, int] = field(default_factory=dict)
    open_campaigns: int = 0
    due: int = 0
    dispatched: dict[str, int] = field(default_factory=dict)
    fitted: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        store: SequenceStore,
        generator: Generator,
        window: SendingWindow,
        clock: Callable[[], datetime],
        limit: int,
    ) -> None:
        self.store = store
        self.generator = generator
        self.window = window  # the worker's: the parts a campaign does not set
        self.clock = clock
        self.limit = limit  # leads per campaign per run
        self._refused: dict[str, str] = {}  # campaign id -> the schedule error logged
        # The sending campaigns' windows as last read: the worker stays awake while one
        # is open, even with its own window closed.
        self.campaign_windows: dict[str, SendingWindow] = {}

    def look(self) -> None:
        """Only read which campaigns send and their windows (one call): for a worker
        whose own window is closed, to know when a campaign's opens."""
        self.windows(self.store.sequence_schedules(self.clock()))

    def run(self) -> DispatchReport:
        now = self.clock()
        report = DispatchReport()
        schedules = self.store.sequence_schedules(now)
        windows = self.windows(schedules)
        if not schedules:  # no live sequence campaign: nothing more to ask
            return report
        report.progress = self.store.sequence_progress(now)
        due = {str(row["campaign_id"]) for row in schedules if row["due"]}
        opened = [
            OpenCampaign(campaign_id, *local_day(now, window))
            for campaign_id, window in windows.items()
            if campaign_id in due and window.is_open(now)
        ]
        report.open_campaigns = len(opened)
        if opened:
            leads = self.store.due_leads(opened, now, self.limit)
            report.due = len(leads)
            drafts = [draft(lead, self.generator) for lead in leads]
            for d in drafts:
                if d.error is not None:
                    log.warning("sequence_lead_paused", lead_id=d.lead_id, error=d.error)
            if drafts:
                report.dispatched = self.store.dispatch_leads(opened, drafts, now)
        if windows:
            spans = {cid: window.openings(now, HORIZON_DAYS) for cid, window in windows.items()}
            report.fitted = self.store.fit_to_windows(spans, now)
        if report.progress or report.dispatched or report.fitted:
            log.info(
                "sequence_dispatch",
                progress=report.progress,
                due=report.due,
                dispatched=report.dispatched,
                fitted=report.fitted,
            )
        return report

    def windows(self, schedules: list[dict[str, Any]]) -> dict[str, SendingWindow]:
        """The windows of the campaigns that send (scheduled or sending); a campaign
        whose schedule says nothing that can be sent in is logged once and left out."""
        windows = {}
        for row in schedules:
            campaign_id = str(row["campaign_id"])
            if row.get("status") not in CLAIMABLE_CAMPAIGN_STATUSES:
                continue
            try:
                window = campaign_window(row, self.window)
            except ScheduleError as exc:
                if self._refused.get(campaign_id) != str(exc):  # once, not every run
                    log.error("campaign_schedule_invalid", campaign_id=campaign_id, error=str(exc))
                    self._refused[campaign_id] = str(exc)
                continue
            self._refused.pop(campaign_id, None)
            windows[campaign_id] = window
        self.campaign_windows = windows
        return windows
