"""The store contract of putting work in: campaign files, contact imports, stage,
launch, sending addresses, frontend requests, row pages and the test-send row, on
every store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign_runner.config import parse_work_days
from campaign_runner.intake import launch
from campaign_runner.intake.campaign_file import FROZEN_ONCE_LAUNCHED
from campaign_runner.intake.contacts import Contact
from campaign_runner.intake.launch import Basis, LaunchRefused, Rules
from campaign_runner.intake.records import IntakeError
from campaign_runner.ports import Pacing
from campaign_runner.stores.rows import parse_time
from campaign_runner.window import SendingWindow

from .kits import T0, Kit

ALWAYS = SendingWindow(ZoneInfo("UTC"), 0, 24, parse_work_days("all"))
RULES = Rules(ALWAYS, min_interval_seconds=60)
FROZEN = list(FROZEN_ONCE_LAUNCHED)
COLUMNS = {
    "name": "Autumn",
    "subject": "Hello {{ first_name }}",
    "body_template": "Hi {{ first_name }}",
    "ai_prompt": None,
    "from_name": "Sam",
    "reply_to": None,
    "send_days": ["mon", "tue"],
    "send_time_start": "09:00",
    "send_time_end": "17:00",
    "timezone": "Europe/Berlin",
    "daily_limit": None,
}
# Launches in these tests go by the always-open window of RULES.
NO_SCHEDULE = {"send_days": None, "send_time_start": None, "send_time_end": None, "timezone": None}


@pytest.fixture(autouse=True)
def no_addresses_left(kit: Kit) -> Iterator[None]:
    kit.seed.execute("empty_intake", {})
    yield


def contacts(*addresses: str) -> list[Contact]:
    return [
        Contact(n + 2, address, f"Person {n}", {"first_name": f"P{n}", "city": "Lagos"})
        for n, address in enumerate(addresses)
    ]


def planner(rules: Rules = RULES) -> launch.Planner:
    return lambda basis: launch.plan(basis, rules, T0)


def new_campaign(kit: Kit, key: str = "autumn", **columns: object) -> str:
    applied = kit.store.apply_campaign(key, {**COLUMNS, **columns}, FROZEN, T0)
    return applied.campaign_id


def staged_campaign(kit: Kit, *addresses: str) -> str:
    campaign = new_campaign(kit, **NO_SCHEDULE)
    kit.store.import_contacts(campaign, contacts(*addresses), T0)
    kit.store.stage_campaign(campaign, T0)
    return campaign


# -- campaign files -----------------------------------------------------------


def test_a_file_creates_a_draft_campaign_and_applying_it_again_changes_nothing(kit: Kit) -> None:
    first = kit.store.apply_campaign("autumn", COLUMNS, FROZEN, T0)
    again = kit.store.apply_campaign("autumn", COLUMNS, FROZEN, T0)

    assert first.created and first.status == "draft"
    assert (again.campaign_id, again.created, again.changed) == (first.campaign_id, False, ())
    row = kit.seed.campaign_row(first.campaign_id)
    assert row["key"] == "autumn" and row["name"] == "Autumn" and row["status"] == "draft"
    assert row["subject"] == "Hello {{ first_name }}" and row["daily_limit"] is None
    found = kit.store.find_campaign("autumn")
    assert found is not None and found.id == first.campaign_id
    by_id = kit.store.find_campaign(first.campaign_id)
    assert by_id is not None and by_id.key == "autumn"
    assert kit.store.find_campaign("winter") is None


def test_a_draft_takes_any_change_and_a_key_left_out_is_cleared(kit: Kit) -> None:
    campaign = new_campaign(kit)

    applied = kit.store.apply_campaign(
        "autumn", {**COLUMNS, "subject": "New {{ company }}", "timezone": None}, FROZEN, T0
    )

    assert applied.changed == ("subject", "timezone") and applied.refused == ()
    row = kit.seed.campaign_row(campaign)
    assert row["subject"] == "New {{ company }}" and row["timezone"] is None


def test_a_sending_campaign_refuses_what_was_promised_and_writes_nothing(kit: Kit) -> None:
    campaign = new_campaign(kit)
    kit.seed.set_campaign_status(campaign, "sending")

    refused = kit.store.apply_campaign(
        "autumn",
        {**COLUMNS, "name": "Renamed", "body_template": "Other", "send_days": ["fri"]},
        FROZEN,
        T0,
    )
    renamed = kit.store.apply_campaign("autumn", {**COLUMNS, "name": "Renamed"}, FROZEN, T0)

    assert refused.refused == ("body_template", "send_days")
    assert refused.status == "sending"
    assert renamed.refused == () and renamed.changed == ("name",)
    row = kit.seed.campaign_row(campaign)
    assert row["name"] == "Renamed" and row["body_template"] == "Hi {{ first_name }}"


# -- contacts -----------------------------------------------------------------


def test_an_import_skips_and_counts_what_the_campaign_has_and_what_is_suppressed(
    kit: Kit,
) -> None:
    campaign = new_campaign(kit)
    kit.seed.suppress("gone@example.org")
    kit.seed.email(campaign, to_email="Queued@Example.org ", status="staged")

    first = kit.store.import_contacts(
        campaign, contacts("a@example.org", "gone@example.org", "queued@example.org"), T0
    )
    again = kit.store.import_contacts(campaign, contacts("A@example.org", "b@example.org"), T0)

    assert (first.imported, first.in_campaign, first.suppressed) == (1, 1, 1)
    assert (again.imported, again.in_campaign, again.suppressed) == (1, 1, 0)


def test_a_finished_campaign_takes_no_contacts(kit: Kit) -> None:
    campaign = new_campaign(kit)
    kit.seed.set_campaign_status(campaign, "completed")

    with pytest.raises(IntakeError, match="the campaign is completed"):
        kit.store.import_contacts(campaign, contacts("a@example.org"), T0)


# -- stage --------------------------------------------------------------------


def test_stage_makes_one_staged_row_per_contact_with_its_fields_and_is_safe_twice(
    kit: Kit,
) -> None:
    campaign = new_campaign(kit)
    kit.store.import_contacts(campaign, contacts("a@example.org", "b@example.org"), T0)

    first = kit.store.stage_campaign(campaign, T0)
    again = kit.store.stage_campaign(campaign, T0)

    assert (first.staged, first.suppressed, first.status) == (2, 0, "staged")
    assert (again.staged, again.status) == (0, "staged")
    rows = kit.store.rows_page(campaign, None, None, 10)
    assert sorted(r["to_email"] for r in rows) == ["a@example.org", "b@example.org"]
    assert {r["status"] for r in rows} == {"staged"}
    [row] = [kit.seed.email_row(r["id"]) for r in rows if r["to_email"] == "a@example.org"]
    assert row["body"] is None and row["from_email"] is None and row["to_name"] == "Person 0"
    metadata = row["metadata"]  # jsonb, or JSON text in SQLite
    assert (metadata if isinstance(metadata, dict) else json.loads(metadata)) == {
        "first_name": "P0",
        "city": "Lagos",
    }


def test_a_contact_suppressed_after_its_import_is_not_staged(kit: Kit) -> None:
    campaign = new_campaign(kit)
    kit.store.import_contacts(campaign, contacts("a@example.org", "b@example.org"), T0)
    kit.seed.suppress("b@example.org")

    staged = kit.store.stage_campaign(campaign, T0)

    assert (staged.staged, staged.suppressed) == (1, 1)


def test_stage_of_a_cancelled_campaign_is_refused(kit: Kit) -> None:
    campaign = new_campaign(kit)
    kit.seed.set_campaign_status(campaign, "cancelled")

    with pytest.raises(IntakeError, match="the campaign is cancelled"):
        kit.store.stage_campaign(campaign, T0)


# -- sending addresses ----------------------------------------------------------


def test_sending_addresses_are_numbered_in_order_and_turned_off_and_on(kit: Kit) -> None:
    one = kit.store.add_sending_domain("sam@one.example.com", "Sam", T0)
    two = kit.store.add_sending_domain("ann@two.example.com", None, T0)

    off = kit.store.set_sending_domain_active("SAM@one.example.com", False, T0)
    again = kit.store.add_sending_domain("sam@one.example.com", None, T0)
    by_index = kit.store.set_sending_domain_active("1", False, T0)

    assert (one.domain_index, two.domain_index) == (0, 1)
    assert off is not None and off.active is False
    assert again.domain_index == 0 and again.active and again.from_name == "Sam"
    assert by_index is not None and by_index.from_email == "ann@two.example.com"
    assert kit.store.set_sending_domain_active("nobody@example.com", True, T0) is None
    assert [(d.domain_index, d.active) for d in kit.store.sending_domains()] == [
        (0, True),
        (1, False),
    ]


# -- launch -------------------------------------------------------------------


def test_launch_queues_every_staged_row_round_robin_and_spaced_and_is_safe_twice(
    kit: Kit,
) -> None:
    kit.store.add_sending_domain("sam@one.example.com", None, T0)
    kit.store.add_sending_domain("ann@two.example.com", None, T0)
    campaign = staged_campaign(kit, *(f"p{i}@example.org" for i in range(5)))

    first = kit.store.launch_campaign(campaign, planner(), T0)
    again = kit.store.launch_campaign(campaign, planner(), T0)

    assert (first.queued, first.status) == (5, "scheduled")
    assert (first.first, first.last) == (T0, T0 + timedelta(minutes=2))
    assert (again.queued, again.status) == (0, "scheduled")
    rows = {r["to_email"]: r for r in kit.store.rows_page(campaign, "queued", None, 10)}
    one, two = "sam@one.example.com", "ann@two.example.com"
    assert [
        (rows[f"p{i}@example.org"]["from_email"], rows[f"p{i}@example.org"]["domain_index"])
        for i in range(5)
    ] == [(one, 0), (two, 1), (one, 0), (two, 1), (one, 0)]
    times = [parse_time(rows[f"p{i}@example.org"]["scheduled_for"]) for i in range(5)]
    minute = timedelta(minutes=1)
    assert times == [T0, T0, T0 + minute, T0 + minute, T0 + 2 * minute]
    claimed = kit.store.claim("w", 10, T0, Pacing())
    assert sorted(e.to_email or "" for e in claimed) == ["p0@example.org", "p1@example.org"]


def test_a_launch_spaces_its_rows_after_what_another_campaign_queued_on_the_domain(
    kit: Kit,
) -> None:
    kit.store.add_sending_domain("sam@one.example.com", None, T0)
    other = kit.seed.campaign("scheduled")
    kit.seed.email(other, from_email="x@one.example.com", scheduled_for=T0 + timedelta(hours=1))
    campaign = staged_campaign(kit, "a@example.org")

    launched = kit.store.launch_campaign(campaign, planner(), T0)

    assert launched.first == T0 + timedelta(hours=1, minutes=1)


def test_launch_without_an_active_address_is_refused_and_changes_nothing(kit: Kit) -> None:
    kit.store.add_sending_domain("sam@one.example.com", None, T0)
    kit.store.set_sending_domain_active("0", False, T0)
    campaign = staged_campaign(kit, "a@example.org")

    with pytest.raises(LaunchRefused, match="no active sending address"):
        kit.store.launch_campaign(campaign, planner(), T0)

    assert kit.seed.campaign_row(campaign)["status"] == "staged"
    assert [r["status"] for r in kit.store.rows_page(campaign, None, None, 10)] == ["staged"]


def test_a_plan_that_fails_halfway_writes_nothing(kit: Kit) -> None:
    kit.store.add_sending_domain("sam@one.example.com", None, T0)
    campaign = staged_campaign(kit, "a@example.org", "b@example.org")

    def broken(basis: Basis) -> list[launch.Assignment]:
        planned = launch.plan(basis, RULES, T0)
        raise RuntimeError(f"crashed after planning {len(planned)}")

    with pytest.raises(RuntimeError):
        kit.store.launch_campaign(campaign, broken, T0)

    assert {r["status"] for r in kit.store.rows_page(campaign, None, None, 10)} == {"staged"}
    assert kit.seed.campaign_row(campaign)["status"] == "staged"


def test_the_basis_carries_the_campaigns_schedule(kit: Kit) -> None:
    kit.store.add_sending_domain("sam@one.example.com", "Sam", T0)
    campaign = new_campaign(kit, daily_limit=2)
    seen: list[Basis] = []

    kit.store.launch_campaign(campaign, lambda basis: seen.append(basis) or [], T0)

    [basis] = seen
    assert basis.schedule.send_days == ("mon", "tue")
    assert basis.schedule.send_time_start is not None
    assert basis.schedule.send_time_start.startswith("09:00")
    assert basis.schedule.timezone == "Europe/Berlin" and basis.schedule.daily_limit == 2
    assert [(a.domain_index, a.from_email, a.from_name) for a in basis.addresses] == [
        (0, "sam@one.example.com", "Sam")
    ]


# -- frontend requests ----------------------------------------------------------


def test_requests_are_listed_until_done_or_refused(kit: Kit) -> None:
    asked = new_campaign(kit, "asked")
    refused = new_campaign(kit, "refused")
    kit.seed.execute("request_work", {"id": asked, "stage": True, "launch": True})
    kit.seed.execute("request_work", {"id": refused, "stage": False, "launch": True})

    before = {r.campaign_id: (r.stage, r.launch) for r in kit.store.requested_work()}
    kit.store.stage_campaign(asked, T0)
    kit.store.refuse_request(refused, "no active sending address", T0)

    assert before == {asked: (True, True), refused: (False, True)}
    assert [(r.campaign_id, r.stage, r.launch) for r in kit.store.requested_work()] == [
        (asked, False, True)
    ]
    assert kit.seed.campaign_row(refused)["request_error"] == "no active sending address"


# -- rows and test-send ---------------------------------------------------------


def test_rows_come_in_pages_in_sending_order_and_by_status(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    ids = [
        kit.seed.email(campaign, scheduled_for=T0 + timedelta(minutes=i), status=status)
        for i, status in enumerate(["sent", "queued", "failed", "queued", "sent"])
    ]

    pages = []
    after = None
    while page := kit.store.rows_page(campaign, None, after, 2):
        pages.append([r["id"] for r in page])
        after = page[-1]["id"]
    queued = kit.store.rows_page(campaign, "queued", None, 10)

    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    assert [r["id"] for r in queued] == [ids[1], ids[3]]
    assert "body" not in queued[0] and "metadata" not in queued[0]
    assert queued[0]["to_email"] and "error" in queued[0]


def test_the_test_send_row_is_the_row_asked_for_or_the_first_or_a_contact(kit: Kit) -> None:
    kit.store.add_sending_domain("sam@one.example.com", "Sam", T0)
    kit.seed.suppress("me@example.com")
    campaign = new_campaign(kit)
    kit.store.import_contacts(campaign, contacts("a@example.org"), T0)

    from_contact = kit.store.test_send_row(campaign, None, "you@example.com")
    kit.store.stage_campaign(campaign, T0)
    [row] = kit.store.rows_page(campaign, None, None, 10)
    first = kit.store.test_send_row(campaign, None, "ME@example.com")
    asked = kit.store.test_send_row(campaign, row["id"], "you@example.com")
    missing = kit.store.test_send_row(campaign, "00000000-0000-4000-8000-000000000000", "x@y.z")

    assert from_contact.email is not None and from_contact.email.to_email == "a@example.org"
    assert from_contact.email.metadata == {"first_name": "P0", "city": "Lagos"}
    assert from_contact.email.campaign is not None
    assert from_contact.email.campaign.body_template == "Hi {{ first_name }}"
    assert not from_contact.address_suppressed
    assert first.email is not None and first.email.id == row["id"] and first.address_suppressed
    assert asked.email is not None and asked.email.id == row["id"]
    assert first.first_address is not None
    assert first.first_address.from_email == "sam@one.example.com"
    assert missing.email is None
