"""What only the Postgres family does when putting work in: recipients from a
frontend's own tables, and a launch planned on a basis that changed before it was
written (planned again, never written stale)."""

from __future__ import annotations

from datetime import timedelta

from campaign_runner import migrate
from campaign_runner.intake import launch
from campaign_runner.intake.contacts import Contact
from campaign_runner.intake.launch import Assignment, Basis
from campaign_runner.stores.postgres import PostgresStore

from .kits import T0
from .postgres_kit import PostgresSeeder, execute, run
from .test_intake import COLUMNS, FROZEN, NO_SCHEDULE, RULES


def with_recipients(store: PostgresStore, dsn: str, campaign: str) -> None:
    """A frontend's contacts, all of them the campaign's recipients, and one imported
    contact whose address one of them has too."""
    run(dsn, "frontend_recipients")
    execute(
        dsn, "insert into campaign_recipients select %(id)s::uuid, id from contacts", id=campaign
    )
    store.import_contacts(
        campaign, [Contact(2, "imported@example.com", "Imp", {"first_name": "Imp"})], T0
    )


def test_stage_takes_a_frontends_recipients_and_every_column_of_their_contacts(
    pg_fresh_dsn: str,
) -> None:
    migrate.apply(pg_fresh_dsn)
    store = PostgresStore(pg_fresh_dsn)
    try:
        campaign = store.apply_campaign("spring", COLUMNS, FROZEN, T0).campaign_id
        with_recipients(store, pg_fresh_dsn, campaign)

        staged = store.stage_campaign(campaign, T0)
        again = store.stage_campaign(campaign, T0)
    finally:
        store.close()

    assert (staged.staged, again.staged) == (3, 0)
    ana = execute(
        pg_fresh_dsn,
        "select to_name, metadata, status from email_queue where to_email = 'ana@example.org'",
    )
    assert ana == {
        "to_name": "Ana Ruiz",
        "metadata": {
            "first_name": "Ana",
            "last_name": "Ruiz",
            "company": "Ruiz & Co",
            "city": "Lisbon",
        },
        "status": "staged",
    }
    imported = execute(
        pg_fresh_dsn,
        "select count(*) as n, min(to_name) as to_name from email_queue "
        "where to_email = 'imported@example.com'",
    )
    assert imported == {"n": 1, "to_name": "Imp"}  # the imported contact wins, once


def test_a_launch_whose_basis_changed_before_the_write_is_planned_again(pg_db: str) -> None:
    store = PostgresStore(pg_db)
    seed = PostgresSeeder(pg_db)
    seed.execute("empty_intake", {})
    try:
        store.add_sending_domain("sam@one.example.com", None, T0)
        campaign = store.apply_campaign("k", {**COLUMNS, **NO_SCHEDULE}, FROZEN, T0).campaign_id
        store.import_contacts(campaign, [Contact(2, "a@example.org", None, {})], T0)
        store.stage_campaign(campaign, T0)
        other = seed.campaign("scheduled")
        bases: list[Basis] = []

        def planner(basis: Basis) -> list[Assignment]:
            if not bases:  # another launch queues a row on the domain meanwhile
                seed.email(
                    other, from_email="x@one.example.com", scheduled_for=T0 + timedelta(hours=2)
                )
            bases.append(basis)
            return launch.plan(basis, RULES, T0)

        launched = store.launch_campaign(campaign, planner, T0)
    finally:
        seed.close()
        store.close()

    assert len(bases) == 2
    assert launched.queued == 1
    assert launched.first == T0 + timedelta(hours=2, minutes=1)


def test_a_sequence_campaigns_stage_makes_a_frontends_recipients_leads(
    pg_fresh_dsn: str,
) -> None:
    migrate.apply(pg_fresh_dsn)
    store = PostgresStore(pg_fresh_dsn)
    try:
        campaign = store.apply_campaign("spring", COLUMNS, FROZEN, T0).campaign_id
        step = {
            "step_number": 1,
            "delay_days": 0,
            "delay_hours": 0,
            "variant_split": 50,
            "use_ai_generation": False,
        }
        store.put_steps(campaign, False, [{**step, "variant_a_body": "Hi"}], T0)
        with_recipients(store, pg_fresh_dsn, campaign)
        execute(
            pg_fresh_dsn,
            "insert into suppressions (email, reason) values ('ben@example.net', 'tests')",
        )

        staged = store.stage_campaign(campaign, T0)
        again = store.stage_campaign(campaign, T0)
    finally:
        store.close()

    assert (staged.what, staged.staged, staged.suppressed, again.staged) == ("lead", 2, 1, 0)
    ana = execute(
        pg_fresh_dsn,
        "select contact_id::text, to_name, metadata, status from campaign_leads "
        "where to_email = 'ana@example.org'",
    )
    assert ana == {
        "contact_id": "00000000-0000-4000-8000-000000000001",
        "to_name": "Ana Ruiz",
        "metadata": {
            "first_name": "Ana",
            "last_name": "Ruiz",
            "company": "Ruiz & Co",
            "city": "Lisbon",
        },
        "status": "active",
    }
    imported = execute(
        pg_fresh_dsn,
        "select count(*) as n, min(to_name) as to_name, min(contact_id::text) as contact_id "
        "from campaign_leads where to_email = 'imported@example.com'",
    )
    assert imported == {"n": 1, "to_name": "Imp", "contact_id": None}  # the imported one wins
    rows = execute(pg_fresh_dsn, "select count(*) as n from email_queue where status = 'staged'")
    assert rows == {"n": 0}  # leads, not rows
