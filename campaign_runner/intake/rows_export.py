"""`campaign-runner rows`: every row of a campaign, for people and for scripts.

The machine formats are stable like `status --json`: the same columns in the same
order on every store, null (or an empty CSV cell) for a fact the row does not have
or the schema does not hold yet (the delivery facts come with the events
migration), times as UTC ISO 8601 text. New columns are only ever added at the end.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from ..stores.rows import parse_time
from .records import CampaignRef

COLUMNS = (
    "id",
    "to_email",
    "to_name",
    "status",
    "failure_kind",
    "error",
    "from_email",
    "scheduled_for",
    "sent_at",
    "attempts",
    "provider_message_id",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "bounced_at",
    "bounce_class",
    "complained_at",
    "unsubscribed_at",
    # A sequence step's row: its lead, step and variant, and the end of the span of the
    # campaign's window it may go in (null for a single email).
    "lead_id",
    "step_number",
    "variant",
    "send_before",
)
TIMES = frozenset(c for c in COLUMNS if c.endswith("_at") or c in ("scheduled_for", "send_before"))
WHOLE_NUMBERS = frozenset({"attempts", "step_number"})
ERROR_WIDTH = 60


def normal(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row with exactly COLUMNS, whatever store and schema it came from."""
    out: dict[str, Any] = {}
    for column in COLUMNS:
        value = row.get(column)
        if column in TIMES and value is not None:
            moment = parse_time(value)
            value = moment.astimezone(UTC).isoformat() if moment else None
        elif column in WHOLE_NUMBERS and value is not None:
            value = int(value)
        elif value is not None:
            value = str(value)
        out[column] = value
    return out


def as_json(campaign: CampaignRef, rows: Iterable[Mapping[str, Any]]) -> str:
    document = {
        "campaign": {
            "id": campaign.id,
            "key": campaign.key,
            "name": campaign.name,
            "status": campaign.status,
        },
        "rows": [normal(row) for row in rows],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def as_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(normal(row))
    return out.getvalue()


def as_table(campaign: CampaignRef, rows: Iterable[Mapping[str, Any]]) -> str:
    lines = [
        f"Campaign {campaign.name!r} ({campaign.key or campaign.id}), {campaign.status}",
        "",
        f"{'recipient':<32} {'step':<5} {'status':<10} {'kind':<10} {'scheduled (UTC)':<20} "
        f"{'sent (UTC)':<20} error",
    ]
    count = 0
    for row in rows:
        count += 1
        r = normal(row)
        error = " ".join((r["error"] or "").split())
        if len(error) > ERROR_WIDTH:
            error = error[: ERROR_WIDTH - 1] + "…"
        step = f"{r['step_number']}{r['variant'] or ''}" if r["step_number"] else ""
        lines.append(
            f"{r['to_email'] or '':<32} {step:<5} {r['status'] or '':<10} "
            f"{r['failure_kind'] or '':<10} {_short(r['scheduled_for']):<20} "
            f"{_short(r['sent_at']):<20} {error}"
        )
    lines += ["", f"{count} rows"]
    return "\n".join(lines) + "\n"


def _short(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""
