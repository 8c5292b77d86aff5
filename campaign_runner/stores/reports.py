"""What the operator-facing reads of any store return, as the port's values.

Each store hands over a mapping (a SQLite row, or a JSON object decoded from a SQL
function); ids may be uuids, timestamps text or datetimes, JSON may still be text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..ports import CampaignStatus, FailedRows, PausedCampaign, Waiting
from .rows import parse_time


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# The events' figures (cr_events_status), absent from a campaign that has none.
FIGURES = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
FIGURES += ("settled_sent", "not_accepted")


def campaign_status(row: Mapping[str, Any]) -> CampaignStatus:
    rows = _json(row["rows"])
    waiting = _json(row["waiting"]) or {}
    return CampaignStatus(
        campaign_id=str(row["campaign_id"]),
        campaign_name=row["campaign_name"],
        campaign_status=row["campaign_status"],
        rows={status: int(n) for status, n in rows.items()},
        due_now=int(row["due_now"] or 0),
        next_scheduled_for=parse_time(row["next_scheduled_for"]),
        ambiguous=int(row["ambiguous"] or 0),
        rejected=int(row["rejected"] or 0),
        last_error=row["last_error"],
        last_error_at=parse_time(row["last_error_at"]),
        paused_reason=row["paused_reason"],
        waiting={
            reason: Waiting(rows=int(group["rows"]), until=parse_time(group["until"]))
            for reason, group in waiting.items()
        },
        failed_by_kind={kind: int(n) for kind, n in (_json(row["failed_by_kind"]) or {}).items()},
        **{key: int(row.get(key) or 0) for key in FIGURES},
    )


def paused_campaign(row: Mapping[str, Any]) -> PausedCampaign:
    return PausedCampaign(
        campaign_id=str(row["campaign_id"]),
        campaign_name=row["campaign_name"],
        reason=str(row["reason"]),
    )


def failed_rows(row: Mapping[str, Any]) -> FailedRows:
    return FailedRows(
        campaign_status=row["campaign_status"],
        retryable=int(row.get("retryable") or 0),  # a kind with no rows may be left out
        ambiguous=int(row.get("ambiguous") or 0),
        suppressed=int(row.get("suppressed") or 0),
    )
