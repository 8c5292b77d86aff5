"""Stage and launch asked for by a frontend: `campaigns.stage_requested_at` and
`launch_requested_at`, done by the worker as a timed duty (in and out of the sending
window: neither sends anything) and cleared by the store when done. A request that
cannot be done (a finished campaign, no active sending address) is cleared with its
reason in `campaigns.request_error`, and logged; asking again is the frontend's call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from . import launch
from .launch import LaunchRefused, Rules
from .records import IntakeError, IntakeStore

log = structlog.get_logger("campaign_runner")


class RequestedWork:
    def __init__(self, store: IntakeStore, rules: Rules, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock

    def run(self) -> int:
        """Do every pending request; how many campaigns had one."""
        requests = self.store.requested_work()
        for request in requests:
            now = self.clock()
            try:
                if request.stage:
                    staged = self.store.stage_campaign(request.campaign_id, now)
                    log.info(
                        "staged_on_request", campaign_id=request.campaign_id, rows=staged.staged
                    )
                if request.launch:
                    launched = self.store.launch_campaign(
                        request.campaign_id, launch.planner(self.rules, now), now
                    )
                    log.info(
                        "launched_on_request", campaign_id=request.campaign_id, rows=launched.queued
                    )
            except (IntakeError, LaunchRefused) as exc:
                log.warning("request_refused", campaign_id=request.campaign_id, reason=str(exc))
                self.store.refuse_request(request.campaign_id, str(exc), now)
        return len(requests)
