"""Events land on their rows, suppress, settle and count: the same on Postgres and SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from campaign_runner.events.records import page_records
from campaign_runner.events.windows import Window
from tests.fakes.sparkpost_events import raw_event as raw

from .kits import Kit, SqliteKit

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=6))
NOW = T0 + timedelta(hours=7)
AMBIGUOUS = "ambiguous: interrupted during send (worker w9 stopped after the send started)"


def ingest(kit: Kit, *events: Any, poller: str = "w1", **options: Any) -> dict[str, Any]:
    kit.claim(poller, NOW)
    return kit.ingest(poller, NOW, page_records(list(events)), WINDOW, **options)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_each_event_lands_on_its_row_and_reading_it_again_changes_nothing(kit: Kit) -> None:
    campaign = kit.campaign()
    ana = kit.row(campaign, "ana@example.org")
    bob = kit.row(campaign, "bob@example.com")
    cy = kit.row(campaign, "cy@example.net")
    di = kit.row(campaign, "Di@Example.net")
    page = [
        raw("injection", ana, at(0)),
        raw("delivery", ana, at(1)),
        raw("open", ana, at(5)),
        raw("click", ana, at(6)),
        raw("bounce", bob, at(1), "bob@example.com", bounce_class="10", reason="550 5.1.1 unknown"),
        raw("delivery", cy, at(1), "cy@example.net"),
        raw("spam_complaint", cy, at(60), "cy@example.net", fbtype="abuse"),
        raw("delivery", di, at(1), "di@example.net", raw_rcpt_to="Di@Example.net"),
        raw("list_unsubscribe", di, at(90), "di@example.net"),
    ]

    first = ingest(kit, *page)
    facts, counters, suppressed = (
        {r: kit.facts(r) for r in (ana, bob, cy, di)},
        kit.counters(campaign),
        kit.suppressions(),
    )
    again = ingest(kit, *page)

    assert first["stored"] == 9 and first["landed"] == 4 and first["unmatched"] == 0
    assert first["suppressed"] == 3
    assert facts[ana]["delivered_at"] == at(1) and facts[ana]["opened_at"] == at(5)
    assert facts[ana]["clicked_at"] == at(6) and facts[ana]["bounced_at"] is None
    assert facts[bob]["bounced_at"] == at(1) and facts[bob]["bounce_class"] == 10
    assert facts[bob]["bounce_reason"] == "550 5.1.1 unknown"
    assert facts[bob]["delivered_at"] is None
    assert facts[cy]["complained_at"] == at(60) and facts[di]["unsubscribed_at"] == at(90)
    assert set(suppressed) == {"bob@example.com", "cy@example.net", "di@example.net"}
    assert suppressed["cy@example.net"] == ("spam complaint", "sparkpost spam_complaint")
    assert suppressed["bob@example.com"][0].startswith("hard bounce (class 10)")
    assert counters == {
        "sent_count": 4,
        "failed_count": 0,
        "delivered_count": 3,
        "opened_count": 1,
        "clicked_count": 1,
        "bounced_count": 1,
        "complained_count": 1,
        "unsubscribed_count": 1,
    }
    assert again["stored"] == 0 and again["duplicates"] == 9 and again["landed"] == 0
    assert {r: kit.facts(r) for r in (ana, bob, cy, di)} == facts
    assert kit.counters(campaign) == counters and kit.suppressions() == suppressed
    assert len(kit.events()) == 9


def test_a_soft_bounce_is_a_fact_and_suppresses_nothing(kit: Kit) -> None:
    campaign = kit.campaign()
    bob = kit.row(campaign, "bob@example.com")

    ingest(kit, raw("bounce", bob, at(1), "bob@example.com", bounce_class="22"))

    assert kit.facts(bob)["bounce_class"] == 22 and kit.suppressions() == {}


def test_the_earliest_event_of_a_kind_wins_whatever_order_it_is_read_in(kit: Kit) -> None:
    campaign = kit.campaign()
    ana = kit.row(campaign, "ana@example.org")

    ingest(kit, raw("open", ana, at(30)), raw("out_of_band", ana, at(50), bounce_class="30"))
    ingest(kit, raw("open", ana, at(10)), raw("bounce", ana, at(40), bounce_class="21"))
    ingest(kit, raw("open", ana, at(20)), raw("bounce", ana, at(45), bounce_class="10"))

    facts = kit.facts(ana)
    assert facts["opened_at"] == at(10)
    assert (facts["bounced_at"], facts["bounce_class"]) == (at(40), 21)
    assert kit.counters(campaign)["opened_count"] == 1


def test_without_rcpt_meta_an_event_finds_its_row_by_transmission_then_message_id(
    kit: Kit,
) -> None:
    campaign = kit.campaign()
    ana = kit.row(campaign, "ana@example.org", provider_message_id="11668787484950529")
    delivery = raw("delivery", None, at(1), transmission="11668787484950529", message="m-1")
    # Mail older than 60 days: engagement events lose rcpt_meta and transmission_id.
    late_click = raw("click", None, at(60 * 24 * 61), message="m-1")

    first = ingest(kit, delivery)
    second = ingest(kit, late_click)

    assert first["landed"] == 1 and second["landed"] == 1 and second["unmatched"] == 0
    assert kit.facts(ana)["delivered_at"] == at(1)
    assert kit.facts(ana)["clicked_at"] == at(60 * 24 * 61)
    assert {e["email_id"] for e in kit.events()} == {ana}


def test_an_event_for_no_row_of_ours_is_kept_counted_and_still_suppresses(kit: Kit) -> None:
    stranger = str(uuid.uuid4())

    result = ingest(kit, raw("spam_complaint", stranger, at(5), "zed@example.com"))

    assert result["stored"] == 1 and result["unmatched"] == 1 and result["landed"] == 0
    (event,) = kit.events()
    assert event["email_id"] is None and event["type"] == "spam_complaint"
    assert "zed@example.com" in kit.suppressions()
    assert kit.position()["events_unmatched"] == 1


def test_malformed_events_are_kept_and_the_rest_of_the_page_still_lands(kit: Kit) -> None:
    campaign = kit.campaign()
    ana = kit.row(campaign, "ana@example.org")
    page = [
        "garbage",
        raw("teleport", ana, at(2)),
        raw("delivery", ana, at(3), timestamp="yesterday"),
        raw("open", "not-an-id", at(4)),
        raw("delivery", ana, at(1)),
    ]

    result = ingest(kit, *page)

    assert result["stored"] == 5 and result["problems"] == 4
    assert kit.facts(ana)["delivered_at"] == at(1) and kit.facts(ana)["opened_at"] is None
    stored = {e["type"]: e for e in kit.events()}
    assert stored[""]["raw"] == "garbage" and "not a JSON object" in stored[""]["problem"]
    assert stored["teleport"]["email_id"] == ana


def test_an_ambiguous_row_with_an_injection_is_settled_as_sent(kit: Kit) -> None:
    campaign = kit.campaign("completed")
    row = kit.row(
        campaign, "ana@example.org", status="failed", error=AMBIGUOUS, failure_kind="ambiguous"
    )
    kit.roll_up(None, NOW)
    assert kit.counters(campaign)["failed_count"] == 1

    result = ingest(kit, raw("injection", row, at(0), transmission="777"))

    facts = kit.facts(row)
    assert result["settled_sent"] == 1 and result["settled_not_sent"] == 0
    assert facts["status"] == "sent" and facts["error"] is None
    assert facts["failure_kind"] is None
    assert facts["sent_at"] == at(0) and facts["provider_message_id"] == "777"
    assert facts["settled_note"].startswith("settled as sent: SparkPost reported injection")
    assert AMBIGUOUS in facts["settled_note"]
    assert kit.counters(campaign)["sent_count"] == 1
    assert kit.counters(campaign)["failed_count"] == 0


def test_an_ambiguous_row_sparkpost_refused_is_marked_not_accepted(kit: Kit) -> None:
    campaign = kit.campaign()
    row = kit.row(
        campaign, "ana@example.org", status="failed", error=AMBIGUOUS, failure_kind="ambiguous"
    )

    result = ingest(
        kit, raw("generation_rejection", row, at(0), reason="554 5.7.1 suppressed (Bounce Rule)")
    )

    facts = kit.facts(row)
    assert result["settled_not_sent"] == 1 and facts["status"] == "failed"
    assert facts["failure_kind"] == "not_accepted"
    assert facts["error"].startswith("not accepted: SparkPost reported generation_rejection")
    assert "Bounce Rule" in facts["error"] and AMBIGUOUS in facts["error"]


def test_only_ambiguous_rows_are_settled(kit: Kit) -> None:
    campaign = kit.campaign()
    rejected = kit.row(
        campaign,
        "ana@example.org",
        status="failed",
        error="rejected: refused",
        failure_kind="rejected",
    )
    sending = kit.row(campaign, "bob@example.com", status="processing", locked_by="w2")

    ingest(kit, raw("injection", rejected, at(0)), raw("injection", sending, at(0)))

    assert kit.facts(rejected)["status"] == "failed"
    assert kit.facts(rejected)["error"] == "rejected: refused"
    assert kit.facts(sending)["status"] == "processing"


def test_a_send_with_no_event_is_not_accepted_once_the_reading_passed_it(kit: Kit) -> None:
    campaign = kit.campaign()
    unseen = kit.row(
        campaign,
        "ana@example.org",
        status="failed",
        error=AMBIGUOUS,
        failure_kind="ambiguous",
        send_started_at=at(10),
    )
    too_old = kit.row(
        campaign,
        "bob@example.com",
        status="failed",
        error=AMBIGUOUS,
        failure_kind="ambiguous",
        send_started_at=at(-120),
    )
    too_recent = kit.row(
        campaign,
        "cy@example.net",
        status="failed",
        error=AMBIGUOUS,
        failure_kind="ambiguous",
        send_started_at=at(350),
    )
    seen = kit.row(
        campaign,
        "di@example.net",
        status="failed",
        error=AMBIGUOUS,
        failure_kind="ambiguous",
        send_started_at=at(10),
    )
    assert kit.settle_unseen(900, NOW) == 0  # nothing read yet: no evidence either way
    ingest(kit, raw("delay", seen, at(11), "di@example.net"))

    settled = kit.settle_unseen(900, NOW)

    assert settled == 1
    assert kit.facts(unseen)["error"].startswith("not accepted: SparkPost reported no event")
    assert kit.facts(unseen)["settled_note"].startswith("settled as not sent")
    assert kit.facts(unseen)["failure_kind"] == "not_accepted"
    for doubtful in (too_old, too_recent):  # before the reading began; too soon to tell
        assert kit.facts(doubtful)["error"] == AMBIGUOUS
        assert kit.facts(doubtful)["failure_kind"] == "ambiguous"
    assert kit.facts(seen)["status"] == "sent"
    assert kit.settle_unseen(900, NOW) == 0


def test_the_read_position_moves_with_the_last_page_of_a_window_only(kit: Kit) -> None:
    kit.claim("w1", NOW)
    first = kit.ingest("w1", NOW, page_records([raw("delivery", None, at(1))]), WINDOW, "/p2")
    middle = kit.position()
    last = kit.ingest("w1", NOW, page_records([raw("delivery", None, at(2))]), WINDOW)
    done = kit.position()
    later = Window(WINDOW.end - timedelta(minutes=5), WINDOW.end + timedelta(hours=1))
    kit.ingest("w1", NOW, [], later)
    gap = Window(later.end + timedelta(hours=2), later.end + timedelta(hours=3))
    kit.ingest("w1", NOW, [], gap)

    assert first["read_to"] is None and middle["next_path"] == "/p2"
    assert (middle["window_from"], middle["window_to"]) == (WINDOW.start, WINDOW.end)
    assert last["read_to"] is not None and done["read_to"] == WINDOW.end
    assert done["next_path"] is None and done["window_from"] is None
    assert done["read_since"] == WINDOW.start and done["events_stored"] == 2
    after_gap = kit.position()
    assert after_gap["read_to"] == gap.end and after_gap["read_since"] == gap.start


def test_one_poller_at_a_time_and_a_lapsed_lease_passes_on(kit: Kit) -> None:
    page = page_records([raw("delivery", None, at(1))])

    mine = kit.claim("w1", NOW, lease=60)
    theirs = kit.claim("w2", NOW + timedelta(seconds=30), lease=60)
    refused = kit.ingest("w2", NOW, page, WINDOW)
    taken_over = kit.claim("w2", NOW + timedelta(seconds=61), lease=60)
    stale = kit.ingest("w1", NOW + timedelta(seconds=62), page, WINDOW)

    assert mine["claimed"] and not theirs["claimed"] and theirs["holder"] == "w1"
    assert refused["lease_held"] is False and stale["lease_held"] is False
    assert taken_over["claimed"] and kit.events() == []
    assert kit.release("w1", NOW) is False
    assert kit.release("w2", NOW) is True
    assert kit.claim("w1", NOW)["claimed"]


def test_the_counters_recount_from_the_rows(kit: Kit) -> None:
    campaign = kit.campaign()
    ana = kit.row(campaign, "ana@example.org")
    ingest(kit, raw("delivery", ana, at(1)), raw("open", ana, at(2)))
    counted = kit.counters(campaign)

    assert kit.roll_up(None, NOW) >= 1
    assert kit.counters(campaign) == counted
    assert kit.roll_up([str(uuid.uuid4())], NOW) == 0


def test_sqlite_install_runs_again_on_an_installed_file(tmp_path: Path) -> None:
    first = SqliteKit(tmp_path / "queue.db")
    first.close()
    again = SqliteKit(tmp_path / "queue.db")

    assert again.position is not None
    assert again.claim("w1", NOW)["claimed"]
    again.close()
