"""The sequence methods of the embedded store (twins of 0010_sequences.sql's
functions; `sql/sqlite/sequences.sql` holds their queries). Each method is one
`BEGIN IMMEDIATE` transaction, which takes SQLite's write lock before reading, so
two processes never dispatch one lead twice or both fill a campaign's day."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from .. import sql
from ..intake.records import IntakeError, Launched, Staged
from ..sequences.model import (
    BOUNCE,
    BOUNCED,
    REPLIED,
    REPLY,
    UNSUBSCRIBED,
    Draft,
    DueLead,
    Inbound,
    MailboxState,
    OpenCampaign,
    SequenceStatus,
    Spans,
    Step,
    due_lead_from,
    lead_bucket,
    mailbox_state_from,
    sequence_status_from,
    spans_json,
    steps_from,
)

S = sql.queries("sqlite/sequences.sql")
Q = sql.queries("sqlite/queries.sql")
SCHEMA_FILE = "sqlite/sequences_schema.sql"
UPGRADES_FILE = "sqlite/sequences_upgrades.sql"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def stop_leads(
    db: sqlite3.Connection,
    ids: Iterable[str],
    status: str,
    reason: str | None,
    at: datetime,
    now: datetime,
) -> list[str]:
    """cr_stop_leads: the leads stopped, and their rows not yet started failed (a claimed
    one giving back its domain's pacing, as its own finish would)."""
    params = {"status": status, "reason": reason, "at": _iso(at), "now": _iso(now)}
    stopped = [r[0] for r in db.execute(S["stop_leads"], {"ids": json.dumps(list(ids)), **params})]
    if stopped:
        claimed = db.execute(S["claimed_rows_of"], {"ids": json.dumps(stopped)}).fetchall()
        db.executemany(Q["give_back_pacing"], [dict(row) for row in claimed])
        db.execute(S["fail_stopped_rows"], {"ids": json.dumps(stopped), **params})
    return stopped


class SequenceSqlite:
    _transaction: Callable[..., AbstractContextManager[sqlite3.Connection]]  # SqliteStore's

    def sequence_progress(self, now: datetime) -> dict[str, int]:
        counts: Counter[str] = Counter()
        with self._transaction() as db:
            suppressed = db.execute(S["suppressed_leads"]).fetchall()
            for bounce, status, reason in (
                (True, BOUNCED, "the address is suppressed (bounce)"),
                (False, UNSUBSCRIBED, "the address is suppressed"),
            ):
                ids = [row["id"] for row in suppressed if bool(row["bounce"]) == bounce]
                counts["suppressed"] += len(stop_leads(db, ids, status, reason, now, now))
            counts["advanced"] = db.execute(S["advance_leads"], {"now": _iso(now)}).rowcount
            rejected = [row["id"] for row in db.execute(S["rejected_leads"])]
            bounced = stop_leads(
                db, rejected, BOUNCED, "the provider refused the recipient", now, now
            )
            db.execute(S["bounced_on_next_step"], {"ids": json.dumps(bounced)})
            counts["bounced"] = len(bounced)
            counts["paused"] = db.execute(S["pause_failed_leads"], {"now": _iso(now)}).rowcount
            db.execute(S["recount_steps"], {"now": _iso(now)})
        return {name: n for name, n in counts.items() if n}

    def sequence_schedules(self, now: datetime) -> list[dict[str, Any]]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(S["sequence_schedules"], {"now": _iso(now)}).fetchall()
        return [{**dict(row), "send_days": json.loads(row["send_days"] or "null")} for row in rows]

    def fit_to_windows(self, spans: Spans, now: datetime) -> dict[str, int]:
        params = {"windows": json.dumps(spans_json(spans)), "now": _iso(now)}
        counts = {}
        with self._transaction() as db:
            for name, query in (("leads", "fit_leads"), ("rows", "fit_rows")):
                before = db.total_changes  # rowcount is -1 for a statement opening WITH
                db.execute(S[query], params)
                counts[name] = db.total_changes - before
        return {name: n for name, n in counts.items() if n}

    def due_leads(self, campaigns: list[OpenCampaign], now: datetime, limit: int) -> list[DueLead]:
        with self._transaction("DEFERRED") as db:
            return [
                lead
                for open_campaign in campaigns
                for lead in self._due(db, open_campaign, now, limit, None)
            ]

    def _due(
        self,
        db: sqlite3.Connection,
        open_campaign: OpenCampaign,
        now: datetime,
        limit: int,
        ids: list[str] | None,
    ) -> list[DueLead]:
        """cr_due_leads for one campaign (`ids`: only these leads)."""
        campaign = db.execute(
            S["open_campaign"],
            {
                "campaign_id": open_campaign.campaign_id,
                "day_start": _iso(open_campaign.day_start),
                "day_end": _iso(open_campaign.day_end),
            },
        ).fetchone()
        if campaign is None:
            return []
        room = limit
        if campaign["daily_limit"] is not None:
            room = min(limit, max(0, campaign["daily_limit"] - campaign["day_count"]))
        rows = db.execute(
            S["due_leads"],
            {
                "campaign_id": campaign["id"],
                "now": _iso(now),
                "limit": room,
                "ids": None if ids is None else json.dumps(ids),
            },
        ).fetchall()
        leads = []
        for row in rows:
            step = db.execute(
                S["step"], {"campaign_id": campaign["id"], "step_number": row["step_number"]}
            ).fetchone()
            earlier = db.execute(S["earlier_steps"], {"lead_id": row["id"]}).fetchall()
            split = campaign["variant_split"]
            if not campaign["ab_testing_enabled"]:
                variant = "A"
            elif row["assigned_variant"]:
                variant = row["assigned_variant"]
            else:
                variant = "A" if split is not None and lead_bucket(row["id"]) < split else "B"
            leads.append(
                due_lead_from(
                    {
                        **dict(row),
                        "lead_id": row["id"],
                        "variant": variant,
                        "variant_split": split,
                        "step": None if step is None else dict(step),
                        "earlier": [dict(e) for e in earlier],
                    }
                )
            )
        return leads

    def dispatch_leads(
        self, campaigns: list[OpenCampaign], drafts: list[Draft], now: datetime
    ) -> dict[str, int]:
        counts: Counter[str] = Counter()
        by_lead = {d.lead_id: d for d in drafts if d.error is None}
        with self._transaction() as db:
            for draft in drafts:
                if draft.error is not None:
                    counts["paused"] += db.execute(
                        S["pause_lead"],
                        {"id": draft.lead_id, "error": draft.error, "now": _iso(now)},
                    ).rowcount
            addresses = db.execute(S["active_addresses"]).fetchall()
            for open_campaign in sorted(campaigns, key=lambda c: c.campaign_id):
                campaign = db.execute(
                    S["open_campaign"],
                    {
                        "campaign_id": open_campaign.campaign_id,
                        "day_start": _iso(open_campaign.day_start),
                        "day_end": _iso(open_campaign.day_end),
                    },
                ).fetchone()
                if campaign is None:
                    continue
                due = [
                    lead
                    for lead in self._due(db, open_campaign, now, len(by_lead), list(by_lead))
                    if by_lead[lead.lead_id].step_number == lead.step_number
                ]
                assigned = campaign["assigned"]
                for lead in due:
                    draft = by_lead[lead.lead_id]
                    sender, domain_index = lead.from_email, None
                    if not sender and addresses:
                        address = addresses[assigned % len(addresses)]
                        assigned += 1
                        sender, domain_index = address["from_email"], address["domain_index"]
                    sender = sender or campaign["from_email"]
                    if not sender:
                        counts["paused"] += db.execute(
                            S["pause_lead"],
                            {"id": lead.lead_id, "error": NO_SENDER, "now": _iso(now)},
                        ).rowcount
                        continue
                    db.execute(
                        S["address_lead"],
                        {
                            "id": lead.lead_id,
                            "from_email": sender,
                            "domain_index": domain_index,
                            "variant": draft.variant,
                            "now": _iso(now),
                        },
                    )
                    domain = sender.rpartition("@")[2].lower()
                    counts["queued"] += db.execute(
                        S["insert_step_row"],
                        {
                            "id": lead.lead_id,
                            "step_number": draft.step_number,
                            "subject": draft.subject,
                            "body": draft.body,
                            "model": draft.model,
                            "now": _iso(now),
                            "message_id": f"<{uuid.uuid4()}@{domain}>",
                        },
                    ).rowcount
        return {name: n for name, n in counts.items() if n}

    def reply_mailbox(self, mailbox: str) -> MailboxState | None:
        with self._transaction("DEFERRED") as db:
            row = db.execute(S["reply_mailbox"], {"mailbox": mailbox}).fetchone()
        return mailbox_state_from(row)

    def record_inbound(
        self,
        mailbox: str,
        address: str,
        state: MailboxState,
        messages: list[Inbound],
        now: datetime,
    ) -> dict[str, int]:
        counts: Counter[str] = Counter()
        with self._transaction() as db:
            for message in messages:
                lead_id = self._match(db, message, address)
                message_id = message.message_id or f"<uid-{state.uidvalidity}-{message.uid}>"
                inserted = db.execute(
                    S["insert_inbound"],
                    {
                        "mailbox": mailbox,
                        "uid": message.uid,
                        "message_id": message_id,
                        "kind": message.kind,
                        "lead_id": lead_id,
                        "detail": message.detail,
                        "received_at": _iso(message.received_at),
                        "now": _iso(now),
                    },
                ).rowcount
                if not inserted:
                    continue
                counts[message.kind] += 1
                if lead_id is None:
                    counts["unmatched"] += 1
                    continue
                stopped: list[str] = []
                if message.kind == REPLY:
                    stopped = stop_leads(
                        db, [lead_id], REPLIED, None, message.received_at or now, now
                    )
                elif message.kind == BOUNCE:
                    reason = message.detail or "a delivery report"
                    stopped = stop_leads(db, [lead_id], BOUNCED, reason, now, now)
                counts["stopped"] += len(stopped)
            db.execute(
                S["save_reply_mailbox"],
                {
                    "mailbox": mailbox,
                    "uidvalidity": state.uidvalidity,
                    "last_uid": state.last_uid,
                    "now": _iso(now),
                },
            )
        return {name: n for name, n in counts.items() if n}

    def _match(self, db: sqlite3.Connection, message: Inbound, address: str) -> str | None:
        """cr_record_inbound's match: one of our Message-IDs, SparkPost's message id, a
        reply token, the sender."""
        found = None
        if message.references:
            found = db.execute(
                S["lead_by_message_id"], {"ids": json.dumps(list(message.references))}
            ).fetchone()
        if found is None and message.provider_ids:
            found = db.execute(
                S["lead_by_provider_id"], {"ids": json.dumps(list(message.provider_ids))}
            ).fetchone()
        if found is None and message.tokens:
            found = db.execute(
                S["lead_by_token"], {"tokens": json.dumps(list(message.tokens))}
            ).fetchone()
        if found is None and message.kind == REPLY and address and message.sender:
            found = db.execute(
                S["lead_by_sender"], {"sender": message.sender, "address": address}
            ).fetchone()
        return None if found is None else found[0]

    def stage_leads(self, campaign_id: str, now: datetime) -> Staged | None:
        params = {"campaign_id": campaign_id, "now": _iso(now)}
        with self._transaction() as db:
            found = db.execute(S["has_steps"], params).fetchone()
            if found is None:
                return None
            if found["status"] in ("completed", "cancelled"):
                raise IntakeError(f"the campaign is {found['status']}: nothing more is staged")
            (suppressed,) = db.execute(S["suppressed_contacts"], params).fetchone()
            staged = db.execute(S["stage_leads"], params).rowcount
            (status,) = db.execute(S["staged_campaign"], params).fetchone()
        return Staged(staged, suppressed, status, what="lead")

    def launch_leads(self, campaign_id: str, now: datetime) -> Launched | None:
        params = {"campaign_id": campaign_id, "now": _iso(now)}
        with self._transaction() as db:
            found = db.execute(S["has_steps"], params).fetchone()
            if found is None:
                return None
            if found["status"] in ("completed", "cancelled"):
                raise IntakeError(f"the campaign is {found['status']}: nothing more is launched")
            (leads,) = db.execute(S["active_leads"], params).fetchone()
            if not leads and found["status"] in ("draft", "staged"):
                raise IntakeError(
                    "no active leads: import contacts and run `campaign-runner stage` first"
                )
            (status,) = db.execute(S["launched_campaign"], params).fetchone()
        return Launched(leads, status, what="lead")

    def put_steps(
        self, campaign_id: str, ab_testing: bool, steps: list[dict[str, Any]], now: datetime
    ) -> int:
        """cr_put_sequence_steps: the campaign's steps become `steps`, counters kept."""
        params = {"campaign_id": campaign_id, "now": _iso(now)}
        with self._transaction() as db:
            db.execute(S["set_ab_testing"], {**params, "ab_testing": ab_testing})
            changed = sum(db.execute(S["put_step"], {**params, **s}).rowcount for s in steps)
            removed = db.execute(S["remove_steps_after"], {**params, "last": len(steps)}).rowcount
        return changed + removed

    def sequence_steps(self, campaign_id: str) -> dict[int, Step]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(S["steps_of_campaign"], {"campaign_id": campaign_id}).fetchall()
        return steps_from([dict(row) for row in rows])

    def sequence_status(self) -> list[SequenceStatus]:
        with self._transaction("DEFERRED") as db:
            campaigns = db.execute(S["sequence_status_campaigns"]).fetchall()
            return [
                sequence_status_from(
                    {
                        **dict(c),
                        "leads": {
                            r["status"]: r["n"]
                            for r in db.execute(S["leads_by_status"], {"campaign_id": c[0]})
                        },
                        "steps": [
                            dict(s) for s in db.execute(S["steps_of"], {"campaign_id": c[0]})
                        ],
                    }
                )
                for c in campaigns
            ]


NO_SENDER = (
    "no sending address: set the lead's from_email, add one with `campaign-runner domains "
    "add`, or set the campaign's from_email"
)
