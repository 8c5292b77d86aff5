"""Store contract: `status` counts as due only what a claim would take now, and says
why every other queued row waits; `peek_due` (what `--dry-run` renders) takes what the
claim would take, pacing and all."""

from __future__ import annotations

from datetime import timedelta

from campaign_runner.ports import Pacing, Waiting

from .kits import DUE, T0, Kit
from .test_pacing import INTERVAL, TODAY, WORKER

PACED = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)


def rows_of(kit: Kit, campaign: str, n: int, domain: str = "a.test", start: int = 0) -> list[str]:
    return [
        kit.seed.email(
            campaign, scheduled_for=DUE + timedelta(seconds=start + i), from_email=f"n@{domain}"
        )
        for i in range(n)
    ]


def test_under_an_interval_one_row_per_domain_is_due_and_the_rest_wait_their_turn(
    kit: Kit,
) -> None:
    campaign = kit.seed.campaign()
    rows_of(kit, campaign, 3, "a.test")
    rows_of(kit, campaign, 1, "b.test")

    (shown,) = kit.store.status(T0, PACED)

    assert shown.due_now == 2
    assert shown.waiting == {
        "domain_paced": Waiting(rows=2, until=T0 + timedelta(seconds=INTERVAL))
    }


def test_a_domain_that_just_sent_waits_out_its_interval(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    rows_of(kit, campaign, 2)
    kit.store.claim(WORKER, 5, T0, PACED)
    now = T0 + timedelta(seconds=10)

    (shown,) = kit.store.status(now, PACED)

    assert (shown.rows, shown.due_now) == ({"queued": 1, "processing": 1}, 0)
    assert shown.waiting == {
        "domain_paced": Waiting(rows=1, until=T0 + timedelta(seconds=INTERVAL))
    }
    assert kit.store.peek_due(10, now, PACED) == []
    assert kit.store.claim(WORKER, 5, now, PACED) == []


def test_a_domain_at_its_daily_cap_waits_for_the_next_day(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    rows_of(kit, campaign, 4)
    capped = Pacing(daily_cap=2, day_start=TODAY)
    kit.store.claim(WORKER, 1, T0, capped)

    (shown,) = kit.store.status(T0, capped)

    assert shown.due_now == 1
    assert shown.waiting == {"daily_cap": Waiting(rows=2, until=None)}


def test_each_waiting_row_is_counted_once_for_its_first_reason(kit: Kit) -> None:
    live = kit.seed.campaign("sending")
    draft = kit.seed.campaign("draft")
    completed = kit.seed.campaign("completed")
    soon = T0 + timedelta(hours=2)
    kit.seed.email(live, scheduled_for=soon, from_email="n@a.test")
    kit.seed.email(live, scheduled_for=soon + timedelta(hours=1), from_email="n@a.test")
    suppressed = "gone@example.org"
    kit.seed.email(live, to_email=suppressed, from_email="n@c.test")
    kit.seed.suppress(suppressed)
    kit.seed.email(draft, from_email="n@b.test")
    kit.seed.email(completed, scheduled_for=soon, from_email="n@b.test")

    by_id = {s.campaign_id: s for s in kit.store.status(T0, PACED)}

    assert by_id[live].waiting == {
        "scheduled": Waiting(rows=2, until=soon),
        "suppressed": Waiting(rows=1, until=None),
    }
    assert by_id[live].due_now == 1  # claimed, to be failed: never sent
    assert (by_id[draft].due_now, by_id[draft].waiting) == (
        0,
        {"campaign_draft": Waiting(rows=1, until=None)},
    )
    assert by_id[completed].waiting == {"campaign_completed": Waiting(rows=1, until=None)}


def test_peek_due_takes_what_the_claim_takes(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    rows_of(kit, campaign, 3, "a.test")
    rows_of(kit, campaign, 2, "b.test", start=10)
    paused = kit.seed.campaign("paused")
    rows_of(kit, paused, 1, "c.test")
    kit.store.claim(WORKER, 1, T0 - timedelta(seconds=10), PACED)  # a.test just sent

    peeked = kit.store.peek_due(10, T0, PACED)
    claimed = kit.store.claim(WORKER, 10, T0, PACED)

    assert [e.id for e in peeked] == [e.id for e in claimed]
    assert [e.sending_domain for e in claimed] == ["b.test"]
