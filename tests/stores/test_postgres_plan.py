"""The claim stays cheap as the table grows: on a million rows, nearly all sent, its
statements read the partial index of queued rows and never scan `email_queue`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from campaign_runner import migrate, sql
from campaign_runner.ports import Pacing
from tests.fixtures.postgres import Server

from .kits import DUE, T0, statement
from .postgres_kit import PostgresSeeder, run

CALLS = sql.queries("postgres/calls.sql")
TOTAL = 1_000_000
QUEUED_PER_DOMAIN = 40
DOMAINS = ("alpha.test", "beta.test", "gamma.test")


@pytest.fixture(scope="module")
def big_queue(pg_server: Server) -> Iterator[str]:
    """A migrated database of its own: a million rows of one campaign, all sent but
    the last few, which are due and spread over three sending domains."""
    with pg_server.database() as dsn:
        migrate.apply(dsn)
        seed = PostgresSeeder(dsn)
        campaign = seed.campaign("sending")
        seed.close()
        queued = QUEUED_PER_DOMAIN * len(DOMAINS)
        run(
            dsn,
            "bulk_emails",
            first=0,
            count=TOTAL - queued,
            campaign_id=campaign,
            from_email="old@alpha.test",
            status="sent",
            scheduled_for=DUE - timedelta(days=30),
        )
        for i, domain in enumerate(DOMAINS):
            run(
                dsn,
                "bulk_emails",
                first=TOTAL + i * QUEUED_PER_DOMAIN,
                count=QUEUED_PER_DOMAIN,
                campaign_id=campaign,
                from_email=f"news@{domain}",
                status="queued",
                scheduled_for=DUE,
            )
        run(dsn, "analyze")
        yield dsn


def claim_plans(dsn: str, pacing: Pacing) -> tuple[list[dict[str, Any]], list[str]]:
    """Run one claim with auto_explain on; what it claimed, and the plan of every
    statement inside it. Rolled back, so the table is the same for the next one."""
    plans: list[str] = []
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        conn.execute(statement("postgres", "explain_nested"))
        claimed = conn.execute(
            CALLS["claim"],
            {
                "worker": "w",
                "limit": 25,
                "now": T0,
                "min_interval": pacing.min_interval_seconds,
                "daily_cap": pacing.daily_cap,
                "day_start": pacing.day_start,
            },
        ).fetchone()
        conn.rollback()
    assert claimed is not None
    return claimed["cr_claim"], plans


@pytest.mark.parametrize(
    "pacing",
    [Pacing(), Pacing(min_interval_seconds=210, daily_cap=100, day_start=T0.replace(hour=8))],
    ids=["unpaced", "paced"],
)
def test_claim_on_a_million_rows_reads_the_partial_index_only(
    big_queue: str, pacing: Pacing
) -> None:
    claimed, plans = claim_plans(big_queue, pacing)

    assert len(claimed) == (25 if pacing == Pacing() else len(DOMAINS))
    touching = [plan for plan in plans if "email_queue" in plan]
    assert touching, plans
    assert any("email_queue_due" in plan for plan in touching), touching
    assert not [plan for plan in touching if "Seq Scan on email_queue" in plan], touching
