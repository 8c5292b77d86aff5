"""What each event does to its row, its address and an ambiguous send."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_runner.events.parse import parse
from campaign_runner.events.records import page_records
from campaign_runner.events.rules import effect

from .test_parse import BOUNCE


def event(kind: str, **fields: Any) -> Any:
    return parse({**BOUNCE, "type": kind, **fields})


@pytest.mark.parametrize("bounce_class", ["10", "30", "90"])
@pytest.mark.parametrize("kind", ["bounce", "out_of_band"])
def test_hard_bounces_suppress(kind: str, bounce_class: str) -> None:
    decided = effect(event(kind, bounce_class=bounce_class))

    assert decided.suppress is not None and f"class {bounce_class}" in decided.suppress
    assert decided.column == "bounced_at"


@pytest.mark.parametrize("bounce_class", ["1", "20", "21", "22", "25", "50", "51", "80", "100"])
def test_soft_block_admin_and_undetermined_bounces_do_not(bounce_class: str) -> None:
    decided = effect(event("bounce", bounce_class=bounce_class))

    assert decided.suppress is None
    assert decided.column == "bounced_at"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("spam_complaint", "spam complaint"),
        ("list_unsubscribe", "unsubscribed (List-Unsubscribe)"),
        ("link_unsubscribe", "unsubscribed (unsubscribe link)"),
    ],
)
def test_complaints_and_unsubscribes_always_suppress(kind: str, reason: str) -> None:
    assert effect(event(kind, bounce_class=None)).suppress == reason


def test_no_address_nothing_to_suppress() -> None:
    assert effect(event("spam_complaint", rcpt_to=None)).suppress is None


@pytest.mark.parametrize(
    ("kind", "column"),
    [
        ("delivery", "delivered_at"),
        ("initial_open", "opened_at"),
        ("open", "opened_at"),
        ("amp_open", "opened_at"),
        ("click", "clicked_at"),
        ("amp_click", "clicked_at"),
        ("bounce", "bounced_at"),
        ("out_of_band", "bounced_at"),
        ("spam_complaint", "complained_at"),
        ("list_unsubscribe", "unsubscribed_at"),
        ("link_unsubscribe", "unsubscribed_at"),
        ("injection", None),
        ("delay", None),
        ("generation_rejection", None),
        ("teleport", None),
    ],
)
def test_which_column_each_event_sets(kind: str, column: str | None) -> None:
    assert effect(event(kind)).column == column


def test_an_undated_event_sets_no_column() -> None:
    assert effect(event("delivery", timestamp="yesterday")).column is None


@pytest.mark.parametrize(
    ("kind", "evidence"),
    [
        ("injection", "sent"),
        ("delivery", "sent"),
        ("delay", "sent"),
        ("bounce", "sent"),
        ("out_of_band", "sent"),
        ("open", "sent"),
        ("click", "sent"),
        ("spam_complaint", "sent"),
        ("link_unsubscribe", "sent"),
        ("policy_rejection", "not_sent"),
        ("generation_failure", "not_sent"),
        ("generation_rejection", "not_sent"),
        ("teleport", None),
    ],
)
def test_what_an_event_proves_about_the_send(kind: str, evidence: str | None) -> None:
    assert effect(event(kind)).evidence == evidence


def test_a_page_becomes_records_once_each_with_decisions() -> None:
    records = page_records([BOUNCE, "garbage", dict(BOUNCE)])

    assert len(records) == 2
    bounce, garbage = records
    assert bounce["event_id"] == BOUNCE["event_id"]
    assert bounce["sets"] == "bounced_at" and bounce["evidence"] == "sent"
    assert bounce["suppress"].startswith("hard bounce (class 10)")
    assert bounce["occurred_at"] == "2026-11-30T10:42:07+00:00" and bounce["raw"] == BOUNCE
    assert garbage["problem"] and garbage["sets"] is None and garbage["raw"] == "garbage"
