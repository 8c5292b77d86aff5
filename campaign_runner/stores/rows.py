"""Turning a store's row into an `Email`, shared by every adapter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..models import Campaign, Email


def parse_time(value: Any) -> datetime | None:
    """Any ISO 8601 timestamp with an offset (a naive one is taken as UTC)."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_metadata(value: Any) -> Any:
    """JSON text is decoded; anything that is not valid JSON is kept as it is for the
    pipeline to refuse, so one bad row cannot break a claim."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def email_from_row(row: Mapping[str, Any]) -> Email:
    """`row` holds the `email_queue` columns and the campaign's as `c_<column>`."""
    campaign = None
    if row.get("c_id") is not None:
        campaign = Campaign(
            id=str(row["c_id"]),
            name=row.get("c_name") or "",
            status=row.get("c_status") or "",
            subject=row.get("c_subject"),
            body_template=row.get("c_body_template"),
            ai_prompt=row.get("c_ai_prompt"),
            from_name=row.get("c_from_name"),
            reply_to=row.get("c_reply_to"),
        )
    return Email(
        id=str(row["id"]),
        campaign_id=str(row["campaign_id"]),
        to_email=row.get("to_email"),
        to_name=row.get("to_name"),
        from_email=row.get("from_email"),
        subject=row.get("subject"),
        body=row.get("body"),
        metadata=parse_metadata(row.get("metadata")),
        attempts=int(row.get("attempts") or 0),
        scheduled_for=parse_time(row.get("scheduled_for")),
        campaign=campaign,
        suppressed=bool(row.get("suppressed")),
        message_id_header=row.get("message_id_header"),
        references_header=row.get("references_header"),
        reply_token=row.get("reply_token"),
    )
