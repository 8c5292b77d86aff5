"""What the stores answer to the put-work-in commands, and how a store's row (a
dict from SQLite, decoded JSON from the Postgres family) becomes one of these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..models import Email
from ..ports import Store
from ..stores.rows import email_from_row, parse_time
from .launch import Assignment, Basis, Planner, Schedule, SendingAddress

if TYPE_CHECKING:
    from ..sequences.model import Step
    from .contacts import Contact


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
    what: str = "row"  # "lead" for a campaign with sequence steps


@dataclass(frozen=True)
class Launched:
    queued: int
    status: str
    first: datetime | None = None  # the first and last time given to a row queued now
    last: datetime | None = None
    what: str = "row"  # "lead" for a campaign with sequence steps (made active)


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


class IntakeStore(Protocol):
    """What every store does to put work in (stores/intake_functions.py for the
    Postgres family, stores/intake_sqlite.py for SQLite). Each method is one
    transaction: it happens whole or not at all, and running it again is safe."""

    def find_campaign(self, ref: str) -> CampaignRef | None:
        """By file key, or by id."""
        ...

    def apply_campaign(
        self, key: str, columns: Mapping[str, Any], frozen: list[str], now: datetime
    ) -> Applied:
        """Create (draft) or update the campaign of `key`; once it has left draft and
        staged, a change to a `frozen` column writes nothing and is named in `refused`."""
        ...

    def import_contacts(self, campaign_id: str, contacts: list[Contact], now: datetime) -> Imported:
        """All or none; what the campaign has already, or is suppressed, is counted."""
        ...

    def stage_campaign(self, campaign_id: str, now: datetime) -> Staged:
        """Recipients without a row become `staged` rows; draft -> staged."""
        ...

    def launch_campaign(self, campaign_id: str, planner: Planner, now: datetime) -> Launched:
        """Staged rows -> queued as `planner` says, from the basis read in the same
        transaction (or checked in it); draft or staged -> scheduled."""
        ...

    def sending_domains(self) -> list[SendingDomain]: ...

    def add_sending_domain(
        self, from_email: str, from_name: str | None, now: datetime
    ) -> SendingDomain: ...

    def set_sending_domain_active(
        self, which: str, active: bool, now: datetime
    ) -> SendingDomain | None: ...

    def requested_work(self) -> list[Request]: ...

    def refuse_request(self, campaign_id: str, error: str, now: datetime) -> None: ...

    def rows_page(
        self, campaign_id: str, status: str | None, after_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` rows after `after_id` in sending order, without their content."""
        ...

    def test_send_row(self, campaign_id: str, row_id: str | None, address: str) -> TestSendRow:
        """Reads only."""
        ...

    def sequence_steps(self, campaign_id: str) -> dict[int, Step]:
        """A sequence campaign's steps by number ({}: not a sequence). Reads only."""
        ...


class WorkStore(Store, IntakeStore, Protocol):
    """A store of this build: the queue, and putting work in."""


# The id of a row test-send renders from an imported contact that has no row yet.
NO_ROW_YET = "00000000-0000-0000-0000-000000000000"


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
