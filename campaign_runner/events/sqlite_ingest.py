"""The embedded store's side of the events: 0006_events.sql's functions for SQLite.

Each function runs the named statements of `sql/sqlite/events.sql` on a
connection the caller holds inside `BEGIN IMMEDIATE` (SqliteStore._transaction),
so a call is all or nothing and no other process writes in between; each returns
what its Postgres twin returns. The page goes through a TEMP table of the
connection (SQLite has no data-modifying CTEs to chain). The store creates the
tables (`events_schema.sql`) and columns (`events_upgrades.sql`) when it opens a file.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from .. import sql

Q = sql.queries("sqlite/events.sql")
# The list of kinds in the CHECK of `email_queue.failure_kind`.
KIND_LIST = re.compile(r"(failure_kind\s+IN\s*\()([^)]*)(\))", re.IGNORECASE)


def widen_failure_kinds(db: sqlite3.Connection, kinds: tuple[str, ...]) -> list[str]:
    """Add the `kinds` its CHECK of `email_queue.failure_kind` lacks to a file made
    before them (0006's not_accepted, 0010's stopped), inside the caller's transaction.
    SQLite cannot alter a constraint; a CHECK that allows more changes nothing stored,
    so its text is rewritten in place as SQLite documents for such changes
    (sqlite.org/lang_altertable.html#otheralter). Returns the kinds added."""
    (table,) = db.execute(Q["email_queue_table"]).fetchone()
    found = KIND_LIST.search(table)
    if found is None:
        return []
    missing = [kind for kind in kinds if f"'{kind}'" not in found.group(2)]
    if not missing:
        return []
    widened = table[: found.end(2)] + "".join(f", '{k}'" for k in missing) + table[found.end(2) :]
    (version,) = db.execute("PRAGMA schema_version").fetchone()
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute(Q["rewrite_email_queue_table"], {"sql": widened})
        db.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")
    return missing


def claim_poll(db: sqlite3.Connection, poller: str, now: datetime, lease_seconds: int) -> dict:
    db.execute(Q["ensure_position"])
    claimed = db.execute(
        Q["claim_poll"],
        {"poller": poller, "now": now.isoformat(), "lease_until": _after(now, lease_seconds)},
    ).rowcount
    position = _position(db)
    return {
        "claimed": claimed == 1,
        "holder": position["lease_holder"],
        **{
            key: position[key]
            for key in ("lease_until", "read_to", "read_since", "window_from", "window_to")
        },
        "next_path": position["next_path"],
    }


def release_poll(db: sqlite3.Connection, poller: str, now: datetime) -> bool:
    return db.execute(Q["release_poll"], {"poller": poller, "now": now.isoformat()}).rowcount == 1


def ingest(
    db: sqlite3.Connection,
    poller: str,
    now: datetime,
    lease_seconds: int,
    records: list[dict[str, Any]],
    window_from: datetime,
    window_to: datetime,
    next_path: str | None,
) -> dict:
    position = _one(db, "position")
    if position is None or position["lease_holder"] != poller:
        return {"lease_held": False, "holder": position["lease_holder"] if position else None}
    at = {"now": now.isoformat()}
    db.execute(Q["page_table"])
    db.execute(Q["page_index"])  # the landing looks up each row's events
    db.execute(Q["page_clear"])  # a temp table: this connection's, and in its transaction
    db.execute(Q["page_fill"], {"events": json.dumps(records)})
    db.execute(Q["page_mark_ambiguous"])
    counts = dict(_one(db, "page_counts"))
    db.execute(Q["page_store"], at)
    landed = db.execute(Q["page_land"], at).rowcount
    suppressed = db.execute(Q["page_suppress"], at).rowcount
    campaigns = [row[0] for row in db.execute(Q["page_campaigns"]) if row[0] is not None]
    if campaigns:
        roll_up(db, campaigns, now)
    db.execute(
        Q["advance"],
        {
            **at,
            "window_from": window_from.isoformat(),
            "window_to": window_to.isoformat(),
            "next_path": next_path,
            "lease_until": _after(now, lease_seconds),
            "stored": counts["stored"],
            "unmatched": counts["unmatched"],
        },
    )
    return {
        "lease_held": True,
        **counts,
        "duplicates": counts["received"] - counts["stored"],
        "landed": landed,
        "suppressed": suppressed,
        "read_to": _position(db)["read_to"],
    }


def roll_up(db: sqlite3.Connection, campaign_ids: list[str] | None, now: datetime) -> int:
    ids = None if campaign_ids is None else json.dumps(campaign_ids)
    return db.execute(Q["roll_up"], {"campaign_ids": ids, "now": now.isoformat()}).rowcount


def settle_unseen(db: sqlite3.Connection, grace_seconds: int, now: datetime) -> int:
    return db.execute(
        Q["settle_unseen"], {"grace_seconds": grace_seconds, "now": now.isoformat()}
    ).rowcount


def status(db: sqlite3.Connection) -> list[sqlite3.Row]:
    """As cr_events_status: each campaign's counters and its settled ambiguous rows."""
    cursor = db.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(Q["status"]).fetchall()


def _position(db: sqlite3.Connection) -> sqlite3.Row:
    return _one(db, "position")


def _one(db: sqlite3.Connection, name: str) -> Any:
    """The first row of a named query, by column name whatever the connection's factory."""
    cursor = db.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(Q[name]).fetchone()


def _after(now: datetime, seconds: int) -> str:
    return (now + timedelta(seconds=seconds)).isoformat()
