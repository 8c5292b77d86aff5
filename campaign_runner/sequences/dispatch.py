"""The dispatcher: each due lead's next step becomes one `email_queue` row.

One run: the store moves leads on from what happened to their rows
(`sequence_progress`), the campaigns with due leads whose own window is open now
are picked, their due leads read (`due_leads`, within each one's daily limit),
each lead's step written here (templates or the generator, see `content`), and
what was written queued in one transaction (`dispatch_leads`), which checks again
under lock that each lead is still due, so two workers, or a run after a crash,
never queue one lead's step twice. The normal claim and pipeline send the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from ..ports import Generator
from ..window import SendingWindow
from .content import draft
from .model import OpenCampaign, SequenceStore
from .schedule import ScheduleError, campaign_window, local_day

log = structlog.get_logger("campaign_runner")


@dataclass
class DispatchReport:
    progress: dict[str, int] = field(default_factory=dict)
    open_campaigns: int = 0
    due: int = 0
    dispatched: dict[str, int] = field(default_factory=dict)


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

    def run(self) -> DispatchReport:
        now = self.clock()
        report = DispatchReport(progress=self.store.sequence_progress(now))
        opened = self.open_campaigns(now)
        report.open_campaigns = len(opened)
        if opened:
            due = self.store.due_leads(opened, now, self.limit)
            report.due = len(due)
            drafts = [draft(lead, self.generator) for lead in due]
            for d in drafts:
                if d.error is not None:
                    log.warning("sequence_lead_paused", lead_id=d.lead_id, error=d.error)
            if drafts:
                report.dispatched = self.store.dispatch_leads(opened, drafts, now)
        if report.progress or report.dispatched:
            log.info(
                "sequence_dispatch",
                progress=report.progress,
                due=report.due,
                dispatched=report.dispatched,
            )
        return report

    def open_campaigns(self, now: datetime) -> list[OpenCampaign]:
        opened = []
        for row in self.store.sequence_campaigns(now):
            campaign_id = str(row["campaign_id"])
            try:
                window = campaign_window(row, self.window)
            except ScheduleError as exc:
                if self._refused.get(campaign_id) != str(exc):  # once, not every run
                    log.error("campaign_schedule_invalid", campaign_id=campaign_id, error=str(exc))
                    self._refused[campaign_id] = str(exc)
                continue
            self._refused.pop(campaign_id, None)
            if window.is_open(now):
                opened.append(OpenCampaign(campaign_id, *local_day(now, window)))
        return opened
