"""Sequence campaigns, steps and leads put into any store's database, as a frontend
would, and read back with the database's own SQL (`sql/<dialect>/`)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from .kits import T0, Seeder


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def sequence_campaign(
    seed: Seeder,
    steps: list[dict[str, Any]],
    *,
    status: str = "sending",
    ab_testing_enabled: bool = False,
    from_email: str | None = "news@acme.test",
    send_days: list[str] | None = None,
    send_time_start: str | None = None,
    send_time_end: str | None = None,
    timezone: str | None = None,
    daily_limit: int | None = None,
) -> str:
    """A campaign with `steps` (dicts of campaign_sequences columns, numbered from 1 in
    order unless they say otherwise)."""
    campaign_id = seed.campaign(status)
    seed.execute(
        "sequence_campaign",
        {
            "id": campaign_id,
            "ab_testing_enabled": ab_testing_enabled,
            "from_email": from_email,
            "send_days": json.dumps(send_days)
            if seed.dialect == "sqlite" and send_days is not None
            else send_days,
            "send_time_start": send_time_start,
            "send_time_end": send_time_end,
            "timezone": timezone,
            "daily_limit": daily_limit,
        },
    )
    for number, step in enumerate(steps, start=1):
        seed.execute(
            "insert_step",
            {
                "campaign_id": campaign_id,
                "step_number": number,
                "delay_days": 0,
                "delay_hours": 0,
                "variant_a_subject": f"Step {number} A for {{{{ first_name }}}}",
                "variant_a_body": f"Body {number} A, {{{{ first_name }}}}",
                "variant_b_subject": None,
                "variant_b_body": None,
                "variant_split": 50,
                "use_ai_generation": False,
                "ai_prompt_context": None,
                **step,
            },
        )
    return campaign_id


def lead(
    seed: Seeder,
    campaign_id: str,
    n: int,
    *,
    created_at: datetime = T0,
    from_email: str | None = None,
    status: str = "active",
    to_email: str | None = None,
) -> str:
    # Ids fixed by the number (unique within a test), so the variant each gets is too.
    lead_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lead/{n}"))
    seed.execute(
        "insert_lead",
        {
            "id": lead_id,
            "campaign_id": campaign_id,
            "to_email": to_email or f"lead{n}@example.org",
            "to_name": f"Lead {n}",
            "metadata": json.dumps({"first_name": f"L{n}"}),
            "from_email": from_email,
            "status": status,
            "created_at": created_at.isoformat(),
        },
    )
    return lead_id


def lead_row(seed: Seeder, lead_id: str) -> dict[str, Any]:
    row = seed.fetch("lead_row", {"id": lead_id})
    assert row is not None
    return {**row, "rows": _json(row["rows"])}


def step_row(seed: Seeder, campaign_id: str, step_number: int) -> dict[str, Any]:
    row = seed.fetch("step_row", {"campaign_id": campaign_id, "step_number": step_number})
    assert row is not None
    return row


def mark_sent(seed: Seeder, row_id: str, at: datetime) -> None:
    seed.execute("mark_sent", {"id": row_id, "sent_at": at.isoformat()})


def mark_failed(seed: Seeder, row_id: str, error: str, kind: str) -> None:
    seed.execute("mark_failed", {"id": row_id, "error": error, "failure_kind": kind})


def sending_domain(seed: Seeder, index: int, address: str, active: bool = True) -> None:
    seed.execute(
        "insert_sending_domain", {"domain_index": index, "from_email": address, "active": active}
    )
