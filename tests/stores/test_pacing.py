"""Store contract: per sending domain, one send per interval and a daily cap."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

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
