"""One face over both dialects of the events SQL, so one suite holds them to one behaviour.

Each kit holds the real store (`PostgresStore` on a freshly migrated database,
`SqliteStore` on a new file): its `EventsStore` methods are what the poller calls,
and the kit reads the rows back with the database's own SQL.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from campaign_runner.events.windows import Window
from campaign_runner.stores.postgres import PostgresStore
from campaign_runner.stores.sqlite import SqliteStore

ROW_FACTS = (
    "status",
    "error",
    "failure_kind",
    "sent_at",
    "provider_message_id",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "bounced_at",
    "bounce_class",
    "bounce_reason",
    "complained_at",
    "unsubscribed_at",
    "settled_note",
)
COUNTERS = (
    "sent_count",
    "failed_count",
    "delivered_count",
    "opened_count",
    "clicked_count",
    "bounced_count",
    "complained_count",
    "unsubscribed_count",
)
TIMES = {"sent_at", "delivered_at", "opened_at", "clicked_at", "bounced_at"}
TIMES |= {"complained_at", "unsubscribed_at", "occurred_at", "read_to", "read_since"}
TIMES |= {"lease_until", "window_from", "window_to"}


class Kit(Protocol):
    name: str

    def campaign(self, status: str = "sending") -> str: ...
    def row(self, campaign_id: str, to_email: str, **fields: Any) -> str: ...

    store: PostgresStore | SqliteStore

    def claim(self, poller: str, now: datetime, lease: int = 300) -> dict[str, Any]: ...
    def release(self, poller: str, now: datetime) -> bool: ...
    def ingest(
        self,
        poller: str,
        now: datetime,
        records: list[dict[str, Any]],
        window: Window,
        next_path: str | None = None,
        lease: int = 300,
    ) -> dict[str, Any]: ...
    def roll_up(self, campaign_ids: list[str] | None, now: datetime) -> int: ...
    def settle_unseen(self, grace_seconds: int, now: datetime) -> int: ...
    def facts(self, row_id: str) -> dict[str, Any]: ...
    def counters(self, campaign_id: str) -> dict[str, int]: ...
    def suppressions(self) -> dict[str, tuple[str, str]]: ...
    def events(self) -> list[dict[str, Any]]: ...
    def position(self) -> dict[str, Any]: ...


def _times(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as aware datetimes, whichever dialect stored them."""
    return {
        key: datetime.fromisoformat(value) if key in TIMES and isinstance(value, str) else value
        for key, value in row.items()
    }


class _Calls:
    """The `EventsStore` methods, by the kits' short names, on the kit's store."""

    store: PostgresStore | SqliteStore

    def claim(self, poller: str, now: datetime, lease: int = 300) -> dict[str, Any]:
        return self.store.claim_events_poll(poller, now, lease)

    def release(self, poller: str, now: datetime) -> bool:
        return self.store.release_events_poll(poller, now)

    def ingest(
        self,
        poller: str,
        now: datetime,
        records: list[dict[str, Any]],
        window: Window,
        next_path: str | None = None,
        lease: int = 300,
    ) -> dict[str, Any]:
        return self.store.ingest_events(poller, now, lease, records, window, next_path)

    def roll_up(self, campaign_ids: list[str] | None, now: datetime) -> int:
        return self.store.roll_up_events(campaign_ids, now)

    def settle_unseen(self, grace_seconds: int, now: datetime) -> int:
        return self.store.settle_unseen_sends(grace_seconds, now)


class PostgresKit(_Calls):
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        self.store = PostgresStore(dsn)

    def close(self) -> None:
        self.store.close()
        self.conn.close()

    def _value(self, statement: str, *params: Any) -> Any:
        row = self.conn.execute(statement, params).fetchone()
        assert row is not None
        return next(iter(row.values()))

    def campaign(self, status: str = "sending") -> str:
        return str(
            self._value(
                "insert into campaigns (name, status) values ('c', %s) returning id", status
            )
        )

    def row(self, campaign_id: str, to_email: str, **fields: Any) -> str:
        values = {"campaign_id": campaign_id, "to_email": to_email, "status": "sent", **fields}
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        return str(
            self._value(
                f"insert into email_queue ({columns}) values ({marks}) returning id",
                *values.values(),
            )
        )

    def facts(self, row_id: str) -> dict[str, Any]:
        columns = ", ".join(ROW_FACTS)
        return self.conn.execute(
            f"select {columns} from email_queue where id = %s", (row_id,)
        ).fetchone()

    def counters(self, campaign_id: str) -> dict[str, int]:
        columns = ", ".join(COUNTERS)
        return self.conn.execute(
            f"select {columns} from campaigns where id = %s", (campaign_id,)
        ).fetchone()

    def suppressions(self) -> dict[str, tuple[str, str]]:
        rows = self.conn.execute("select email, reason, source from suppressions").fetchall()
        return {r["email"]: (r["reason"], r["source"]) for r in rows}

    def events(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select event_id, type, occurred_at, email_id::text, campaign_id::text, problem, raw "
            "from email_events order by event_id"
        ).fetchall()
        return [dict(r) for r in rows]

    def position(self) -> dict[str, Any]:
        return self.conn.execute(
            "select * from cr_events_position where stream = 'sparkpost'"
        ).fetchone()


class SqliteKit(_Calls):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.store = SqliteStore(path)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.store.close()
        self.db.close()

    def campaign(self, status: str = "sending") -> str:
        campaign_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO campaigns (id, name, status) VALUES (?, 'c', ?)", (campaign_id, status)
        )
        return campaign_id

    def row(self, campaign_id: str, to_email: str, **fields: Any) -> str:
        row_id = str(uuid.uuid4())
        values = {
            "id": row_id,
            "campaign_id": campaign_id,
            "to_email": to_email,
            "status": "sent",
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()},
        }
        marks = ", ".join(f":{k}" for k in values)
        self.db.execute(f"INSERT INTO email_queue ({', '.join(values)}) VALUES ({marks})", values)
        return row_id

    def facts(self, row_id: str) -> dict[str, Any]:
        row = self.db.execute(
            f"SELECT {', '.join(ROW_FACTS)} FROM email_queue WHERE id = ?", (row_id,)
        ).fetchone()
        return _times(dict(row))

    def counters(self, campaign_id: str) -> dict[str, int]:
        row = self.db.execute(
            f"SELECT {', '.join(COUNTERS)} FROM campaigns WHERE id = ?", (campaign_id,)
        ).fetchone()
        return dict(row)

    def suppressions(self) -> dict[str, tuple[str, str]]:
        rows = self.db.execute("SELECT email, reason, source FROM suppressions").fetchall()
        return {r["email"]: (r["reason"], r["source"]) for r in rows}

    def events(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT event_id, type, occurred_at, email_id, campaign_id, problem, raw "
            "FROM email_events ORDER BY event_id"
        ).fetchall()
        return [_times({**dict(r), "raw": json.loads(r["raw"])}) for r in rows]

    def position(self) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM cr_events_position WHERE stream = 'sparkpost'")
        return _times(dict(row.fetchone()))
