"""What the stores answer to the put-work-in commands, and how a store's row (a
dict from SQLite, decoded JSON from the Postgres family) becomes one of these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import Email
from ..stores.rows import email_from_row, parse_time
from .launch import Assignment, Basis, Schedule, SendingAddress


@dataclass(frozen=True)
class CampaignRef:
    """A campaign as the commands name it (by file key or id)."""

    id: str
    key: str | None
    name: str
    status: str


@dataclass(frozen=True)
class Applied:
    campaign_id: str
    status: str
    created: bool
    changed: tuple[str, ...]  # columns the file changed (or would have)
    refused: tuple[str, ...]  # frozen columns it would change: then nothing was written


@dataclass(frozen=True)
class Imported:
    imported: int
    in_campaign: int  # already imported into the campaign, or a row of it
    suppressed: int


@dataclass(frozen=True)
class Staged:
    staged: int
    suppressed: int  # recipients left out because they are suppressed
    status: str


@dataclass(frozen=True)
class Launched:
    queued: int
    status: str
    first: datetime | None = None  # the first and last time given to a row queued now
    last: datetime | None = None


@dataclass(frozen=True)
class TestSendRow:
    """What `test-send` renders: a row (None: the campaign has no row and no contact),
    whether the test address is suppressed, and the first active sending address."""

    email: Email | None
    address_suppressed: bool
    first_address: SendingAddress | None


@dataclass(frozen=True)
class SendingDomain:
    domain_index: int
    from_email: str
    from_name: str | None
    active: bool


@dataclass(frozen=True)
class Request:
    """A frontend's request that the worker stage and/or launch a campaign."""

    campaign_id: str
    stage: bool
    launch: bool


class IntakeError(ValueError):
    """A store refused a put-work-in command; the message says why."""


def refused_unless_ok(row: Mapping[str, Any]) -> Mapping[str, Any]:
    if row.get("error"):
        raise IntakeError(str(row["error"]))
    return row


def campaign_ref(row: Mapping[str, Any]) -> CampaignRef:
    return CampaignRef(str(row["id"]), row.get("key"), row.get("name") or "", row["status"])


def applied(row: Mapping[str, Any]) -> Applied:
    return Applied(
        campaign_id=str(row["id"]),
        status=row["status"],
        created=bool(row["created"]),
        changed=tuple(row.get("changed") or ()),
        refused=tuple(row.get("refused") or ()),
    )


def imported(row: Mapping[str, Any]) -> Imported:
    row = refused_unless_ok(row)
    return Imported(int(row["imported"]), int(row["in_campaign"]), int(row["suppressed"]))


def staged(row: Mapping[str, Any]) -> Staged:
    row = refused_unless_ok(row)
    return Staged(int(row["staged"]), int(row["suppressed"]), row["status"])


def sending_domain(row: Mapping[str, Any]) -> SendingDomain:
    return SendingDomain(
        int(row["domain_index"]), row["from_email"], row.get("from_name"), bool(row["active"])
    )


def request(row: Mapping[str, Any]) -> Request:
    return Request(str(row["campaign_id"]), bool(row["stage"]), bool(row["launch"]))


def basis(row: Mapping[str, Any]) -> Basis:
    days = row.get("send_days")
    return Basis(
        campaign_id=str(row["campaign_id"]),
        campaign_status=row["campaign_status"],
        schedule=Schedule(
            send_days=tuple(days) if days is not None else None,
            send_time_start=row.get("send_time_start"),
            send_time_end=row.get("send_time_end"),
            timezone=row.get("timezone"),
            daily_limit=row.get("daily_limit"),
        ),
        addresses=tuple(
            SendingAddress(int(a["domain_index"]), a["from_email"], a.get("from_name"))
            for a in row.get("addresses") or ()
        ),
        staged=tuple(str(i) for i in row.get("staged") or ()),
        tails={
            domain: moment
            for domain, value in (row.get("tails") or {}).items()
            if (moment := parse_time(value)) is not None
        },
        taken=tuple(t for value in row.get("taken") or () if (t := parse_time(value))),
        token=row.get("token"),
    )


def launched(row: Mapping[str, Any], planned: list[Assignment]) -> Launched:
    times = [a.scheduled_for for a in planned]
    return Launched(
        int(row["queued"]), row["status"], min(times, default=None), max(times, default=None)
    )


def test_send_row(row: Mapping[str, Any]) -> TestSendRow:
    first = row.get("first_address")
    return TestSendRow(
        email=email_from_row(row["row"]) if row.get("row") else None,
        address_suppressed=bool(row["address_suppressed"]),
        first_address=SendingAddress(-1, first["from_email"], first.get("from_name"))
        if first
        else None,
    )
