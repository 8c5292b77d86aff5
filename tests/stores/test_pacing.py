"""Store contract: per sending domain, one send per interval and a daily cap."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from campaign_runner.models import (
    AMBIGUOUS,
    CONTENT,
    FAILED,
    INTERRUPTED,
    QUEUED,
    SENT,
    Content,
    Outcome,
)
from campaign_runner.ports import Pacing

from .kits import DUE, T0, Kit

WORKER = "worker-a"
DOMAINS = ("alpha.test", "beta.test", "gamma.test")
TODAY = T0.replace(hour=8, minute=0)  # local midnight in California, as UTC
TOMORROW = TODAY + timedelta(days=1)
INTERVAL = 210


def seed_backlog(kit: Kit, per_domain: int = 10) -> dict[str, list[str]]:
    """`per_domain` due rows from each domain, interleaved in due order."""
    campaign = kit.seed.campaign()
    ids: dict[str, list[str]] = {d: [] for d in DOMAINS}
    for i in range(per_domain):
        for j, domain in enumerate(DOMAINS):
            when = DUE - timedelta(hours=1) + timedelta(seconds=10 * i + j)
            ids[domain].append(
                kit.seed.email(campaign, scheduled_for=when, from_email=f"n@{domain}")
            )
    return ids


def domains(emails: list) -> Counter[str]:
    return Counter(e.sending_domain for e in emails)


def test_with_an_interval_a_claim_takes_one_row_per_domain_the_earliest(kit: Kit) -> None:
    ids = seed_backlog(kit)  # 3 domains x 10 due rows
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)

    claimed = kit.store.claim(WORKER, 25, T0, pacing)

    assert sorted(e.id for e in claimed) == sorted(ids[d][0] for d in DOMAINS)
    assert domains(claimed) == Counter(dict.fromkeys(DOMAINS, 1))


def test_a_domain_waits_out_the_interval_since_its_last_claim(kit: Kit) -> None:
    ids = seed_backlog(kit)
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)
    kit.store.claim(WORKER, 25, T0, pacing)

    assert kit.store.claim(WORKER, 25, T0 + timedelta(seconds=INTERVAL - 1), pacing) == []
    second = kit.store.claim(WORKER, 25, T0 + timedelta(seconds=INTERVAL), pacing)

    assert sorted(e.id for e in second) == sorted(ids[d][1] for d in DOMAINS)


def test_sending_domains_are_compared_without_case(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign, from_email="a@Alpha.TEST")
    kit.seed.email(campaign, from_email="b@alpha.test")
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)

    assert len(kit.store.claim(WORKER, 25, T0, pacing)) == 1
    assert kit.store.claim(WORKER, 25, T0 + timedelta(seconds=60), pacing) == []


def test_the_daily_cap_stops_a_domain_until_the_next_day(kit: Kit) -> None:
    seed_backlog(kit)
    today = Pacing(daily_cap=2, day_start=TODAY)

    first = kit.store.claim(WORKER, 25, T0, today)
    again = kit.store.claim(WORKER, 25, T0 + timedelta(hours=1), today)
    tomorrow = kit.store.claim(
        WORKER, 25, T0 + timedelta(days=1), Pacing(daily_cap=2, day_start=TOMORROW)
    )

    assert domains(first) == Counter(dict.fromkeys(DOMAINS, 2))
    assert again == []
    assert domains(tomorrow) == Counter(dict.fromkeys(DOMAINS, 2))


def test_interval_and_cap_together_allow_no_third_send_that_day(kit: Kit) -> None:
    seed_backlog(kit)
    pacing = Pacing(min_interval_seconds=INTERVAL, daily_cap=2, day_start=TODAY)

    per_claim = [
        domains(kit.store.claim(WORKER, 25, T0 + timedelta(seconds=INTERVAL * i), pacing))
        for i in range(4)
    ]

    one_each = Counter(dict.fromkeys(DOMAINS, 1))
    assert per_claim == [one_each, one_each, Counter(), Counter()]
    next_day = Pacing(min_interval_seconds=INTERVAL, daily_cap=2, day_start=TOMORROW)
    assert domains(kit.store.claim(WORKER, 25, T0 + timedelta(days=1), next_day)) == one_each


def test_claims_without_pacing_count_toward_the_day(kit: Kit) -> None:
    seed_backlog(kit, per_domain=3)
    kit.store.claim(WORKER, 2, T0, Pacing(day_start=TODAY))  # alpha and beta, one each

    capped = kit.store.claim(
        WORKER, 25, T0 + timedelta(minutes=1), Pacing(daily_cap=1, day_start=TODAY)
    )

    assert domains(capped) == Counter({"gamma.test": 1})


def test_the_limit_still_applies_under_pacing(kit: Kit) -> None:
    seed_backlog(kit)

    claimed = kit.store.claim(WORKER, 2, T0, Pacing(min_interval_seconds=INTERVAL, day_start=TODAY))

    assert domains(claimed) == Counter({"alpha.test": 1, "beta.test": 1})


def test_a_domain_at_its_limit_does_not_hide_the_domains_due_after_it(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for i in range(30):  # a long backlog of one domain, all due before the other's row
        kit.seed.email(
            campaign, scheduled_for=DUE - timedelta(hours=2, seconds=-i), from_email="a@busy.test"
        )
    later = kit.seed.email(
        campaign, scheduled_for=DUE - timedelta(hours=1), from_email="b@quiet.test"
    )

    spaced = kit.store.claim(WORKER, 25, T0, Pacing(min_interval_seconds=INTERVAL, day_start=TODAY))
    capped = kit.store.claim(WORKER, 25, T0, Pacing(daily_cap=3, day_start=TODAY))

    assert domains(spaced) == Counter({"busy.test": 1, "quiet.test": 1})
    assert later in {e.id for e in spaced}
    assert domains(capped) == Counter({"busy.test": 2})  # one of its 3 went to the first claim


# -- pacing counts sends, not claims (issue 12, item 4) ---------------------------------

BROKEN = Outcome(FAILED, error="subject: 'x' is undefined", failure_kind=CONTENT)
SENT_OK = Outcome(SENT, provider_message_id="pm-1")


def one_domain(kit: Kit, n: int = 3) -> list[str]:
    campaign = kit.seed.campaign()
    return [
        kit.seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i), from_email="n@a.test")
        for i in range(n)
    ]


def test_a_row_that_fails_before_sending_gives_its_domain_the_interval_back(kit: Kit) -> None:
    ids = one_domain(kit)
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)
    (broken,) = kit.store.claim(WORKER, 5, T0, pacing)

    assert kit.store.finish(broken, WORKER, BROKEN, T0 + timedelta(seconds=1))

    (next_one,) = kit.store.claim(WORKER, 5, T0 + timedelta(seconds=2), pacing)
    assert next_one.id == ids[1]
    kit.store.start_send(next_one, WORKER, Content("s", "b"), T0 + timedelta(seconds=3))
    assert kit.store.finish(next_one, WORKER, SENT_OK, T0 + timedelta(seconds=4))
    # What was sent holds the domain for the whole interval, from its claim.
    assert kit.store.claim(WORKER, 5, T0 + timedelta(seconds=INTERVAL + 1), pacing) == []
    (third,) = kit.store.claim(WORKER, 5, T0 + timedelta(seconds=INTERVAL + 2), pacing)
    assert third.id == ids[2]


def test_a_row_put_back_before_sending_gives_the_slot_back_too(kit: Kit) -> None:
    one_domain(kit, 2)
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)
    (released,) = kit.store.claim(WORKER, 5, T0, pacing)
    put_back = Outcome(
        QUEUED, error="released: worker stopping", count_attempt=False, failure_kind=INTERRUPTED
    )

    kit.store.finish(released, WORKER, put_back, T0)

    assert [e.id for e in kit.store.claim(WORKER, 5, T0 + timedelta(seconds=1), pacing)] == [
        released.id
    ]


def test_a_row_that_failed_after_its_send_started_keeps_its_slot(kit: Kit) -> None:
    one_domain(kit, 2)
    pacing = Pacing(min_interval_seconds=INTERVAL, daily_cap=2, day_start=TODAY)
    (row,) = kit.store.claim(WORKER, 5, T0, pacing)
    kit.store.start_send(row, WORKER, Content("s", "b"), T0)
    ambiguous = Outcome(FAILED, error="ambiguous: read timeout", failure_kind=AMBIGUOUS)

    kit.store.finish(row, WORKER, ambiguous, T0 + timedelta(seconds=1))

    assert kit.store.claim(WORKER, 5, T0 + timedelta(seconds=2), pacing) == []
    (second,) = kit.store.claim(WORKER, 5, T0 + timedelta(seconds=INTERVAL), pacing)
    kit.store.start_send(second, WORKER, Content("s", "b"), T0 + timedelta(seconds=INTERVAL))
    # Two units of the cap went: one may have been delivered, one was.
    assert kit.store.claim(WORKER, 5, T0 + timedelta(hours=1), pacing) == []


def test_a_row_that_fails_before_sending_gives_back_its_unit_of_the_daily_cap(kit: Kit) -> None:
    ids = one_domain(kit, 4)
    pacing = Pacing(daily_cap=2, day_start=TODAY)
    first, second = kit.store.claim(WORKER, 5, T0, pacing)

    kit.store.finish(first, WORKER, BROKEN, T0)
    kit.store.start_send(second, WORKER, Content("s", "b"), T0)
    kit.store.finish(second, WORKER, SENT_OK, T0)

    assert [e.id for e in kit.store.claim(WORKER, 5, T0 + timedelta(minutes=1), pacing)] == [ids[2]]
    assert kit.store.claim(WORKER, 5, T0 + timedelta(minutes=2), pacing) == []


def test_a_slot_taken_by_a_later_claim_is_not_given_back_by_an_earlier_row(kit: Kit) -> None:
    """A slow row (say, a long generation) outlives the interval; another worker claims
    the domain's next row; the slow row then fails before sending. The later claim
    holds the domain: giving the slot back now would let a third row out at once."""
    ids = one_domain(kit)
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)
    (slow,) = kit.store.claim(WORKER, 5, T0, pacing)
    (later,) = kit.store.claim("worker-b", 5, T0 + timedelta(seconds=INTERVAL), pacing)
    kit.store.start_send(later, "worker-b", Content("s", "b"), T0 + timedelta(seconds=INTERVAL))

    kit.store.finish(slow, WORKER, BROKEN, T0 + timedelta(seconds=INTERVAL + 1))

    assert kit.store.claim(WORKER, 5, T0 + timedelta(seconds=INTERVAL + 2), pacing) == []
    (third,) = kit.store.claim(WORKER, 5, T0 + timedelta(seconds=2 * INTERVAL), pacing)
    assert third.id == ids[2]


def test_a_unit_of_yesterday_is_not_taken_from_today(kit: Kit) -> None:
    one_domain(kit, 4)
    yesterday = Pacing(daily_cap=1, day_start=TODAY)
    (late,) = kit.store.claim(WORKER, 5, T0, yesterday)
    today = Pacing(daily_cap=1, day_start=TOMORROW)
    (first_today,) = kit.store.claim(WORKER, 5, T0 + timedelta(days=1), today)

    kit.store.finish(late, WORKER, BROKEN, T0 + timedelta(days=1, seconds=1))

    kit.store.start_send(first_today, WORKER, Content("s", "b"), T0 + timedelta(days=1))
    assert kit.store.claim(WORKER, 5, T0 + timedelta(days=1, seconds=2), today) == []


def test_a_finish_of_a_row_no_longer_ours_gives_nothing_back(kit: Kit) -> None:
    one_domain(kit, 2)
    pacing = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)
    (row,) = kit.store.claim(WORKER, 5, T0, pacing)

    assert not kit.store.finish(row, "worker-b", BROKEN, T0)

    assert kit.store.claim(WORKER, 5, T0 + timedelta(seconds=1), pacing) == []


def test_a_slot_given_back_returns_the_domain_to_its_claim_before_not_to_never(kit: Kit) -> None:
    ids = one_domain(kit)
    unpaced = Pacing(day_start=TODAY)  # claims are recorded with pacing off too
    (sent,) = kit.store.claim(WORKER, 1, T0, unpaced)
    kit.store.start_send(sent, WORKER, Content("s", "b"), T0)
    kit.store.finish(sent, WORKER, SENT_OK, T0)
    (broken,) = kit.store.claim(WORKER, 1, T0 + timedelta(seconds=1), unpaced)
    kit.store.finish(broken, WORKER, BROKEN, T0 + timedelta(seconds=1))

    paced = Pacing(min_interval_seconds=INTERVAL, day_start=TODAY)
    assert kit.store.claim(WORKER, 5, T0 + timedelta(seconds=2), paced) == []
    assert [e.id for e in kit.store.claim(WORKER, 5, T0 + timedelta(seconds=INTERVAL), paced)] == [
        ids[2]
    ]


def test_a_row_recovered_before_its_send_started_gives_back_its_unit_of_the_day(
    kit: Kit,
) -> None:
    one_domain(kit, 3)
    pacing = Pacing(daily_cap=2, day_start=TODAY)
    died_before, died_during = kit.store.claim("dead-worker", 5, T0, pacing)
    kit.store.start_send(died_during, "dead-worker", Content("s", "b"), T0)

    assert kit.store.recover_stale(60, 3, T0 + timedelta(minutes=5)) == Counter(
        {"queued": 1, "failed": 1}
    )

    # One unit back: the row that never left; the one that may have left keeps its own.
    later = T0 + timedelta(minutes=6)
    assert [e.id for e in kit.store.claim(WORKER, 5, later, pacing)] == [died_before.id]
    assert kit.store.claim(WORKER, 5, later, pacing) == []
