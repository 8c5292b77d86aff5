"""The embedded store: one SQLite file, the same contract as Postgres.

Claims run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock
before reading, so two processes on one file never pick the same row. One
connection per store, shared by the worker's threads under a lock: SQLite
serialises writers anyway.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from .. import sql
from ..errors import LeaseLost, StoreUnavailable
from ..events import sqlite_ingest
from ..events.windows import Window
from ..models import (
    CLAIMABLE_CAMPAIGN_STATUSES,
    NOT_ACCEPTED,
    QUEUED,
    SENT,
    STOPPED,
    Content,
    Email,
    Outcome,
)
from ..ports import (
    GUARD_OFF,
    UNPACED,
    BounceGuard,
    CampaignStatus,
    FailedRows,
    Pacing,
    PausedCampaign,
)
from ..sequences.model import lead_bucket
from ..sql import schema
from . import intake_sqlite, reports, sequences_sqlite
from .intake_sqlite import IntakeSqlite
from .rows import email_from_row
from .sequences_sqlite import SequenceSqlite

Q = sql.queries("sqlite/queries.sql")
BACKFILLS = sql.queries("sqlite/backfills.sql")
ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", re.IGNORECASE)
SCHEMA_FILE = "sqlite/schema.sql"
UPGRADES_FILE = "sqlite/upgrades.sql"
EVENTS_SCHEMA_FILE = "sqlite/events_schema.sql"  # 0006's twin: needs no upgraded column
# Created (schema files, in order) and added to older files (upgrade files).
SCHEMA_FILES = (
    SCHEMA_FILE,
    EVENTS_SCHEMA_FILE,
    intake_sqlite.SCHEMA_FILE,
    sequences_sqlite.SCHEMA_FILE,
)
UPGRADE_FILES = (
    UPGRADES_FILE,
    "sqlite/events_upgrades.sql",
    intake_sqlite.UPGRADES_FILE,
    sequences_sqlite.UPGRADES_FILE,
)
UPGRADES = {name: text for file in UPGRADE_FILES for name, text in sql.queries(file).items()}


def path_from_url(url: str) -> Path:
    """`sqlite:///relative.db` and `sqlite:////absolute.db`, as SQLAlchemy spells them."""
    return Path(url.removeprefix("sqlite:///"))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def claimable(campaign_status: str | None) -> bool:
    """`cr_claimable()` in the queries: None, a campaign that is gone, is claimed so that
    the pipeline fails its rows."""
    return campaign_status is None or campaign_status in CLAIMABLE_CAMPAIGN_STATUSES


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[0] for row in db.execute(Q["columns"], {"table": table})}


@cache
def manifest() -> schema.Manifest:
    """The tables and columns the embedded schema has, read from an empty copy of it."""
    db = sqlite3.connect(":memory:")
    try:
        wanted = schema.Manifest()
        for file in UPGRADE_FILES:
            for statement in sql.queries(file).values():
                match = ADD_COLUMN.search(statement)
                assert match is not None, statement
                wanted.columns[match.groups()] = file
        db.executescript(sql.read(SCHEMA_FILE))
        for statement in UPGRADES.values():  # as _upgrade: those the schema lacks
            match = ADD_COLUMN.search(statement)
            assert match is not None, statement
            if match.group(2) not in _columns(db, match.group(1)):
                db.execute(statement)
        for file in SCHEMA_FILES:
            db.executescript(sql.read(file))
            for table in schema.TABLE.findall(sql.read(file)):
                wanted.tables[table] = file
                for column in _columns(db, table):
                    wanted.columns.setdefault((table, column), file)
    finally:
        db.close()
    return wanted


def _first_due(db: sqlite3.Connection, params: dict[str, Any], limit: int) -> list[sqlite3.Row]:
    """The first `limit` due rows their domains have room for, read from the ordered
    stream of due rows and no further: the cost of a claim is what it takes."""
    taken: Counter[str | None] = Counter()
    picked: list[sqlite3.Row] = []
    rows = db.execute(Q["due_in_order"], params)
    try:
        for row in rows:
            if limit <= len(picked):
                break
            if row["room"] is None or taken[row["domain"]] < row["room"]:
                taken[row["domain"]] += 1
                picked.append(row)
    finally:
        rows.close()
    return picked


def _finish_params(email: Email, worker_id: str, outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "id": email.id,
        "worker": worker_id,
        "now": _iso(now),
        "status": outcome.status,
        "error": outcome.error,
        "failure_kind": outcome.failure_kind,
        "provider_message_id": outcome.provider_message_id,
        "retry_at": _iso(outcome.retry_at),
        "give_back": outcome.status == QUEUED and not outcome.count_attempt,
    }


class SqliteStore(IntakeSqlite, SequenceSqlite):
    rows_by_id = Q["rows_by_id"]

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            if path.parent != Path(""):
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.create_function("cr_claimable", 1, claimable, deterministic=True)
            self.created = not _columns(self._db, "email_queue")
            for file in (SCHEMA_FILE, EVENTS_SCHEMA_FILE):
                self._db.executescript(sql.read(file))
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open the SQLite store at {path}: {exc}") from None
        self.where = str(path)
        self.added = self._upgrade()
        with self._lock:  # their indexes need the upgraded columns
            for file in SCHEMA_FILES[2:]:  # the base and events schemas ran above
                self._db.executescript(sql.read(file))
        self._db.create_function("cr_lead_bucket", 1, lead_bucket, deterministic=True)

    def _upgrade(self) -> list[str]:
        """Add the columns of `upgrades.sql` that a file made by an older version lacks,
        each followed by its backfill, and name them. Under the write lock, so two
        processes opening one old file add and fill each once."""
        added = []
        with self._transaction() as db:
            for name, statement in UPGRADES.items():
                match = ADD_COLUMN.search(statement)
                assert match is not None, statement  # upgrades.sql holds only ADD COLUMNs
                table, column = match.groups()
                if column not in _columns(db, table):
                    db.execute(statement)
                    if name in BACKFILLS:
                        db.execute(BACKFILLS[name])
                    added.append(f"{table}.{column}")
            for kind in sqlite_ingest.widen_failure_kinds(db, (NOT_ACCEPTED, STOPPED)):
                added.append(f"email_queue.failure_kind: {kind}")
        return added

    def schema_version(self) -> None:
        """Not versioned: opening the file creates or upgrades its schema."""
        return None

    def missing(self) -> list[str]:
        wanted = manifest()
        with self._transaction("DEFERRED") as db:
            columns = {table: _columns(db, table) for table in wanted.tables}
        present = schema.Present(
            tables=frozenset(table for table, names in columns.items() if names),
            columns=frozenset((table, c) for table, names in columns.items() for c in names),
            functions=frozenset(),
        )
        return schema.missing(wanted, present)

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute(f"BEGIN {mode}")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from None

    def _pacing_params(
        self, now: datetime, pacing: Pacing, bound_only: bool = False
    ) -> dict[str, Any]:
        return {
            "now": _iso(now),
            "min_interval": pacing.min_interval_seconds,
            "daily_cap": pacing.daily_cap,
            "day_start": _iso(pacing.day_start) or "",
            "bound_only": bound_only,
        }

    def claim(
        self, worker_id: str, limit: int, now: datetime, pacing: Pacing, bound_only: bool = False
    ) -> list[Email]:
        params = self._pacing_params(now, pacing, bound_only)
        with self._transaction() as db:
            picked = _first_due(db, params, limit)
            if not picked:
                return []
            ids = [row["id"] for row in picked]
            db.executemany(
                Q["claim_row"], [{"id": i, "worker": worker_id, "now": params["now"]} for i in ids]
            )
            per_domain = Counter(row["domain"] for row in picked if row["domain"])
            db.executemany(
                Q["pace_domain"],
                [
                    {
                        "domain": d,
                        "count": n,
                        "now": params["now"],
                        "day_start": params["day_start"],
                    }
                    for d, n in per_domain.items()
                ],
            )
            db.execute(Q["start_campaigns"], {"ids": json.dumps(ids), "now": params["now"]})
            rows = db.execute(Q["rows_by_id"], {"ids": json.dumps(ids)}).fetchall()
        return [email_from_row(dict(row)) for row in rows]

    def peek_due(self, limit: int, now: datetime, pacing: Pacing = UNPACED) -> list[Email]:
        with self._transaction("DEFERRED") as db:
            picked = _first_due(db, self._pacing_params(now, pacing), limit)
            ids = json.dumps([row["id"] for row in picked])
            rows = db.execute(Q["rows_by_id"], {"ids": ids}).fetchall()
        return [email_from_row(dict(row)) for row in rows]

    def start_send(self, email: Email, worker_id: str, content: Content, now: datetime) -> None:
        with self._transaction() as db:
            changed = db.execute(
                Q["start_send"],
                {
                    "id": email.id,
                    "worker": worker_id,
                    "now": _iso(now),
                    "subject": content.subject,
                    "body": content.body,
                    "model": content.model,
                    "prompt_tokens": content.usage.get("prompt_tokens"),
                    "completion_tokens": content.usage.get("completion_tokens"),
                },
            ).rowcount
        if changed != 1:
            raise LeaseLost(email.id)

    def finish(self, email: Email, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        with self._transaction() as db:
            leased = db.execute(Q["leased_row"], {"id": email.id, "worker": worker_id}).fetchone()
            if leased is None:
                return False
            db.execute(Q["finish"], _finish_params(email, worker_id, outcome, now))
            if leased["send_started_at"] is None and outcome.status != SENT:
                db.execute(
                    Q["give_back_pacing"],
                    {"domain": leased["domain"], "locked_at": leased["locked_at"]},
                )
        return True

    def settle_late(
        self,
        email: Email,
        worker_id: str,
        outcome: Outcome,
        send_started_at: datetime,
        now: datetime,
    ) -> bool:
        params = _finish_params(email, worker_id, outcome, now)
        with self._transaction() as db:
            reopened = db.execute(
                Q["reopen_guessed"], {**params, "send_started_at": _iso(send_started_at)}
            ).fetchall()
            if not reopened:
                return False
            # The send had started: nothing of the domain's pacing is given back.
            db.execute(Q["finish"], params)
            campaign = {"campaign_id": reopened[0]["campaign_id"], "now": _iso(now)}
            db.execute(Q["recount_campaign"], campaign)
            if outcome.status == QUEUED:
                db.execute(Q["reopen_campaign"], campaign)
        return True

    def renew_leases(self, worker_id: str, ids: list[str], now: datetime) -> int:
        with self._transaction() as db:
            return db.execute(
                Q["renew_leases"], {"ids": json.dumps(ids), "worker": worker_id, "now": _iso(now)}
            ).rowcount

    def recover_stale(self, lease_seconds: int, max_attempts: int, now: datetime) -> Counter[str]:
        cutoff = now - timedelta(seconds=lease_seconds)
        params = {"cutoff": _iso(cutoff), "now": _iso(now), "max_attempts": max_attempts}
        with self._transaction() as db:
            db.execute(Q["give_back_stale_pacing"], params)
            rows = db.execute(Q["recover_stale"], params).fetchall()
        return Counter(row[0] for row in rows)

    def roll_up(self, now: datetime, guard: BounceGuard = GUARD_OFF) -> list[PausedCampaign]:
        with self._transaction() as db:
            db.execute(Q["guard_resumed"], {"now": _iso(now)})
            # The recount first: a campaign it completes has nothing left to pause.
            db.execute(Q["roll_up"], {"now": _iso(now)})
            paused = []
            if guard.pause_rate < 1 or guard.complaint_rate < 1:  # 1 cannot be passed
                paused = db.execute(
                    Q["guard_pause"],
                    {
                        "now": _iso(now),
                        "rate": guard.pause_rate,
                        "min_sends": guard.min_sends,
                        "complaint_rate": guard.complaint_rate,
                        "complaint_min": guard.complaint_min,
                    },
                ).fetchall()
        return [reports.paused_campaign(row) for row in paused]

    def status(self, now: datetime, pacing: Pacing = UNPACED) -> list[CampaignStatus]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(Q["status"], self._pacing_params(now, pacing)).fetchall()
            figures = {str(f["campaign_id"]): dict(f) for f in sqlite_ingest.status(db)}
        return [
            reports.campaign_status({**dict(row), **figures.get(str(row["campaign_id"]), {})})
            for row in rows
        ]

    def failed_rows(self, campaign_id: str) -> FailedRows:
        with self._transaction("DEFERRED") as db:
            found = db.execute(Q["campaign_status"], {"campaign_id": campaign_id}).fetchone()
            kinds = Counter(
                row["kind"] for row in db.execute(Q["failed_kinds"], {"campaign_id": campaign_id})
            )
        return reports.failed_rows({"campaign_status": found["status"] if found else None, **kinds})

    def retry_failed(self, campaign_id: str, include_ambiguous: bool, now: datetime) -> int:
        wanted = {"retryable", "ambiguous"} if include_ambiguous else {"retryable"}
        with self._transaction() as db:
            ids = [
                row["id"]
                for row in db.execute(Q["failed_kinds"], {"campaign_id": campaign_id})
                if row["kind"] in wanted
            ]
            db.executemany(Q["requeue_failed"], [{"id": i, "now": _iso(now)} for i in ids])
            if ids:
                db.execute(Q["reopen_campaign"], {"campaign_id": campaign_id, "now": _iso(now)})
        return len(ids)

    # -- the EventsStore protocol (issue 15), each call one transaction -----------

    def claim_events_poll(self, poller: str, now: datetime, lease_seconds: int) -> dict:
        with self._transaction() as db:
            return sqlite_ingest.claim_poll(db, poller, now, lease_seconds)

    def ingest_events(
        self,
        poller: str,
        now: datetime,
        lease_seconds: int,
        records: list[dict[str, Any]],
        window: Window,
        next_path: str | None,
    ) -> dict:
        with self._transaction() as db:
            return sqlite_ingest.ingest(
                db, poller, now, lease_seconds, records, window.start, window.end, next_path
            )

    def release_events_poll(self, poller: str, now: datetime) -> bool:
        with self._transaction() as db:
            return sqlite_ingest.release_poll(db, poller, now)

    def settle_unseen_sends(self, grace_seconds: int, now: datetime) -> int:
        with self._transaction() as db:
            return sqlite_ingest.settle_unseen(db, grace_seconds, now)

    def roll_up_events(self, campaign_ids: list[str] | None, now: datetime) -> int:
        with self._transaction() as db:
            return sqlite_ingest.roll_up(db, campaign_ids, now)

    def recipient_of(self, email_id: str) -> str | None:
        """The address of row `email_id`; None when there is no such row (or no address)."""
        with self._transaction("DEFERRED") as db:
            row = db.execute(Q["recipient_of"], {"id": email_id}).fetchone()
        return None if row is None else str(row[0])

    def suppress_recipient_of(self, email_id: str, reason: str, source: str, now: datetime) -> bool:
        """Suppress the recipient of row `email_id` (kept as first written if it already
        is); False when there is no such row."""
        with self._transaction() as db:
            found = db.execute(Q["recipient_of"], {"id": email_id}).fetchone()
            db.execute(
                Q["suppress_recipient_of"],
                {"id": email_id, "reason": reason, "source": source, "now": _iso(now)},
            )
        return found is not None

    def stage(self, campaign: dict[str, Any], emails: list[dict[str, Any]]) -> None:
        """Put a campaign and its rows in, as the frontend and launch step would."""
        columns = (
            "name",
            "status",
            "subject",
            "body_template",
            "ai_prompt",
            "from_name",
            "reply_to",
        )
        email_columns = (
            "to_email",
            "to_name",
            "from_email",
            "domain_index",
            "subject",
            "body",
            "status",
            "scheduled_for",
        )
        with self._transaction() as db:
            db.execute(
                Q["insert_campaign"],
                {"id": campaign["id"], **{c: campaign.get(c) for c in columns}},
            )
            db.executemany(
                Q["insert_email"],
                [
                    {
                        "id": e["id"],
                        "campaign_id": campaign["id"],
                        "metadata": json.dumps(e.get("metadata", {})),
                        **{c: e.get(c) for c in email_columns},
                    }
                    for e in emails
                ],
            )

    def campaign_rows(self, campaign_id: str) -> list[dict[str, Any]]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(Q["campaign_rows"], {"campaign_id": campaign_id}).fetchall()
        return [dict(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
