"""The put-work-in methods of the embedded store: the same contract as the functions
of migration 0008, each method one `BEGIN IMMEDIATE` transaction of the queries in
`sql/sqlite/intake.sql`. The launch plan is computed inside its transaction, so no
other writer can change what it was computed from."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from .. import sql
from ..intake import records
from ..intake.contacts import Contact
from ..intake.launch import Basis, Planner
from ..intake.records import (
    Applied,
    CampaignRef,
    Imported,
    IntakeError,
    Launched,
    Request,
    SendingDomain,
    Staged,
)
from .rows import parse_time

Q = sql.queries("sqlite/intake.sql")
SCHEMA_FILE = "sqlite/intake_schema.sql"
UPGRADES_FILE = "sqlite/intake_upgrades.sql"
FINISHED = ("completed", "cancelled")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _encoded(columns: Mapping[str, Any]) -> dict[str, Any]:
    """A campaign file's columns as the embedded store keeps them."""
    days = columns.get("send_days")
    return {**columns, "send_days": json.dumps(days) if days is not None else None}


def _latest(values: Iterator[Any]) -> datetime | None:
    moments = [m for v in values if (m := parse_time(v)) is not None]
    return max(moments, default=None)


class IntakeSqlite:
    """Mixed into `SqliteStore`, whose `_transaction` it runs in."""

    _transaction: Callable[..., AbstractContextManager[sqlite3.Connection]]
    rows_by_id: str  # the store's own query for rows as a claim returns them

    def find_campaign(self, ref: str) -> CampaignRef | None:
        with self._transaction("DEFERRED") as db:
            row = db.execute(Q["find_campaign"], {"ref": ref}).fetchone()
        return records.campaign_ref(dict(row)) if row else None

    def apply_campaign(
        self, key: str, columns: Mapping[str, Any], frozen: list[str], now: datetime
    ) -> Applied:
        new = _encoded(columns)
        with self._transaction() as db:
            created = (
                db.execute(
                    Q["insert_keyed_campaign"],
                    {"key": key, "name": columns.get("name") or "", "now": _iso(now)},
                ).rowcount
                == 1
            )
            old = dict(db.execute(Q["keyed_campaign"], {"key": key}).fetchone())
            changed = sorted(name for name in new if old.get(name) != new[name])
            refused = [name for name in changed if name in frozen]
            if old["status"] not in ("draft", "staged") and refused:
                return Applied(old["id"], old["status"], False, tuple(changed), tuple(refused))
            if changed:
                # Columns not given keep their value, as jsonb_populate_record keeps them.
                db.execute(
                    Q["update_campaign_file"], {**old, **new, "id": old["id"], "now": _iso(now)}
                )
        return Applied(old["id"], old["status"], created, tuple(changed), ())

    def import_contacts(self, campaign_id: str, contacts: list[Contact], now: datetime) -> Imported:
        with self._transaction() as db:
            self._open_campaign(db, campaign_id, "contacts added now would never be sent")
            db.execute(Q["incoming_table"])
            db.execute(Q["incoming_clear"])
            db.executemany(
                Q["incoming_add"],
                (
                    {
                        "email": c.email,
                        "to_name": c.to_name,
                        "metadata": json.dumps(c.fields),
                        "n": n,
                    }
                    for n, c in enumerate(contacts)
                ),
            )
            judged = db.execute(Q["incoming_judged"], {"campaign_id": campaign_id}).fetchone()
            written = db.execute(
                Q["import_incoming"], {"campaign_id": campaign_id, "now": _iso(now)}
            ).rowcount
            db.execute(Q["incoming_clear"])
        return Imported(written, judged["in_campaign"], judged["suppressed"])

    def stage_campaign(self, campaign_id: str, now: datetime) -> Staged:
        leads = self.stage_leads(campaign_id, now)  # type: ignore[attr-defined]
        if leads is not None:  # a campaign with sequence steps stages leads
            return leads  # type: ignore[no-any-return]
        with self._transaction() as db:
            self._open_campaign(db, campaign_id, "nothing more is staged")
            params = {"campaign_id": campaign_id, "now": _iso(now)}
            (suppressed,) = db.execute(Q["stage_suppressed"], params).fetchone()
            staged = db.execute(Q["stage_contacts"], params).rowcount
            (status,) = db.execute(Q["staged_campaign"], params).fetchone()
        return Staged(staged, suppressed, status)

    def launch_campaign(self, campaign_id: str, planner: Planner, now: datetime) -> Launched:
        leads = self.launch_leads(campaign_id, now)  # type: ignore[attr-defined]
        if leads is not None:  # a campaign with sequence steps: its leads go
            return leads  # type: ignore[no-any-return]
        with self._transaction() as db:
            found = db.execute(Q["launch_campaign_row"], {"campaign_id": campaign_id}).fetchone()
            if found is None:
                raise IntakeError("no such campaign")
            planned = planner(self._basis(db, dict(found), now))
            db.executemany(
                Q["queue_planned"],
                [
                    {
                        "id": a.id,
                        "campaign_id": campaign_id,
                        "from_email": a.from_email,
                        "domain_index": a.domain_index,
                        "scheduled_for": _iso(a.scheduled_for),
                        "now": _iso(now),
                    }
                    for a in planned
                ],
            )
            (status,) = db.execute(
                Q["launched_campaign"], {"campaign_id": campaign_id, "now": _iso(now)}
            ).fetchone()
        return records.launched({"queued": len(planned), "status": status}, planned)

    def _basis(self, db: sqlite3.Connection, campaign: dict[str, Any], now: datetime) -> Basis:
        params = {"campaign_id": campaign["campaign_id"], "now": _iso(now)}
        tails: dict[str, list[Any]] = {}
        for row in db.execute(Q["domain_tails"]):
            tails.setdefault(row["domain"], []).append(row["latest"])
        days = campaign["send_days"]
        return records.basis(
            {
                **campaign,
                "send_days": json.loads(days) if days else None,
                "addresses": [dict(r) for r in db.execute(Q["active_addresses"])],
                "staged": [r["id"] for r in db.execute(Q["staged_ids"], params)],
                "tails": {d: _latest(iter(v)) for d, v in tails.items()},
                "taken": [r["at"] for r in db.execute(Q["campaign_taken"], params)]
                if campaign["daily_limit"]
                else [],
            }
        )

    def sending_domains(self) -> list[SendingDomain]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(Q["sending_domains"]).fetchall()
        return [records.sending_domain(dict(row)) for row in rows]

    def add_sending_domain(
        self, from_email: str, from_name: str | None, now: datetime
    ) -> SendingDomain:
        params = {"from_email": from_email, "from_name": from_name, "now": _iso(now)}
        with self._transaction() as db:
            row = db.execute(Q["reactivate_sending_domain"], params).fetchone()
            if row is None:
                row = db.execute(Q["insert_sending_domain"], params).fetchone()
        return records.sending_domain(dict(row))

    def set_sending_domain_active(
        self, which: str, active: bool, now: datetime
    ) -> SendingDomain | None:
        with self._transaction() as db:
            row = db.execute(
                Q["set_sending_domain_active"],
                {"which": which, "active": int(active), "now": _iso(now)},
            ).fetchone()
        return records.sending_domain(dict(row)) if row else None

    def requested_work(self) -> list[Request]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(Q["requested_work"]).fetchall()
        return [records.request(dict(row)) for row in rows]

    def refuse_request(self, campaign_id: str, error: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                Q["refuse_request"], {"campaign_id": campaign_id, "error": error, "now": _iso(now)}
            )

    def rows_page(
        self, campaign_id: str, status: str | None, after_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(
                Q["rows_page"],
                {
                    "campaign_id": campaign_id,
                    "status": status,
                    "after_id": after_id,
                    "limit": limit,
                },
            ).fetchall()
        return [
            {k: v for k, v in dict(row).items() if k not in ("body", "metadata")} for row in rows
        ]

    def test_send_row(
        self, campaign_id: str, row_id: str | None, address: str
    ) -> records.TestSendRow:
        params = {"campaign_id": campaign_id, "row_id": row_id}
        with self._transaction("DEFERRED") as db:
            picked = db.execute(Q["first_row"], params).fetchone()
            if picked is not None:
                row = db.execute(self.rows_by_id, {"ids": json.dumps([picked["id"]])}).fetchone()
            else:
                row = None if row_id else db.execute(Q["first_contact"], params).fetchone()
            (suppressed,) = db.execute(Q["address_suppressed"], {"address": address}).fetchone()
            first = db.execute(Q["active_addresses"]).fetchone()
        return records.test_send_row(
            {
                "row": dict(row) if row else None,
                "address_suppressed": suppressed,
                "first_address": dict(first) if first else None,
            }
        )

    def _open_campaign(self, db: sqlite3.Connection, campaign_id: str, why: str) -> str:
        found = db.execute(Q["campaign_status_of"], {"campaign_id": campaign_id}).fetchone()
        if found is None:
            raise IntakeError("no such campaign")
        if found["status"] in FINISHED:
            raise IntakeError(f"the campaign is {found['status']}: {why}")
        return found["status"]
