"""The launch plan: a sending address and a `scheduled_for` for every staged row.

Addresses go round-robin over the active sending addresses (`sending_domains`, in
`domain_index` order). Times keep the worker's own pacing rule, so the schedule is
one the claim will honour: sends from one sending domain (the domain of the
address, as pacing keys it) are `DOMAIN_MIN_INTERVAL_SECONDS` apart, starting
after the last time that domain already has taken (queued rows of any campaign,
and its last claim), always inside the sending window (the campaign's own
schedule where it has one, else the worker's `TIMEZONE` and `WORK_*`), and never
more than the campaign's `daily_limit` on one local day of that window.

The plan is pure: the stores read a `Basis`, call `plan`, and write the result in
one transaction (the Postgres family checks that the basis still holds when it
writes, see `cr_launch_write`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..config import Config
from ..schedule import ScheduleError
from ..schedule import campaign_window as schedule_window
from ..window import SendingWindow

# A campaign in one of these has finished: nothing more is launched for it.
FINISHED = ("completed", "cancelled")


class LaunchRefused(ValueError):
    """The campaign cannot be launched as it is; the message says why."""


@dataclass(frozen=True)
class SendingAddress:
    domain_index: int
    from_email: str
    from_name: str | None = None

    @property
    def domain(self) -> str:
        """What pacing is keyed on (cr_sending_domain)."""
        return self.from_email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class Schedule:
    """A campaign's own schedule columns; None means the worker's setting."""

    send_days: tuple[str, ...] | None = None
    send_time_start: str | None = None  # 'HH:MM' or 'HH:MM:SS', as a `time` column reads
    send_time_end: str | None = None
    timezone: str | None = None
    daily_limit: int | None = None


@dataclass(frozen=True)
class Basis:
    """What a launch is computed from, as a store read it."""

    campaign_id: str
    campaign_status: str
    schedule: Schedule
    addresses: tuple[SendingAddress, ...]  # the active ones, in domain_index order
    staged: tuple[str, ...]  # the campaign's staged row ids, in the order they are sent
    tails: dict[str, datetime]  # per sending domain, the latest time it has taken
    taken: tuple[datetime, ...] = ()  # the campaign's rows already scheduled (daily limit)
    token: Any = None  # the store's own record of the basis, checked when it writes


@dataclass(frozen=True)
class Assignment:
    id: str
    domain_index: int
    from_email: str
    scheduled_for: datetime


# What a store's `launch` calls with the basis it read, inside its transaction.
Planner = Callable[[Basis], list[Assignment]]


@dataclass(frozen=True)
class Rules:
    """The worker's own settings: one source for the claim's pacing and the plan."""

    window: SendingWindow  # TIMEZONE, WORK_DAYS, WORK_START_HOUR, WORK_END_HOUR
    min_interval_seconds: int  # DOMAIN_MIN_INTERVAL_SECONDS


def rules(config: Config) -> Rules:
    """The worker's window and pacing, as the worker itself reads them."""
    window = SendingWindow(
        config.timezone, config.work_start_hour, config.work_end_hour, config.work_days
    )
    return Rules(window, config.domain_min_interval_seconds)


def campaign_window(schedule: Schedule, default: SendingWindow) -> SendingWindow:
    """The campaign's window (see `schedule.campaign_window`); LaunchRefused with the
    reason when its schedule says nothing that can be sent in."""
    try:
        return schedule_window(asdict(schedule), default)
    except ScheduleError as exc:
        raise LaunchRefused(str(exc)) from None


def check(basis: Basis) -> None:
    """Refuse a launch that cannot be planned, saying why."""
    if basis.campaign_status in FINISHED:
        raise LaunchRefused(f"the campaign is {basis.campaign_status}: nothing more is launched")
    if not basis.staged and basis.campaign_status in ("draft", "staged"):
        raise LaunchRefused(
            "nothing is staged: import contacts and run `campaign-runner stage` first"
        )
    if not basis.addresses:
        raise LaunchRefused(
            "no active sending address: add one with `campaign-runner domains add ADDRESS`"
        )


def plan(basis: Basis, rules: Rules, now: datetime) -> list[Assignment]:
    check(basis)
    window = campaign_window(basis.schedule, rules.window)
    interval = timedelta(seconds=rules.min_interval_seconds)
    limit = basis.schedule.daily_limit or 0  # 0, as DOMAIN_DAILY_CAP's: no limit
    if limit < 0:
        raise LaunchRefused(f"the campaign's daily_limit {limit} is negative")
    per_day: Counter[date] = Counter(_local_day(t, window) for t in basis.taken)
    next_free = {domain: tail + interval for domain, tail in basis.tails.items()}
    assignments = []
    for i, row_id in enumerate(basis.staged):
        address = basis.addresses[i % len(basis.addresses)]
        moment = window.next_open(max(now, next_free.get(address.domain, now)))
        while limit and per_day[_local_day(moment, window)] >= limit:
            moment = window.next_open(_next_midnight(moment, window))
        per_day[_local_day(moment, window)] += 1
        next_free[address.domain] = moment + interval
        assignments.append(
            Assignment(row_id, address.domain_index, address.from_email, moment.astimezone(UTC))
        )
    return assignments


def planner(rules: Rules, now: datetime) -> Planner:
    """`plan` with the worker's rules and the time of the launch, as a store calls it."""
    return lambda basis: plan(basis, rules, now)


def _local_day(moment: datetime, window: SendingWindow) -> date:
    return moment.astimezone(window.tz).date()


def _next_midnight(moment: datetime, window: SendingWindow) -> datetime:
    tomorrow = _local_day(moment, window) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=window.tz).astimezone(UTC)
