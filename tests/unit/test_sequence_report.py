"""`status` of a sequence campaign: leads by status, each step and variant with rates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from campaign_runner.sequences import report
from campaign_runner.sequences.model import SequenceStatus, StepStatus


def counts(sent: int, replied: int) -> dict[str, int]:
    return {
        "sent": sent,
        "delivered": 0,
        "opened": 0,
        "clicked": 0,
        "replied": replied,
        "bounced": 0,
    }


STATUS = SequenceStatus(
    "c1",
    "Follow-ups",
    {"active": 3, "replied": 1},
    (StepStatus(1, 0, 0, 50, False, {"A": counts(4, 1), "B": counts(0, 0)}),),
)


def test_the_text_names_the_leads_and_each_variant_sent() -> None:
    assert report.lines([STATUS]) == [
        "sequence Follow-ups: leads 3 active, 1 replied",
        "    step 1 A: sent 4, delivered 0 (0.0%), opened 0 (0.0%), clicked 0 (0.0%), "
        "replied 1 (25.0%), bounced 0 (0.0%)",
    ]


def test_the_json_has_every_lead_status_and_the_rates() -> None:
    (document,) = report.documents([STATUS])
    assert document["leads"]["completed"] == 0 and document["leads"]["active"] == 3
    step = document["steps"][0]
    assert step["rates"]["A"]["replied"] == 0.25 and step["rates"]["B"]["replied"] is None


def test_the_next_step_due_is_said_in_utc_and_given_in_the_json() -> None:
    due = replace(STATUS, next_due=datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    assert report.lines([due])[0] == (
        "sequence Follow-ups: leads 3 active, 1 replied; next step due 2026-12-07 14:00 UTC"
    )
    assert report.documents([due])[0]["next_due"] == "2026-12-07T14:00:00+00:00"
    assert report.documents([STATUS])[0]["next_due"] is None
