"""The launch plan: round-robin addresses, per-domain spacing inside the window, after
what each domain has already taken, and never past the campaign's daily limit."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign_runner.config import parse_work_days
from campaign_runner.intake import launch
from campaign_runner.intake.launch import Basis, LaunchRefused, Rules, Schedule, SendingAddress
from campaign_runner.window import SendingWindow

LA = ZoneInfo("America/Los_Angeles")
WORKER = SendingWindow(LA, 9, 17, parse_work_days("mon-fri"))
RULES = Rules(WORKER, min_interval_seconds=210)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=LA).astimezone(UTC)
ONE = SendingAddress(0, "sam@one.example.com")
TWO = SendingAddress(1, "ann@two.example.com")
ONE_TOO = SendingAddress(2, "lee@ONE.example.com")  # another address on domain one


def basis(n: int, *addresses: SendingAddress, **changes: object) -> Basis:
    values: dict[str, object] = {
        "campaign_id": "c",
        "campaign_status": "staged",
        "schedule": Schedule(),
        "addresses": addresses or (ONE, TWO),
        "staged": tuple(f"row{i}" for i in range(n)),
        "tails": {},
    }
    values.update(changes)
    return Basis(**values)  # type: ignore[arg-type]


def test_addresses_go_round_robin_and_each_domain_is_spaced_by_the_interval() -> None:
    planned = launch.plan(basis(5), RULES, MONDAY_10)

    assert [a.from_email for a in planned] == [ONE.from_email, TWO.from_email] * 2 + [
        ONE.from_email
    ]
    assert [a.domain_index for a in planned] == [0, 1, 0, 1, 0]
    step = timedelta(seconds=210)
    assert [a.scheduled_for for a in planned] == [
        MONDAY_10,
        MONDAY_10,
        MONDAY_10 + step,
        MONDAY_10 + step,
        MONDAY_10 + 2 * step,
    ]
    assert all(a.scheduled_for.tzinfo is UTC for a in planned)


def test_two_addresses_on_one_domain_share_its_pacing() -> None:
    planned = launch.plan(basis(4, ONE, ONE_TOO), RULES, MONDAY_10)

    times = [a.scheduled_for for a in planned]
    assert times == [MONDAY_10 + timedelta(seconds=210 * i) for i in range(4)]


def test_a_domain_starts_after_what_it_has_already_taken() -> None:
    busy_until = MONDAY_10 + timedelta(hours=2)

    planned = launch.plan(basis(2, tails={"one.example.com": busy_until}), RULES, MONDAY_10)

    assert planned[0].scheduled_for == busy_until + timedelta(seconds=210)
    assert planned[1].scheduled_for == MONDAY_10  # domain two is free


def test_sends_stay_inside_the_window_and_carry_over_to_the_next_open_day() -> None:
    friday_1650 = datetime(2026, 11, 27, 16, 50, tzinfo=LA).astimezone(UTC)

    planned = launch.plan(basis(4, ONE), RULES, friday_1650)

    local = [a.scheduled_for.astimezone(LA) for a in planned]
    assert [t.strftime("%a %H:%M:%S") for t in local] == [
        "Fri 16:50:00",
        "Fri 16:53:30",
        "Fri 16:57:00",
        "Mon 09:00:00",
    ]


def test_the_campaigns_own_schedule_and_time_zone_win_part_by_part() -> None:
    berlin = Schedule(send_days=("sat",), send_time_start="10:00", timezone="Europe/Berlin")

    [first] = launch.plan(basis(1, schedule=berlin), RULES, MONDAY_10)

    local = first.scheduled_for.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.strftime("%a %H:%M") == "Sat 10:00"  # the end hour is still the worker's 17


def test_the_daily_limit_moves_the_rest_to_the_next_day_counting_rows_already_taken() -> None:
    already = (MONDAY_10 - timedelta(minutes=30),)
    schedule = Schedule(daily_limit=3)

    planned = launch.plan(basis(5, schedule=schedule, taken=already), RULES, MONDAY_10)

    days = Counter(a.scheduled_for.astimezone(LA).strftime("%a") for a in planned)
    assert days == {"Mon": 2, "Tue": 3}
    assert min(
        a.scheduled_for for a in planned if a.scheduled_for.astimezone(LA).weekday() == 1
    ) == (datetime(2026, 11, 24, 9, 0, tzinfo=LA).astimezone(UTC))


def test_no_spacing_sends_everything_at_once() -> None:
    planned = launch.plan(basis(3), Rules(WORKER, 0), MONDAY_10)

    assert {a.scheduled_for for a in planned} == {MONDAY_10}


def test_times_that_are_not_whole_hours_round_inwards() -> None:
    window = launch.campaign_window(
        Schedule(send_time_start="09:30", send_time_end="16:45:00"), WORKER
    )

    assert (window.start_hour, window.end_hour) == (10, 16)
    assert (
        launch.campaign_window(
            Schedule(send_time_start="00:00", send_time_end="00:00"), WORKER
        ).end_hour
        == 24
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"addresses": ()}, "no active sending address: add one with `campaign-runner domains add"),
        ({"campaign_status": "completed"}, "the campaign is completed"),
        (
            {"schedule": Schedule(send_time_start="16:30", send_time_end="17:00")},
            "window 17:00-17:00 is empty",
        ),
        ({"schedule": Schedule(send_days=("someday",))}, "names no day"),
        ({"schedule": Schedule(timezone="Mars/Olympus")}, "'Mars/Olympus' is not a known"),
        ({"schedule": Schedule(send_time_start="9am")}, "send time '9am' is not HH:MM"),
        ({"staged": ()}, "nothing is staged"),
        ({"schedule": Schedule(daily_limit=-1)}, "daily_limit -1 is negative"),
    ],
)
def test_a_launch_that_cannot_be_planned_says_why(changes: dict[str, object], message: str) -> None:
    with pytest.raises(LaunchRefused) as refused:
        launch.plan(basis(1, **changes), RULES, MONDAY_10)

    assert message in str(refused.value)
