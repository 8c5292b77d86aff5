"""Sequences inside their campaigns' windows, against every store (issue 17): a lead's
next_email_at is moved into the window, a queued step never goes out after the span
it was queued in ends (the claim leaves it, the dispatcher moves it to the next span),
and a reply naming SparkPost's own message id finds its lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign_runner.intake.records import CampaignRef
from campaign_runner.intake.rows_export import as_table, normal
from campaign_runner.ports import Pacing
from campaign_runner.sequences.dispatch import Dispatcher
from campaign_runner.sequences.model import Inbound, MailboxState

from .kits import T0, Kit
from .sequence_seed import lead, lead_row, mark_sent, sequence_campaign
from .test_sequences import ALWAYS, EchoGenerator, dispatch

MONDAY = T0.replace(hour=0)  # 2026-11-23
OFFICE = {
    "send_days": ["mon", "tue", "wed", "thu", "fri"],
    "send_time_start": "09:00",
    "send_time_end": "17:00",
    "timezone": "UTC",
}


def at(days: int, hours: float) -> datetime:
    return MONDAY + timedelta(days=days, hours=hours)


def _time(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)


def test_next_email_at_is_moved_forward_into_the_campaigns_window(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {"delay_hours": 10}], **OFFICE)
    evening = lead(kit.seed, campaign, 1, created_at=at(0, 9))
    weekend = lead(kit.seed, campaign, 2, created_at=at(4, 9))

    dispatch(kit, at(0, 10))
    mark_sent(kit.seed, lead_row(kit.seed, evening)["rows"][0]["id"], at(0, 10))
    report = dispatch(kit, at(0, 10.5))
    assert report.progress == {"advanced": 1} and report.fitted == {"leads": 1}
    # Monday 10:00 + 10 h is 20:00, after hours: the step goes Tuesday at 09:00.
    assert _time(lead_row(kit.seed, evening)["next_email_at"]) == at(1, 9)
    (shown,) = kit.store.sequence_status()  # type: ignore[attr-defined]
    assert shown.next_due == at(1, 9)  # what `status` says comes next
    assert dispatch(kit, at(1, 8.9)).dispatched == {}
    assert dispatch(kit, at(1, 9)).dispatched == {"queued": 1}

    dispatch(kit, at(4, 15))
    mark_sent(kit.seed, lead_row(kit.seed, weekend)["rows"][0]["id"], at(4, 15))
    dispatch(kit, at(4, 15.5))
    # Friday 15:00 + 10 h is Saturday 01:00: Monday at 09:00.
    assert _time(lead_row(kit.seed, weekend)["next_email_at"]) == at(7, 9)
    assert dispatch(kit, at(4, 16)).fitted == {}  # fitted once, left alone after


def test_a_step_held_past_its_windows_end_waits_for_the_next_span(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}], **OFFICE)
    one = lead(kit.seed, campaign, 1, created_at=at(0, 9))

    assert dispatch(kit, at(0, 16.8)).dispatched == {"queued": 1}
    (row,) = lead_row(kit.seed, one)["rows"]
    assert _time(row["send_before"]) == at(0, 17)

    # Its domain's pacing held it until after 17:00: no claim takes it now.
    assert kit.store.claim("w1", 10, at(0, 17.1), Pacing()) == []
    assert dispatch(kit, at(0, 17.2)).fitted == {"rows": 1}
    (row,) = lead_row(kit.seed, one)["rows"]
    assert row["status"] == "queued"
    assert (_time(row["scheduled_for"]), _time(row["send_before"])) == (at(1, 9), at(1, 17))
    assert kit.store.claim("w1", 10, at(1, 8.9), Pacing()) == []
    assert [e.id for e in kit.store.claim("w1", 10, at(1, 9), Pacing())] == [row["id"]]


def test_a_row_outside_any_sequence_is_claimed_as_before(kit: Kit) -> None:
    campaign = kit.seed.campaign(status="scheduled")
    row = kit.seed.email(campaign, scheduled_for=at(0, 3))
    assert [e.id for e in kit.store.claim("w1", 10, at(0, 20), Pacing())] == [row]


def test_a_reply_naming_sparkposts_own_message_id_finds_its_lead(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}])
    one, other = lead(kit.seed, campaign, 1), lead(kit.seed, campaign, 2)
    dispatch(kit, T0)
    row = lead_row(kit.seed, one)["rows"][0]["id"]
    mark_sent(kit.seed, row, T0)
    kit.seed.execute(  # as the events poll stores SparkPost's delivery event (0006)
        "insert_event", {"event_id": "e1", "email_id": row, "message_id": "000443ee14578172be22"}
    )
    messages = [
        Inbound(1, "<r1@mail.test>", "reply", references=("<000443ee14578172be22@sp.test>",)),
        Inbound(2, "<r2@mail.test>", "reply", references=("<000443ee14578172be99@sp.test>",)),
    ]
    counts = kit.store.record_inbound(  # type: ignore[attr-defined]
        "box", "news@acme.test", MailboxState(1, 2), messages, T0 + timedelta(hours=1)
    )
    assert counts == {"reply": 2, "stopped": 1, "unmatched": 1}
    assert lead_row(kit.seed, one)["status"] == "replied"
    assert lead_row(kit.seed, other)["status"] == "active"


def test_a_campaigns_steps_are_read_for_test_send(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {"variant_a_subject": None}])
    steps = kit.store.sequence_steps(campaign)  # type: ignore[attr-defined]
    assert sorted(steps) == [1, 2]
    assert steps[1].variant_a_subject == "Step 1 A for {{ first_name }}"
    assert steps[2].variant_a_subject is None and not steps[2].use_ai_generation
    assert kit.store.sequence_steps(kit.seed.campaign()) == {}  # type: ignore[attr-defined]


def test_a_campaign_whose_schedule_cannot_send_is_left_out_and_the_rest_go_on(
    kit: Kit, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = sequence_campaign(kit.seed, [{}], timezone="Mars/Olympus")
    good = sequence_campaign(kit.seed, [{}], **OFFICE)
    lead(kit.seed, bad, 1, created_at=at(0, 9))
    kept = lead(kit.seed, good, 2, created_at=at(0, 9))

    dispatcher = Dispatcher(kit.store, EchoGenerator(), ALWAYS, lambda: at(0, 10), 500)  # type: ignore[arg-type]
    assert dispatcher.run().dispatched == {"queued": 1}
    assert dispatcher.run().dispatched == {}
    assert len(lead_row(kit.seed, kept)["rows"]) == 1
    logged = capsys.readouterr().out
    assert logged.count("campaign_schedule_invalid") == 1  # once, not every run
    assert "'Mars/Olympus' is not a known (IANA) time zone" in logged


def test_outside_the_workers_window_only_rows_bound_to_their_campaigns_are_claimed(
    kit: Kit,
) -> None:
    campaign = sequence_campaign(kit.seed, [{}], **OFFICE)
    one = lead(kit.seed, campaign, 1, created_at=at(0, 9))
    plain = kit.seed.email(kit.seed.campaign(status="scheduled"), scheduled_for=at(0, 9))
    dispatch(kit, at(0, 10))
    (step,) = lead_row(kit.seed, one)["rows"]

    bound = kit.store.claim("w1", 10, at(0, 10), Pacing(), bound_only=True)
    assert [e.id for e in bound] == [step["id"]]
    assert [e.id for e in kit.store.claim("w1", 10, at(0, 10), Pacing())] == [plain]


def test_rows_name_each_steps_lead_step_variant_and_window_end(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}], **OFFICE)
    one = lead(kit.seed, campaign, 1, created_at=at(0, 9))
    dispatch(kit, at(0, 10))

    (row,) = [normal(r) for r in kit.store.rows_page(campaign, None, None, 10)]  # type: ignore[attr-defined]
    assert (row["lead_id"], row["step_number"], row["variant"]) == (one, 1, "A")
    assert row["send_before"] == at(0, 17).isoformat()
    ref = CampaignRef(campaign, None, "Steps", "sending")
    table = as_table(ref, kit.store.rows_page(campaign, None, None, 10))  # type: ignore[attr-defined]
    assert "lead1@example.org                1A    queued" in table


def test_a_claimed_step_of_a_lead_that_replies_gives_its_domains_slot_back(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}])
    leads = [lead(kit.seed, campaign, n) for n in (1, 2)]
    dispatch(kit, T0)
    paced = Pacing(min_interval_seconds=210)
    (claimed,) = kit.store.claim("w1", 10, T0, paced)  # one a domain: the other waits
    replier = next(i for i in leads if lead_row(kit.seed, i)["rows"][0]["id"] == claimed.id)
    assert claimed.message_id_header is not None
    answer = Inbound(1, "<r@mail.test>", "reply", references=(claimed.message_id_header,))
    kit.store.record_inbound("box", "", MailboxState(1, 1), [answer], T0)  # type: ignore[attr-defined]

    (row,) = lead_row(kit.seed, replier)["rows"]
    assert (row["status"], row["failure_kind"]) == ("failed", "stopped")
    # Nothing left for the replier: the domain's slot is the other lead's at once.
    (other,) = kit.store.claim("w1", 10, T0 + timedelta(seconds=1), paced)
    assert other.id != claimed.id
