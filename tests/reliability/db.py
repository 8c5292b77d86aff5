"""The queue as the reliability tests stage it and judge it, through psycopg."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.stores.postgres_kit import PostgresSeeder

SQL = Path(__file__).with_name("sql")
AI_PROMPT = "Write a short, friendly note about how Ledgerly shortens the month-end close."


def contact(n: int) -> str:
    """The first name of row `n`: unique, so a request to Groq names its row."""
    return f"Contact{n:03d}"


def stage(dsn: str, needs_content: Sequence[bool]) -> list[str]:
    """One scheduled campaign with one due row per entry, in claim order; a row whose
    entry is true has no body, so the worker asks Groq for one. Returns the ids."""
    seed = PostgresSeeder(dsn)
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        campaign_id = seed.campaign(ai_prompt=AI_PROMPT)
        return [
            seed.email(
                campaign_id,
                scheduled_for=start + timedelta(seconds=n),
                body=None if generate else f"Hello from row {n}.",
                metadata={"first_name": contact(n)},
            )
            for n, generate in enumerate(needs_content)
        ]
    finally:
        seed.close()


def rows(dsn: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        return {row["id"]: row for row in conn.execute((SQL / "rows.sql").read_text())}


def unsettled(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        # Due work, or work a live or dead worker still holds.
        row = conn.execute(
            "select count(*) as n from email_queue where status in ('queued', 'processing')"
        ).fetchone()
    assert row is not None
    return int(row["n"])
