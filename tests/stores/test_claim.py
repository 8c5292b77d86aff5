"""Store contract: what a claim takes, and what it hands over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign_runner.ports import Pacing

from .kits import DUE, T0, Kit

WORKER = "worker-a"


def test_claim_takes_due_rows_in_due_order_once(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    later = kit.seed.email(campaign, scheduled_for=T0 - timedelta(minutes=1))
    earlier = kit.seed.email(campaign, scheduled_for=T0 - timedelta(minutes=9))
    exactly_now = kit.seed.email(campaign, scheduled_for=T0)
    kit.seed.email(campaign, scheduled_for=T0 + timedelta(seconds=1))
    kit.seed.email(campaign, status="staged")
    kit.seed.email(campaign, status="sent")

    claimed = kit.store.claim(WORKER, 10, T0, Pacing())

    assert [e.id for e in claimed] == [earlier, later, exactly_now]
    assert kit.store.claim("worker-b", 10, T0, Pacing()) == []
    row = kit.seed.email_row(earlier)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("processing", 1, WORKER)
    assert row["locked_at"] == T0


def test_claim_takes_no_more_than_the_limit(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    ids = [kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i)) for i in range(5)]

    first = kit.store.claim(WORKER, 2, T0, Pacing())
    rest = kit.store.claim(WORKER, 10, T0, Pacing())

    assert [e.id for e in first] == ids[:2]
    assert [e.id for e in rest] == ids[2:]


def test_claimed_row_carries_its_fields_and_campaign(kit: Kit) -> None:
    campaign = kit.seed.campaign(
        name="Launch", subject="Hi {{ first_name }}", ai_prompt="Be brief", reply_to="r@acme.test"
    )
    email_id = kit.seed.email(
        campaign,
        to_email="ann@example.org",
        to_name="Ann",
        from_email="news@acme.test",
        subject=None,
        body="",
        metadata={"first_name": "Ann", "company": "Initech", "seats": 3},
    )

    (email,) = kit.store.claim(WORKER, 10, T0, Pacing())

    assert (email.id, email.campaign_id) == (email_id, campaign)
    assert (email.to_email, email.to_name, email.from_email) == (
        "ann@example.org",
        "Ann",
        "news@acme.test",
    )
    assert email.subject is None and email.body == ""
    assert email.metadata == {"first_name": "Ann", "company": "Initech", "seats": 3}
    assert email.attempts == 1
    assert email.scheduled_for == DUE
    assert email.suppressed is False
    assert email.campaign is not None
    # As the claim left it: its first claim moved the campaign to `sending`.
    assert (email.campaign.id, email.campaign.name, email.campaign.status) == (
        campaign,
        "Launch",
        "sending",
    )
    assert email.campaign.subject == "Hi {{ first_name }}"
    assert email.campaign.ai_prompt == "Be brief"
    assert (email.campaign.from_name, email.campaign.reply_to) == ("Acme", "r@acme.test")


def test_first_claim_moves_a_scheduled_campaign_to_sending(kit: Kit) -> None:
    campaign = kit.seed.campaign("scheduled")
    kit.seed.email(campaign)
    kit.seed.email(campaign)

    kit.store.claim(WORKER, 1, T0, Pacing())
    kit.store.claim(WORKER, 1, T0 + timedelta(minutes=1), Pacing())

    row = kit.seed.campaign_row(campaign)
    assert row["status"] == "sending"
    assert row["started_at"] == T0


@pytest.mark.parametrize("status", ["draft", "staged", "paused", "completed", "cancelled"])
def test_rows_of_a_campaign_not_scheduled_or_sending_are_never_claimed(
    kit: Kit, status: str
) -> None:
    held = kit.seed.campaign(status)
    kit.seed.email(held)
    live = kit.seed.email(kit.seed.campaign("sending"))

    assert [e.id for e in kit.store.claim(WORKER, 10, T0, Pacing())] == [live]
    assert kit.store.peek_due(10, T0) == []
    assert kit.seed.campaign_row(held)["status"] == status


def test_pausing_a_campaign_stops_it_from_the_next_claim_on(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    first = kit.seed.email(campaign, scheduled_for=DUE)
    kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=1))

    assert [e.id for e in kit.store.claim(WORKER, 1, T0, Pacing())] == [first]
    kit.seed.set_campaign_status(campaign, "paused")
    assert kit.store.claim(WORKER, 10, T0, Pacing()) == []
    kit.seed.set_campaign_status(campaign, "sending")
    assert len(kit.store.claim(WORKER, 10, T0, Pacing())) == 1


def test_row_whose_campaign_is_gone_is_claimed_without_one(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    orphan = kit.seed.email(campaign)
    kit.seed.delete_campaign(campaign)

    (email,) = kit.store.claim(WORKER, 10, T0, Pacing())

    assert (email.id, email.campaign_id, email.campaign) == (orphan, campaign, None)


def test_suppressed_recipient_is_flagged_whatever_its_case_and_spaces(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.suppress("bob@example.org")
    bob = kit.seed.email(campaign, to_email="  Bob@Example.ORG ")
    kit.seed.email(campaign, to_email="bobby@example.org")

    flags = {e.id: e.suppressed for e in kit.store.claim(WORKER, 10, T0, Pacing())}

    assert flags.pop(bob) is True
    assert list(flags.values()) == [False]


def test_timestamps_with_any_offset_are_read_as_the_instant_they_name(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    # 09:05 in California is 17:05 UTC, five minutes after T0.
    pacific = kit.seed.email(campaign, scheduled_for="2026-11-23T09:05:00-08:00")
    india = kit.seed.email(campaign, scheduled_for="2026-11-23T22:31:00+05:30")  # 17:01 UTC

    assert kit.store.claim(WORKER, 10, T0, Pacing()) == []
    claimed = kit.store.claim(WORKER, 10, T0 + timedelta(minutes=5), Pacing())

    assert [e.id for e in claimed] == [india, pacific]
    assert claimed[1].scheduled_for == datetime(2026, 11, 23, 17, 5, tzinfo=UTC)
    assert claimed[0].scheduled_for == datetime(2026, 11, 23, 17, 1, tzinfo=UTC)


def test_peek_due_shows_what_a_claim_would_take_and_changes_nothing(kit: Kit) -> None:
    campaign = kit.seed.campaign("scheduled")
    ids = [kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i)) for i in range(3)]
    kit.seed.email(campaign, scheduled_for=T0 + timedelta(hours=1))

    peeked = kit.store.peek_due(2, T0)

    assert [e.id for e in peeked] == ids[:2]
    assert peeked[0].campaign is not None and peeked[0].attempts == 0
    assert {kit.seed.email_row(i)["status"] for i in ids} == {"queued"}
    assert kit.seed.campaign_row(campaign)["status"] == "scheduled"
    assert [e.id for e in kit.store.claim(WORKER, 2, T0, Pacing())] == ids[:2]
