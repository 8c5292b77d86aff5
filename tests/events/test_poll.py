"""A campaign sent through the loopback SparkPost, then polled back: on both dialects.

The real sender posts each row (its id in rcpt_meta), the fake makes the planned
events, and `poll_once` reads them through the real client into the store's SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from campaign_runner.config import Config
from campaign_runner.errors import AmbiguousError
from campaign_runner.events.client import EventsBusy, EventsClient
from campaign_runner.events.poll import PollReport, poll_once
from campaign_runner.events.windows import Window
from campaign_runner.senders.sparkpost import SparkPostSender
from tests.fakes.sparkpost_events import ManualClock, Outcome
from tests.fakes.sparkpost_server import FakeSparkPost, Reply
from tests.sparkpost.conftest import message

from .conftest import API_KEY, QUICK
from .kits import Kit

GRACE = 900
AMBIGUOUS = "ambiguous: interrupted during send (the answer was lost; it may have been delivered)"
PLANS = {
    "ana@example.org": (Outcome.open(), Outcome.click()),
    "bob@example.com": (Outcome.bounce(10),),
    "cy@example.net": (Outcome.spam_complaint(),),
    "di@example.net": (Outcome.link_unsubscribe(),),
    "ed@example.com": (Outcome.bounce(22),),
    "fay@example.org": (Outcome.out_of_band(30),),
}


@pytest.fixture
def sender(
    make_config: Callable[..., Config], sparkpost: FakeSparkPost
) -> Iterator[SparkPostSender]:
    config = make_config(
        SENDER="sparkpost",
        SPARKPOST_API_KEY=API_KEY,
        SPARKPOST_API_URL=sparkpost.url,
        SENDER_ADDRESS="Fund Team, 1 Main Street, Springfield",
    )
    made = SparkPostSender(config, QUICK)
    yield made
    made.close()


@pytest.fixture
def events(sparkpost: FakeSparkPost) -> Iterator[EventsClient]:
    with EventsClient(sparkpost.url, API_KEY, per_page=4, backoff=QUICK) as client:
        yield client


def send_campaign(
    kit: Kit, sparkpost: FakeSparkPost, sender: SparkPostSender, clock: ManualClock
) -> tuple[str, dict[str, str]]:
    """Every planned address sent and recorded as the pipeline would; then one send
    SparkPost took whose answer was lost, and one it never took."""
    campaign = kit.campaign()
    rows: dict[str, str] = {}
    for address, plan in PLANS.items():
        sparkpost.events.plan(address, *plan)
        row = str(uuid.uuid4())
        transmission = sender.send(message(email_id=row, campaign_id=campaign, to_email=address))
        kit.row(campaign, address, id=row, provider_message_id=transmission, sent_at=clock())
        rows[address] = row
        clock.advance(seconds=30)
    sparkpost.script(Reply.hang_up_after_accepting(), Reply.hang_up_after_request())
    for address in ("gus@example.org", "hal@example.org"):
        row = str(uuid.uuid4())
        with pytest.raises(AmbiguousError):
            sender.send(message(email_id=row, campaign_id=campaign, to_email=address))
        kit.row(
            campaign,
            address,
            id=row,
            status="failed",
            error=AMBIGUOUS,
            failure_kind="ambiguous",
            send_started_at=clock(),
        )
        rows[address] = row
    return campaign, rows


def poll(kit: Kit, events: EventsClient, clock: ManualClock, **options: Any) -> PollReport:
    return poll_once(kit.store, events, "w1", clock, GRACE, **options)


def test_a_campaign_polled_back_carries_every_fact_and_a_second_poll_changes_nothing(
    kit: Kit,
    sparkpost: FakeSparkPost,
    sender: SparkPostSender,
    events: EventsClient,
    clock: ManualClock,
) -> None:
    sparkpost.events.repeat_across_pages = True
    sparkpost.events.delay = timedelta(minutes=1)
    campaign, rows = send_campaign(kit, sparkpost, sender, clock)
    clock.advance(hours=4)

    first = poll(kit, events, clock)
    facts = {address: kit.facts(row) for address, row in rows.items()}
    counters = kit.counters(campaign)
    suppressed = kit.suppressions()
    clock.advance(minutes=10)
    second = poll(kit, events, clock)

    made = sparkpost.events.all_events()
    assert first.counts["stored"] == len(made) and first.counts["unmatched"] == 0
    assert first.counts["duplicates"] > 0  # the pages repeated an event at each edge
    assert first.pages > 2 and first.lost is None
    assert facts["ana@example.org"]["opened_at"] and facts["ana@example.org"]["clicked_at"]
    assert facts["bob@example.com"]["bounce_class"] == 10
    assert facts["bob@example.com"]["delivered_at"] is None
    assert facts["cy@example.net"]["complained_at"] and facts["di@example.net"]["unsubscribed_at"]
    assert facts["ed@example.com"]["bounce_class"] == 22
    assert facts["fay@example.org"]["delivered_at"] and facts["fay@example.org"]["bounced_at"]
    assert set(suppressed) == {
        "bob@example.com",
        "cy@example.net",
        "di@example.net",
        "fay@example.org",
    }
    gus, hal = facts["gus@example.org"], facts["hal@example.org"]
    assert gus["status"] == "sent" and gus["settled_note"].startswith("settled as sent")
    assert gus["provider_message_id"] is not None
    assert hal["status"] == "failed" and hal["error"].startswith("not accepted:")
    assert first.counts["settled_sent"] == 1 and first.not_accepted == 1
    assert counters == {
        "sent_count": 7,  # the six, and gus's settled
        "failed_count": 1,  # hal's, not accepted
        "delivered_count": 5,  # ana, cy, di, fay, gus: bob and ed bounced outright
        "opened_count": 1,
        "clicked_count": 1,
        "bounced_count": 3,  # bob, ed, and fay's out-of-band
        "complained_count": 1,
        "unsubscribed_count": 1,
    }
    assert second.counts["stored"] == 0 and second.not_accepted == 0
    assert {address: kit.facts(row) for address, row in rows.items()} == facts
    assert kit.counters(campaign) == counters and kit.suppressions() == suppressed


def test_one_worker_polls_while_another_holds_the_lease(
    kit: Kit, sparkpost: FakeSparkPost, events: EventsClient, clock: ManualClock
) -> None:
    kit.claim("w2", clock(), 300)

    report = poll(kit, events, clock)

    assert report.held_by == "w2" and report.pages == 0
    assert sparkpost.events.requests == []


def test_a_poll_cut_short_resumes_where_it_stopped_and_skips_nothing(
    kit: Kit,
    sparkpost: FakeSparkPost,
    sender: SparkPostSender,
    events: EventsClient,
    clock: ManualClock,
) -> None:
    send_campaign(kit, sparkpost, sender, clock)
    clock.advance(hours=4)
    # The first page is served, the second refused every try.
    sparkpost.events.fail_next(200, *[429] * QUICK.attempts)
    with pytest.raises(EventsBusy):
        poll(kit, events, clock, first_look_back=timedelta(hours=5))
    cut = kit.position()
    stored_before = len(kit.events())

    resumed = poll(kit, events, clock)

    assert cut["next_path"] is not None and cut["read_to"] is None
    assert stored_before == 4  # one page of per_page=4
    assert cut["lease_holder"] is None  # given back when the poll failed
    assert len(kit.events()) == len(sparkpost.events.all_events())
    assert resumed.read_to is not None and kit.position()["next_path"] is None
    resumed_from = sparkpost.events.requests[QUICK.attempts + 1].path
    assert resumed_from == cut["next_path"]  # not the window's first page again


def test_a_cursor_sparkpost_no_longer_knows_reads_the_window_again_whole(
    kit: Kit,
    sparkpost: FakeSparkPost,
    sender: SparkPostSender,
    events: EventsClient,
    clock: ManualClock,
) -> None:
    send_campaign(kit, sparkpost, sender, clock)
    clock.advance(hours=4)
    window = Window(clock() - timedelta(hours=5), clock() - timedelta(minutes=1))
    kit.claim("w1", clock(), 300)
    kit.ingest("w1", clock(), [], window, "/api/v1/events/message?cursor=stale")
    kit.release("w1", clock())

    report = poll(kit, events, clock)

    assert sparkpost.events.requests[0].status == 400
    assert len(kit.events()) == len(sparkpost.events.all_events())
    assert report.read_to == window.end and kit.position()["next_path"] is None


def test_a_read_position_older_than_retention_is_reported_as_events_lost(
    kit: Kit, events: EventsClient, clock: ManualClock
) -> None:
    old = Window(clock() - timedelta(days=12), clock() - timedelta(days=11))
    kit.claim("w1", clock(), 300)
    kit.ingest("w1", clock(), [], old)
    kit.release("w1", clock())

    report = poll(kit, events, clock)

    assert report.lost is not None and "never read" in report.lost
    assert kit.position()["read_since"] > old.end  # the gap: no judging of sends inside it
