"""What the store contract suite needs of each store: the store, and a seeder that
puts rows into its database and reads them back with the database's own SQL.

A factory (one per store, registered in `conftest.FACTORIES`) yields a `Kit`.
"""

from __future__ import annotations

import itertools
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from campaign_runner.ports import Store
from campaign_runner.stores.rows import parse_time

SQL = Path(__file__).with_name("sql")

# A Monday afternoon in UTC; every call of the suite passes its own `now`.
T0 = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
DUE = T0 - timedelta(minutes=5)

TIMESTAMPS = (
    "scheduled_for",
    "locked_at",
    "send_started_at",
    "sent_at",
    "generated_at",
    "started_at",
    "completed_at",
)


# The seeder's one-line statements; the longer ones are files, sql/<dialect>/<name>.sql.
ONE_LINERS: dict[str, dict[str, str]] = {
    "postgres": {
        "campaign_row": "select * from campaigns where id = %(id)s::uuid",
        "email_row": "select * from email_queue where id = %(id)s::uuid",
        "delete_campaign": "delete from campaigns where id = %(id)s::uuid",
        "set_campaign_status": "update campaigns set status = %(status)s where id = %(id)s::uuid",
        "suppress": "insert into suppressions (email, reason, source) "
        "values (%(email)s, 'unsubscribed', 'tests')",
        "suppression_row": "select * from suppressions where email = %(email)s",
        "delete_email": "delete from email_queue where id = %(id)s::uuid",
        "empty_intake": "truncate sending_domains, imported_contacts",
        "insert_event": "insert into email_events (event_id, type, email_id, message_id) "
        "values (%(event_id)s, 'delivery', %(email_id)s::uuid, %(message_id)s)",
    },
    "sqlite": {
        "campaign_row": "SELECT * FROM campaigns WHERE id = :id",
        "email_row": "SELECT * FROM email_queue WHERE id = :id",
        "delete_campaign": "DELETE FROM campaigns WHERE id = :id",
        "set_campaign_status": "UPDATE campaigns SET status = :status WHERE id = :id",
        "suppress": "INSERT INTO suppressions (email, reason, source) "
        "VALUES (:email, 'unsubscribed', 'tests')",
        "suppression_row": "SELECT * FROM suppressions WHERE email = :email",
        "delete_email": "DELETE FROM email_queue WHERE id = :id",
        "empty_intake": "DELETE FROM sending_domains",
        "insert_event": "INSERT INTO email_events (event_id, type, email_id, message_id) "
        "VALUES (:event_id, 'delivery', :email_id, :message_id)",
    },
}


@cache
def statement(dialect: str, name: str) -> str:
    inline = ONE_LINERS.get(dialect, {}).get(name)
    return inline if inline is not None else (SQL / dialect / f"{name}.sql").read_text("utf-8")


class Seeder(ABC):
    """Stages campaigns and rows as the frontend and the launch step would."""

    dialect: str

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    @abstractmethod
    def execute(self, name: str, params: dict[str, Any]) -> None: ...

    @abstractmethod
    def fetch(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None: ...

    @abstractmethod
    def close(self) -> None: ...

    def campaign(self, status: str = "scheduled", **fields: Any) -> str:
        campaign_id = str(uuid.uuid4())
        values = {
            "name": f"Campaign {next(self._numbers)}",
            "subject": "Hello {{ first_name }}",
            "body_template": "Hi {{ first_name }}",
            "ai_prompt": None,
            "from_name": "Acme",
            "reply_to": None,
        }
        self.execute("insert_campaign", {**values, **fields, "id": campaign_id, "status": status})
        return campaign_id

    def email(self, campaign_id: str, scheduled_for: datetime | str = DUE, **fields: Any) -> str:
        email_id = str(uuid.uuid4())
        n = next(self._numbers)
        values = {
            "to_email": f"person{n}@example.org",
            "to_name": f"Person {n}",
            "from_email": "news@acme.test",
            "subject": None,
            "body": f"Body {n}",
            "status": "queued",
            "metadata": {"first_name": f"P{n}"},
        }
        values.update(fields)
        moment = scheduled_for.isoformat() if isinstance(scheduled_for, datetime) else scheduled_for
        values.update(
            id=email_id,
            campaign_id=campaign_id,
            scheduled_for=moment,
            metadata=json.dumps(values["metadata"]),
        )
        self.execute("insert_email", values)
        return email_id

    def suppress(self, address: str) -> None:
        self.execute("suppress", {"email": address})

    def delete_campaign(self, campaign_id: str) -> None:
        self.execute("delete_campaign", {"id": campaign_id})

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        self.execute("set_campaign_status", {"id": campaign_id, "status": status})

    def email_row(self, email_id: str) -> dict[str, Any]:
        return self._normal(self.fetch("email_row", {"id": email_id}))

    def campaign_row(self, campaign_id: str) -> dict[str, Any]:
        return self._normal(self.fetch("campaign_row", {"id": campaign_id}))

    @staticmethod
    def _normal(row: dict[str, Any] | None) -> dict[str, Any]:
        """The same values whatever the database: ids as text, timestamps as aware datetimes."""
        assert row is not None, "no such row"
        return {
            key: parse_time(value)
            if key in TIMESTAMPS
            else str(value)
            if isinstance(value, uuid.UUID)
            else value
            for key, value in row.items()
        }


@dataclass
class Kit:
    name: str
    store: Store
    seed: Seeder


Factory = Callable[[pytest.FixtureRequest], Iterator[Kit]]
