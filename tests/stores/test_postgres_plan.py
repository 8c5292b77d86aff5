"""The claim stays cheap as the table grows: on a million rows, nearly all sent, its
statements read the partial index of queued rows and never scan `email_queue`; and
with pacing on, a long backlog of due rows costs it a few rows per sending domain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from campaign_runner import migrate
from campaign_runner.ports import Pacing
from campaign_runner.stores.functions import calls
from campaign_runner.stores.postgres import statement as call_statement
from tests.fixtures.postgres import Server

from .kits import DUE, T0, statement
from .postgres_kit import PostgresSeeder, execute, run

TOTAL = 1_000_000
QUEUED_PER_DOMAIN = 40
DOMAINS = ("alpha.test", "beta.test", "gamma.test")
BACKLOG_PER_DOMAIN = 2_000
PACED = Pacing(min_interval_seconds=210, daily_cap=100, day_start=T0.replace(hour=8))
# PostgreSQL 18 shows rows as a mean with two decimals (rows=1.00), older ones as an integer.
ACTUAL_ROWS = re.compile(r"actual time=\S+ rows=([\d.]+) loops=(\d+)")


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
        execute(dsn, "analyze email_queue")
        yield dsn


def claim_plans(dsn: str, pacing: Pacing) -> tuple[list[dict[str, Any]], list[str]]:
    """Run a claim with auto_explain on, as a long-running worker does: PL/pgSQL plans
    a statement for its parameters five times, then may keep one generic plan, so the
    sixth claim in one session is the one that counts. What that claim took, and the
    plan of every statement inside it. Each is rolled back, so the table stays as it is."""
    plans: list[str] = []
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        conn.execute(statement("postgres", "explain_nested"))
        conn.commit()  # settings made in a transaction that is rolled back are undone
        for _ in range(6):
            plans.clear()
            claimed = conn.execute(
                call_statement(calls()["claim"]),
                {
                    "p_worker": "w",
                    "p_limit": 25,
                    "p_now": T0,
                    "p_min_interval_seconds": pacing.min_interval_seconds,
                    "p_daily_cap": pacing.daily_cap,
                    "p_day_start": pacing.day_start,
                    "p_bound_only": False,
                },
            ).fetchone()
            conn.rollback()
    assert claimed is not None
    return claimed["cr_claim_v2"], plans


@pytest.mark.parametrize(
    "pacing",
    [Pacing(), PACED],
    ids=["unpaced", "paced"],
)
def test_claim_on_a_million_rows_reads_the_partial_index_only(
    big_queue: str, pacing: Pacing
) -> None:
    claimed, plans = claim_plans(big_queue, pacing)

    assert len(claimed) == (25 if pacing == Pacing() else len(DOMAINS))
    touching = [plan for plan in plans if "email_queue" in plan]
    assert touching, plans
    index = "email_queue_due" if pacing == Pacing() else "email_queue_domain_due"
    assert any(f"using {index} on email_queue" in plan for plan in touching), touching
    assert not [plan for plan in touching if "Seq Scan on email_queue" in plan], touching


@pytest.fixture(scope="module")
def due_backlog(pg_server: Server) -> Iterator[str]:
    """A campaign launched at once and held back by pacing: thousands of due rows for
    each sending domain."""
    with pg_server.database() as dsn:
        migrate.apply(dsn)
        seed = PostgresSeeder(dsn)
        campaign = seed.campaign("sending")
        seed.close()
        for i, domain in enumerate(DOMAINS):
            run(
                dsn,
                "bulk_emails",
                first=i * BACKLOG_PER_DOMAIN,
                count=BACKLOG_PER_DOMAIN,
                campaign_id=campaign,
                from_email=f"news@{domain}",
                status="queued",
                scheduled_for=DUE,
            )
        execute(dsn, "analyze email_queue")
        yield dsn


def test_a_paced_claim_reads_a_few_rows_per_domain_however_long_the_backlog(
    due_backlog: str,
) -> None:
    claimed, plans = claim_plans(due_backlog, PACED)

    assert len(claimed) == len(DOMAINS)
    read = [
        float(rows) * int(loops)
        for plan in plans
        for line in plan.splitlines()
        if " on email_queue" in line and (found := ACTUAL_ROWS.search(line))
        for rows, loops in [found.groups()]
    ]
    assert read, plans
    assert max(read) <= 2 * len(DOMAINS), plans  # not BACKLOG_PER_DOMAIN of each
