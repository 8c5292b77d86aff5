"""What `status` says of sequence campaigns: each one's leads by status and, per step
and variant, the counters with their rates (of that step and variant's sends)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .model import COUNTERS, LEAD_STATUSES, SequenceStatus


def _rate(n: int, sent: int) -> float | None:
    return round(n / sent, 4) if sent else None


def documents(statuses: list[SequenceStatus]) -> list[dict[str, Any]]:
    """`status --json`'s "sequences": [{campaign_id, campaign_name, leads: {STATUS: n},
    next_due (ISO 8601 UTC, or null: no active lead has a step to come),
    steps: [{step_number, delay_days, delay_hours, variant_split, use_ai_generation,
    counts: {"A"|"B": {COUNTER: n}}, rates: {"A"|"B": {COUNTER: share of sent or null}}}]}]
    """
    result = []
    for status in statuses:
        document = asdict(status)
        document["leads"] = {**dict.fromkeys(LEAD_STATUSES, 0), **status.leads}
        document["next_due"] = status.next_due.isoformat() if status.next_due else None
        for step in document["steps"]:
            step["rates"] = {
                variant: {name: _rate(counts[name], counts["sent"]) for name in COUNTERS[1:]}
                for variant, counts in step["counts"].items()
            }
        result.append(document)
    return result


def lines(statuses: list[SequenceStatus]) -> list[str]:
    out = []
    for status in statuses:
        leads = ", ".join(f"{status.leads[s]} {s}" for s in LEAD_STATUSES if status.leads.get(s))
        due = ""
        if status.next_due is not None:
            due = f"; next step due {status.next_due.strftime('%Y-%m-%d %H:%M')} UTC"
        out.append(
            f"sequence {status.campaign_name or status.campaign_id}: leads {leads or 'none'}{due}"
        )
        for step in status.steps:
            for variant, counts in step.counts.items():
                if variant == "B" and not counts["sent"]:
                    continue
                sent = counts["sent"]
                shares = ", ".join(
                    f"{name} {counts[name]}" + (f" ({counts[name] / sent:.1%})" if sent else "")
                    for name in COUNTERS[1:]
                )
                out.append(f"    step {step.step_number} {variant}: sent {sent}, {shares}")
    return out
