"""The sequence calls of the Postgres family's store (see `functions.FunctionStore`):
each method one call of a function of 0010_sequences.sql or 0011_sequence_windows.sql,
declared in `calls.sql`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..intake.records import Launched, Staged
from ..sequences.model import (
    Draft,
    DueLead,
    Inbound,
    MailboxState,
    OpenCampaign,
    SequenceStatus,
    Spans,
    Step,
    counts_from,
    due_lead_from,
    launched_leads,
    mailbox_state_from,
    sequence_status_from,
    spans_json,
    staged_leads,
    steps_from,
)


class SequenceFunctions:
    _call: Callable[..., Any]  # FunctionStore's: one declared call

    def sequence_progress(self, now: datetime) -> dict[str, int]:
        return counts_from(self._call("sequence_progress", {"p_now": now}))

    def sequence_schedules(self, now: datetime) -> list[dict[str, Any]]:
        return list(self._call("sequence_schedules", {"p_now": now}) or [])

    def fit_to_windows(self, spans: Spans, now: datetime) -> dict[str, int]:
        return counts_from(
            self._call("fit_to_windows", {"p_windows": spans_json(spans), "p_now": now})
        )

    def due_leads(self, campaigns: list[OpenCampaign], now: datetime, limit: int) -> list[DueLead]:
        rows = self._call(
            "due_leads",
            {"p_campaigns": [c.as_json() for c in campaigns], "p_now": now, "p_limit": limit},
        )
        return [due_lead_from(row) for row in rows or []]

    def dispatch_leads(
        self, campaigns: list[OpenCampaign], drafts: list[Draft], now: datetime
    ) -> dict[str, int]:
        counts = self._call(
            "dispatch_leads",
            {
                "p_campaigns": [c.as_json() for c in campaigns],
                "p_leads": [d.as_json() for d in drafts],
                "p_now": now,
            },
        )
        return counts_from(counts)

    def reply_mailbox(self, mailbox: str) -> MailboxState | None:
        return mailbox_state_from(self._call("reply_mailbox", {"p_mailbox": mailbox}))

    def record_inbound(
        self,
        mailbox: str,
        address: str,
        state: MailboxState,
        messages: list[Inbound],
        now: datetime,
    ) -> dict[str, int]:
        counts = self._call(
            "record_inbound",
            {
                "p_mailbox": mailbox,
                "p_address": address,
                "p_uidvalidity": state.uidvalidity,
                "p_last_uid": state.last_uid,
                "p_messages": [m.as_json() for m in messages],
                "p_now": now,
            },
        )
        return counts_from(counts)

    def stage_leads(self, campaign_id: str, now: datetime) -> Staged | None:
        return staged_leads(self._call("stage_leads", {"p_campaign_id": campaign_id, "p_now": now}))

    def launch_leads(self, campaign_id: str, now: datetime) -> Launched | None:
        return launched_leads(
            self._call("launch_leads", {"p_campaign_id": campaign_id, "p_now": now})
        )

    def put_steps(
        self, campaign_id: str, ab_testing: bool, steps: list[dict[str, Any]], now: datetime
    ) -> int:
        params = {"p_campaign_id": campaign_id, "p_ab_testing": ab_testing, "p_now": now}
        return int(self._call("put_steps", {**params, "p_steps": steps}))

    def sequence_steps(self, campaign_id: str) -> dict[int, Step]:
        return steps_from(self._call("sequence_steps", {"p_campaign_id": campaign_id}))

    def sequence_status(self) -> list[SequenceStatus]:
        return [sequence_status_from(row) for row in self._call("sequence_status", {}) or []]
