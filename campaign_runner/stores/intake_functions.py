"""The put-work-in methods of the Postgres family's store: each one call of a function
of migration 0008 (signatures in `sql/postgres/calls.sql`), over either transport.

Values go as JSON-ready data (times as ISO 8601 text), since the RPC transport posts
them as a JSON body and the psycopg one passes them as `jsonb`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..intake import records
from ..intake.contacts import Contact
from ..intake.launch import Planner
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

# A launch planned on a basis that changed before it was written is planned again;
# a change needs another launch or a claim to land in the few milliseconds between.
LAUNCH_TRIES = 5


class IntakeFunctions:
    """Mixed into `FunctionStore`, whose `_call` reaches the database."""

    _call: Callable[..., Any]

    def find_campaign(self, ref: str) -> CampaignRef | None:
        row = self._call("find_campaign", {"p_ref": ref})
        return records.campaign_ref(row) if row else None

    def apply_campaign(
        self, key: str, columns: Mapping[str, Any], frozen: list[str], now: datetime
    ) -> Applied:
        row = self._call(
            "apply_campaign",
            {"p_key": key, "p_fields": dict(columns), "p_frozen": frozen, "p_now": now},
        )
        return records.applied(row)

    def import_contacts(self, campaign_id: str, contacts: list[Contact], now: datetime) -> Imported:
        payload = [{"email": c.email, "to_name": c.to_name, "metadata": c.fields} for c in contacts]
        row = self._call(
            "import_contacts", {"p_campaign_id": campaign_id, "p_contacts": payload, "p_now": now}
        )
        return records.imported(row)

    def stage_campaign(self, campaign_id: str, now: datetime) -> Staged:
        leads = self.stage_leads(campaign_id, now)  # type: ignore[attr-defined]
        if leads is not None:  # a campaign with sequence steps stages leads
            return leads  # type: ignore[no-any-return]
        return records.staged(self._call("stage", {"p_campaign_id": campaign_id, "p_now": now}))

    def launch_campaign(self, campaign_id: str, planner: Planner, now: datetime) -> Launched:
        leads = self.launch_leads(campaign_id, now)  # type: ignore[attr-defined]
        if leads is not None:  # a campaign with sequence steps: its leads go
            return leads  # type: ignore[no-any-return]
        for _ in range(LAUNCH_TRIES):
            row = self._call("launch_basis", {"p_campaign_id": campaign_id, "p_now": now})
            if row is None:
                raise IntakeError("no such campaign")
            basis = records.basis(row)
            planned = planner(basis)
            written = records.refused_unless_ok(
                self._call(
                    "launch",
                    {
                        "p_campaign_id": campaign_id,
                        "p_token": basis.token,
                        "p_plan": [
                            {
                                "id": a.id,
                                "domain_index": a.domain_index,
                                "from_email": a.from_email,
                                "scheduled_for": a.scheduled_for.isoformat(),
                            }
                            for a in planned
                        ],
                        "p_now": now,
                    },
                )
            )
            if not written.get("stale"):
                return records.launched(written, planned)
        raise IntakeError(
            f"the sending addresses or their queues kept changing during {LAUNCH_TRIES} "
            "tries; launch again"
        )

    def sending_domains(self) -> list[SendingDomain]:
        return [records.sending_domain(row) for row in self._call("sending_domains", {}) or []]

    def add_sending_domain(
        self, from_email: str, from_name: str | None, now: datetime
    ) -> SendingDomain:
        row = self._call(
            "add_sending_domain",
            {"p_from_email": from_email, "p_from_name": from_name, "p_now": now},
        )
        return records.sending_domain(row)

    def set_sending_domain_active(
        self, which: str, active: bool, now: datetime
    ) -> SendingDomain | None:
        row = self._call(
            "set_sending_domain_active", {"p_which": which, "p_active": active, "p_now": now}
        )
        return records.sending_domain(row) if row else None

    def requested_work(self) -> list[Request]:
        return [records.request(row) for row in self._call("requested_work", {}) or []]

    def refuse_request(self, campaign_id: str, error: str, now: datetime) -> None:
        self._call("refuse_request", {"p_campaign_id": campaign_id, "p_error": error, "p_now": now})

    def rows_page(
        self, campaign_id: str, status: str | None, after_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = self._call(
            "rows_page",
            {
                "p_campaign_id": campaign_id,
                "p_status": status,
                "p_after_id": after_id,
                "p_limit": limit,
            },
        )
        return list(rows or [])

    def test_send_row(
        self, campaign_id: str, row_id: str | None, address: str
    ) -> records.TestSendRow:
        found = self._call(
            "test_send_row",
            {"p_campaign_id": campaign_id, "p_row_id": row_id, "p_address": address},
        )
        return records.test_send_row(found)
