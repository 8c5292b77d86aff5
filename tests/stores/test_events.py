"""SparkPost's events through each store (issue 15), the contract suite's way: sqlite,
postgres and supabase (its loopback PostgREST running each RPC on real Postgres).

The done-when of issue 15 at store level: a campaign goes out through the real
pipeline and sender to the loopback SparkPost, with a mix of outcomes (planned
bounces, opens, clicks, a complaint, unsubscribes, a refusal at sending, one send
SparkPost took whose answer was lost and one it never took), and is polled back
through the real Events client. The killed-worker version with real processes is
tests/reliability/test_events_after_kills.py (Postgres).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from campaign_runner import sql
from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.events.client import EventsClient
from campaign_runner.events.poll import PollReport, poll_once
from campaign_runner.events.records import page_records
from campaign_runner.events.windows import Window
from campaign_runner.models import Content
from campaign_runner.models import Outcome as RowOutcome
from campaign_runner.ports import BounceGuard, Pacing
from campaign_runner.senders.sparkpost import Backoff
from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.sparkpost_events import ManualClock, Outcome, raw_event
from tests.fakes.sparkpost_server import FakeSparkPost, Reply

from .kits import DUE, T0, Kit

KEY = "sp-contract-events-0123456789"
QUICK = Backoff(attempts=3, initial=0.01, maximum=0.02, jitter=0.01)
GRACE = 900
WORKER = "w-events"
PLANS = {
    "ana@example.org": (Outcome.open(), Outcome.click()),
    "bob@example.com": (Outcome.bounce(10),),
    "cy@example.net": (Outcome.spam_complaint(),),
    "di@example.net": (Outcome.link_unsubscribe(),),
    "ed@example.com": (Outcome.bounce(22),),
    "fay@example.org": (Outcome.out_of_band(30),),
    "ivy@example.org": (Outcome.list_unsubscribe(),),
    "jo@example.org": (),  # delivered, nothing more
}
REFUSED = "kim@example.org"  # refused at sending: failed `rejected`, never an event
TOOK = "gus@example.org"  # SparkPost took it, the answer was lost: ambiguous, then sent
NEVER = "hal@example.org"  # the connection broke before SparkPost took it: not accepted
SUPPRESSED = {"bob@example.com", "cy@example.net", "di@example.net", "fay@example.org"}
SUPPRESSED |= {"ivy@example.org"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sparkpost(clock: ManualClock) -> Iterator[FakeSparkPost]:
    with FakeSparkPost(KEY) as server:
        server.events.clock = clock
        server.events.delay = timedelta(minutes=1)
        server.events.repeat_across_pages = True
        yield server


def send(
    kit: Kit, make_config: Callable[..., Config], sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    """One cycle of the real pipeline, one email at a time (so the scripted replies
    meet the rows in order)."""
    config = make_config(
        SENDER="sparkpost",
        SPARKPOST_API_KEY=KEY,
        SPARKPOST_API_URL=sparkpost.url,
        SPARKPOST_ATTEMPTS="1",
        GENERATOR="template",
        CONCURRENCY="1",
        BATCH_SIZE="50",
        SENDER_ADDRESS="Acme, 1 Main Street, Springfield",
    )
    pipeline = build_pipeline(config, kit.store, clock=clock)
    try:
        pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()


def poll(kit: Kit, sparkpost: FakeSparkPost, clock: ManualClock) -> PollReport:
    with EventsClient(sparkpost.url, KEY, per_page=4, backoff=QUICK) as client:
        return poll_once(
            kit.store, client, WORKER, clock, GRACE, first_look_back=timedelta(hours=6)
        )


def facts(kit: Kit, rows: dict[str, str]) -> dict[str, dict]:
    return {address: kit.seed.email_row(row) for address, row in rows.items()}


def test_a_campaign_sent_and_polled_back_carries_its_facts_and_settles_its_doubts(
    kit: Kit, make_config: Callable[..., Config], sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    campaign = kit.seed.campaign("sending", subject="Hello")
    addresses = [*PLANS, REFUSED, TOOK, NEVER]
    rows = {
        address: kit.seed.email(
            campaign, scheduled_for=DUE + timedelta(seconds=n), to_email=address
        )
        for n, address in enumerate(addresses)
    }
    for address, plan in PLANS.items():
        if plan:  # unplanned: injection, then delivery
            sparkpost.events.plan(address, *plan)
    sparkpost.script(
        *[Reply()] * len(PLANS),
        Reply.recipient_refused("550 5.1.1 kim: no such user"),
        Reply.hang_up_after_accepting(),
        Reply.hang_up_after_request(),
    )
    send(kit, make_config, sparkpost, clock)
    before = facts(kit, rows)
    assert before[TOOK]["failure_kind"] == "ambiguous" == before[NEVER]["failure_kind"]
    assert before[REFUSED]["failure_kind"] == "rejected"
    clock.advance(hours=4)  # every planned event has happened, and is visible

    first = poll(kit, sparkpost, clock)
    after = facts(kit, rows)
    counters = kit.seed.campaign_row(campaign)
    suppressed = set(suppressions(kit))
    clock.advance(minutes=10)
    second = poll(kit, sparkpost, clock)

    made = sparkpost.events.all_events()
    assert first.counts["stored"] == len(made) and first.counts["unmatched"] == 0
    assert first.counts["duplicates"] > 0 and first.lost is None
    for address in PLANS:
        assert after[address]["status"] == "sent"
    assert after["ana@example.org"]["opened_at"] and after["ana@example.org"]["clicked_at"]
    assert after["bob@example.com"]["bounce_class"] == 10
    assert after["bob@example.com"]["delivered_at"] is None
    assert after["cy@example.net"]["complained_at"] is not None
    assert after["di@example.net"]["unsubscribed_at"] is not None
    assert after["ivy@example.org"]["unsubscribed_at"] is not None
    assert after["ed@example.com"]["bounce_class"] == 22  # soft: a fact, no suppression
    assert after["fay@example.org"]["delivered_at"] and after["fay@example.org"]["bounced_at"]
    assert after["jo@example.org"]["delivered_at"] and not after["jo@example.org"]["opened_at"]
    assert suppressed == SUPPRESSED
    took, never = after[TOOK], after[NEVER]
    assert (took["status"], took["failure_kind"], took["error"]) == ("sent", None, None)
    assert took["settled_note"].startswith("settled as sent: SparkPost reported ")
    assert took["provider_message_id"] is not None
    assert (never["status"], never["failure_kind"]) == ("failed", "not_accepted")
    assert never["error"].startswith("not accepted: SparkPost reported no event")
    assert first.counts["settled_sent"] == 1 and first.not_accepted == 1
    delivered = {a for a in [*PLANS, TOOK] if after[a]["delivered_at"]}
    assert delivered == set(PLANS) - {"bob@example.com", "ed@example.com"} | {TOOK}
    assert {k: counters[k] for k in COUNTERS} == {
        "sent_count": len(PLANS) + 1,  # and TOOK, settled
        "failed_count": 2,  # REFUSED and NEVER
        "delivered_count": len(delivered),
        "opened_count": 1,
        "clicked_count": 1,
        "bounced_count": 3,  # bob, ed, and fay's out-of-band
        "complained_count": 1,
        "unsubscribed_count": 2,
    }
    assert second.counts["stored"] == 0 and second.not_accepted == 0
    assert facts(kit, rows) == after and set(suppressions(kit)) == suppressed
    assert {k: kit.seed.campaign_row(campaign)[k] for k in COUNTERS} == {
        k: counters[k] for k in COUNTERS
    }

    (shown,) = kit.store.status(clock())
    assert (shown.delivered, shown.opened, shown.clicked) == (len(delivered), 1, 1)
    assert (shown.bounced, shown.complained, shown.unsubscribed) == (3, 1, 2)
    assert (shown.settled_sent, shown.ambiguous, shown.not_accepted) == (1, 0, 1)

    # retry-failed requeues what SparkPost never took (and the refusal), without
    # --include-ambiguous; the row SparkPost took is never posted again.
    assert kit.store.retry_failed(campaign, include_ambiguous=False, now=clock()) == 2
    send(kit, make_config, sparkpost, clock)
    posts = Counter(p.email_id for p in sparkpost.posts)
    assert kit.seed.email_row(rows[NEVER])["status"] == "sent"
    assert posts == Counter({**dict.fromkeys(rows.values(), 1), rows[NEVER]: 2, rows[REFUSED]: 2})
    assert [p.status for p in sparkpost.posts_for(rows[NEVER])] == [None, 200]


COUNTERS = (
    "sent_count",
    "failed_count",
    "delivered_count",
    "opened_count",
    "clicked_count",
    "bounced_count",
    "complained_count",
    "unsubscribed_count",
)


def suppressions(kit: Kit) -> list[str]:
    found = []
    for address in [*PLANS, REFUSED, TOOK, NEVER]:
        row = kit.seed.fetch("suppression_row", {"email": address})
        if row is not None:
            found.append(address)
    return found


def test_a_suppressed_address_is_never_sent_to_afterwards(
    kit: Kit, make_config: Callable[..., Config], sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    first = kit.seed.campaign("sending")
    bob = kit.seed.email(first, to_email="Bob@Example.com")
    sparkpost.events.plan("bob@example.com", Outcome.bounce(10))
    send(kit, make_config, sparkpost, clock)
    clock.advance(hours=1)
    poll(kit, sparkpost, clock)
    later = kit.seed.campaign("sending")
    again = kit.seed.email(later, to_email="bob@example.com", scheduled_for=clock())

    send(kit, make_config, sparkpost, clock)

    assert kit.seed.email_row(bob)["status"] == "sent"
    row = kit.seed.email_row(again)
    assert (row["status"], row["failure_kind"]) == ("failed", "suppressed")
    assert [p.email_id for p in sparkpost.posts] == [bob]


# -- the poll lease ---------------------------------------------------------------


def test_one_poller_at_a_time_and_the_lease_given_back(kit: Kit) -> None:
    assert kit.store.claim_events_poll("w1", T0, 300)["claimed"] is True
    held = kit.store.claim_events_poll("w2", T0 + timedelta(seconds=10), 300)
    assert (held["claimed"], held["holder"]) == (False, "w1")
    window = Window(T0 - timedelta(hours=1), T0 - timedelta(minutes=1))
    refused = kit.store.ingest_events("w2", T0, 300, [], window, None)
    assert refused["lease_held"] is False

    assert kit.store.release_events_poll("w1", T0 + timedelta(seconds=20)) is True
    assert kit.store.claim_events_poll("w2", T0 + timedelta(seconds=30), 300)["claimed"] is True
    # A lease that ran out is anyone's.
    assert kit.store.claim_events_poll("w3", T0 + timedelta(seconds=331), 300)["claimed"] is True


def test_a_page_read_twice_changes_nothing_and_counters_recount_idempotently(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    row = sent_row(kit, campaign, "ana@example.org")
    page = page_records(
        [
            raw_event("delivery", row, T0 + timedelta(minutes=1)),
            raw_event("open", row, T0 + timedelta(minutes=2)),
            raw_event("delivery", None, T0, to="stranger@example.org"),
        ]
    )
    window = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    kit.store.claim_events_poll("w1", T0, 300)

    first = kit.store.ingest_events("w1", T0, 300, page, window, None)
    once = kit.seed.email_row(row), kit.seed.campaign_row(campaign)
    again = kit.store.ingest_events("w1", T0, 300, page, window, None)

    assert (first["stored"], first["landed"], first["unmatched"]) == (3, 1, 1)
    assert (again["stored"], again["duplicates"]) == (0, 3)
    assert (kit.seed.email_row(row), kit.seed.campaign_row(campaign)) == once
    assert kit.store.roll_up_events(None, T0) >= 1
    assert kit.store.roll_up_events([campaign], T0) == 1
    recounted = kit.seed.campaign_row(campaign)
    assert (recounted["delivered_count"], recounted["opened_count"]) == (1, 1)


# -- settling and retry-failed ------------------------------------------------------


def test_retry_failed_requeues_not_accepted_rows_and_leaves_ambiguous_ones(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    doubtful = ambiguous_row(kit, campaign, "ana@example.org")
    refused = ambiguous_row(kit, campaign, "bob@example.com")
    window = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    kit.store.claim_events_poll("w1", T0, 300)
    kit.store.ingest_events(
        "w1",
        T0,
        300,
        page_records([raw_event("policy_rejection", refused, T0, to="bob@example.com")]),
        window,
        None,
    )
    assert kit.seed.email_row(refused)["failure_kind"] == "not_accepted"
    assert kit.store.failed_rows(campaign).retryable == 1
    assert kit.store.failed_rows(campaign).ambiguous == 1

    assert kit.store.retry_failed(campaign, include_ambiguous=False, now=T0) == 1

    assert kit.seed.email_row(refused)["status"] == "queued"
    assert kit.seed.email_row(doubtful)["failure_kind"] == "ambiguous"


def test_no_settling_without_a_gap_free_reading_past_the_grace(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    row = ambiguous_row(kit, campaign, "ana@example.org")
    started = kit.seed.email_row(row)["send_started_at"]
    kit.store.claim_events_poll("w1", T0, 300)
    assert kit.store.settle_unseen_sends(GRACE, T0 + timedelta(hours=5)) == 0  # nothing read
    short = Window(started - timedelta(minutes=5), started + timedelta(seconds=GRACE - 60))
    kit.store.ingest_events("w1", T0, 300, [], short, None)
    assert kit.store.settle_unseen_sends(GRACE, T0 + timedelta(hours=5)) == 0  # not long enough
    rest = Window(short.end, started + timedelta(seconds=GRACE + 60))
    kit.store.ingest_events("w1", T0, 300, [], rest, None)

    assert kit.store.settle_unseen_sends(GRACE, T0 + timedelta(hours=5)) == 1

    assert kit.seed.email_row(row)["failure_kind"] == "not_accepted"


# -- the guard sees what comes back --------------------------------------------------


GUARD = BounceGuard(pause_rate=0.05, min_sends=20, complaint_rate=0.003, complaint_min=50)


def test_hard_bounces_reported_later_pause_the_campaign_and_say_why(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    rows = [sent_row(kit, campaign, f"p{n}@example.org") for n in range(40)]
    kit.seed.email(campaign, scheduled_for=T0 + timedelta(days=1))  # still queued
    events = [raw_event("delivery", r, T0, to=f"p{n}@example.org") for n, r in enumerate(rows)]
    events[:2] = [
        raw_event("bounce", rows[n], T0, to=f"p{n}@example.org", bounce_class="10")
        for n in range(2)
    ]
    land(kit, events)
    assert kit.store.roll_up(T0, GUARD) == []  # 2 of 40: not over 5 %
    land(kit, [raw_event("out_of_band", rows[2], T0, to="p2@example.org", bounce_class="30")])

    (paused,) = kit.store.roll_up(T0, GUARD)

    assert paused.reason == (
        "bounce guard: 3 of 40 recipients bounced hard (0 refused at sending, 3 bounced "
        "later), more than BOUNCE_PAUSE_RATE allows"
    )
    assert kit.seed.campaign_row(campaign)["paused_reason"] == paused.reason


def test_refusals_are_not_weighed_against_deliveries_not_yet_read(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    early = [sent_row(kit, campaign, f"e{n}@example.org") for n in range(30)]
    for n in range(60):  # sent later than anything SparkPost has reported on
        sent_row(kit, campaign, f"l{n}@example.org", at=T0 + timedelta(minutes=30))
    for n in range(3):
        refused_row(kit, campaign, f"r{n}@example.org", at=T0 + timedelta(minutes=30))
    kit.seed.email(campaign, scheduled_for=T0 + timedelta(days=1))
    land(kit, [raw_event("delivery", r, T0, to=f"e{n}@example.org") for n, r in enumerate(early)])

    assert kit.store.roll_up(T0 + timedelta(hours=1), GUARD) == []


def test_complaints_past_their_rate_pause_the_campaign(kit: Kit) -> None:
    campaign = kit.seed.campaign("sending")
    rows = [sent_row(kit, campaign, f"p{n}@example.org") for n in range(60)]
    kit.seed.email(campaign, scheduled_for=T0 + timedelta(days=1))
    land(kit, [raw_event("delivery", r, T0, to=f"p{n}@example.org") for n, r in enumerate(rows)])
    land(kit, [raw_event("spam_complaint", rows[0], T0, to="p0@example.org")])

    (paused,) = kit.store.roll_up(T0, GUARD)

    assert paused.reason == (
        "complaint guard: 1 of 60 delivered recipients marked it as spam, "
        "more than COMPLAINT_PAUSE_RATE allows"
    )


# -- helpers ------------------------------------------------------------------------


def _through(kit: Kit, campaign: str, address: str, at: datetime, outcome: RowOutcome) -> str:
    """A row claimed, started and finished with `outcome`, as a worker would."""
    row = kit.seed.email(campaign, to_email=address, scheduled_for=at - timedelta(minutes=1))
    (email,) = [e for e in kit.store.claim(WORKER, 500, at, Pacing()) if e.id == row]
    kit.store.start_send(email, WORKER, Content("s", "b"), at)
    assert kit.store.finish(email, WORKER, outcome, at)
    return row


def sent_row(kit: Kit, campaign: str, address: str, at: datetime = T0) -> str:
    return _through(kit, campaign, address, at, RowOutcome("sent", provider_message_id=None))


def refused_row(kit: Kit, campaign: str, address: str, at: datetime = T0) -> str:
    refused = RowOutcome("failed", error="rejected: no such user", failure_kind="rejected")
    return _through(kit, campaign, address, at, refused)


def ambiguous_row(kit: Kit, campaign: str, address: str, at: datetime = T0) -> str:
    lost = RowOutcome("failed", error="ambiguous: the answer was lost", failure_kind="ambiguous")
    return _through(kit, campaign, address, at, lost)


def land(kit: Kit, events: list[dict]) -> None:
    window = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    assert kit.store.claim_events_poll("w1", T0, 300)["claimed"]
    assert kit.store.ingest_events("w1", T0, 300, page_records(events), window, None)["lease_held"]
    kit.store.release_events_poll("w1", T0)


# -- an embedded file made before not_accepted ---------------------------------------


def test_an_older_embedded_file_learns_the_new_kind(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    old = sql.read("sqlite/schema.sql").replace(",\n" + " " * 53 + "'not_accepted'", "")
    assert "not_accepted" not in old
    with sqlite3.connect(path) as db:
        db.executescript(old)
    db.close()

    store = SqliteStore(path)
    store.close()

    assert "email_queue.failure_kind: not_accepted" in store.added
    row = "INSERT INTO email_queue (id, campaign_id, to_email, status, failure_kind) "
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO campaigns (id, name, status) VALUES ('c', 'c', 'sending')")
        db.execute(row + "VALUES ('x', 'c', 'a@example.org', 'failed', 'not_accepted')")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            db.execute(row + "VALUES ('y', 'c', 'a@example.org', 'failed', 'made_up')")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
