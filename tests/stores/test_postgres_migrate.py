"""`migrate` and `check` against a real Postgres: additive, idempotent, and precise
about what is missing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from campaign_runner import check, config, migrate
from campaign_runner.ports import Pacing
from campaign_runner.sql import schema
from campaign_runner.stores.postgres import PostgresStore
from tests.fixtures.embedded import embedded_env

from .kits import T0
from .postgres_kit import execute, run

ROOT = Path(__file__).resolve().parents[2]


def test_migrate_applies_every_file_once_and_a_second_run_changes_nothing(
    pg_fresh_dsn: str,
) -> None:
    first = migrate.apply(pg_fresh_dsn)
    before = run(pg_fresh_dsn, "schema_snapshot")

    second = migrate.apply(pg_fresh_dsn)

    assert [m.file for m in first] == [m.file for m in schema.migrations()]
    assert second == []
    assert run(pg_fresh_dsn, "schema_snapshot") == before
    assert PostgresStore(pg_fresh_dsn).schema_version() == schema.latest()


def test_migrate_keeps_a_frontends_tables_columns_and_rows(pg_fresh_dsn: str) -> None:
    run(pg_fresh_dsn, "frontend_tables")

    migrate.apply(pg_fresh_dsn)

    row = run(pg_fresh_dsn, "frontend_row")
    assert row is not None
    assert str(row["owner_id"]) == "00000000-0000-4000-8000-0000000000aa"
    assert (row["opened_at"], row["attempts"], row["metadata"]) == (None, 0, {})
    store = PostgresStore(pg_fresh_dsn)
    (email,) = store.claim("w", 5, T0, Pacing())
    store.close()
    assert email.id == "00000000-0000-4000-8000-00000000000e"
    assert email.campaign is not None and email.campaign.body_template == "Hi there"


def test_the_supabase_cli_finds_the_same_files() -> None:
    link = ROOT / "supabase" / "migrations"

    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == (ROOT / "campaign_runner" / "sql" / "migrations").resolve()
    assert sorted(p.name for p in link.iterdir()) == [m.file for m in schema.migrations()]


def test_check_names_the_migration_behind_each_missing_part(
    pg_fresh_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.apply(pg_fresh_dsn)
    execute(pg_fresh_dsn, "alter table email_queue drop column prompt_tokens")
    execute(pg_fresh_dsn, "drop function cr_finish")
    cfg = config.load(
        environ=embedded_env(tmp_path, DATABASE_URL=pg_fresh_dsn, SENDER="outbox"), env_file=None
    )

    assert check.main(cfg) == 1

    out = capsys.readouterr().out
    assert f"ok       schema: version {schema.latest()}\n" in out
    assert (
        "PROBLEM  schema: missing column email_queue.prompt_tokens, added by 0001_schema.sql" in out
    )
    assert "PROBLEM  schema: missing function cr_finish, added by 0002_functions.sql" in out


def test_check_passes_on_a_migrated_database(
    pg_fresh_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.apply(pg_fresh_dsn)
    cfg = config.load(
        environ=embedded_env(tmp_path, DATABASE_URL=pg_fresh_dsn, SENDER="outbox"), env_file=None
    )

    assert check.main(cfg) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * 5
    assert "reachable" in lines[0] and "sender: outbox" in lines[2] and "generator" in lines[3]
    assert "unsubscribe: warning" in lines[4]  # a warning, not a problem


def test_0004_applies_over_version_3_and_applied_again_by_hand_changes_nothing(
    pg_fresh_dsn: str,
) -> None:
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for migration in schema.migrations()[:3]:
            conn.execute(migration.text)

    assert [m.file for m in migrate.apply(pg_fresh_dsn)] == [
        m.file for m in schema.migrations()[3:]
    ]
    before = run(pg_fresh_dsn, "schema_snapshot")
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for migration in schema.migrations()[3:]:  # 0005 replaces some of 0004's functions
            conn.execute(migration.text)

    assert run(pg_fresh_dsn, "schema_snapshot") == before
