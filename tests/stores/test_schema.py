"""Store contract: every store says which schema it is at and what it lacks, the
questions `check` and the worker's start ask of it. And the one declaration of the
calls of the Postgres family names functions the migrations really create."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from campaign_runner import check, migrate
from campaign_runner.config import Config
from campaign_runner.sql import schema
from campaign_runner.stores.functions import calls
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.stores.supabase import SupabaseStore
from tests.fakes.postgrest import FakePostgrest

from .kits import Kit
from .postgres_kit import execute
from .supabase_kit import SERVICE_ROLE_KEY


def test_a_ready_store_lacks_nothing(kit: Kit) -> None:
    version = kit.store.schema_version()

    assert version == (None if kit.name == "sqlite" else schema.latest())
    assert kit.store.missing() == []
    assert schema.require_schema(kit.store) is kit.store


def test_each_declared_call_is_a_function_of_the_migrated_schema(pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        for method, call in calls().items():
            signature = f"{call.function}({', '.join(kind for _, kind in call.parameters)})"
            (found,) = conn.execute("select to_regprocedure(%s)", [signature]).fetchone() or ()
            assert found is not None, f"{method}: no function {signature}"


def test_a_store_method_passing_other_parameters_than_declared_is_a_bug() -> None:
    with pytest.raises(TypeError, match=r"cr_finish_v2 takes \[.p_id., "):
        calls()["finish"].check({"p_id": "x"})


def test_the_supabase_store_names_what_the_schema_lacks(
    pg_fresh_dsn: str, make_config: Callable[..., Config]
) -> None:
    migrate.apply(pg_fresh_dsn)
    execute(
        pg_fresh_dsn, "alter table email_queue drop column prompt_tokens; drop function cr_finish"
    )
    with FakePostgrest(pg_fresh_dsn, SERVICE_ROLE_KEY) as server:
        remote = SupabaseStore(server.url, SERVICE_ROLE_KEY)
        try:
            assert remote.schema_version() == schema.latest()
            assert remote.missing() == [
                "missing column email_queue.prompt_tokens, added by 0001_schema.sql",
                "missing function cr_finish, added by 0002_functions.sql",
            ]
        finally:
            remote.close()


def test_the_supabase_store_on_an_empty_database_lacks_every_table(pg_fresh_dsn: str) -> None:
    with FakePostgrest(pg_fresh_dsn, SERVICE_ROLE_KEY) as server:
        remote = SupabaseStore(server.url, SERVICE_ROLE_KEY)
        try:
            assert remote.schema_version() == 0
            lacking = remote.missing()
        finally:
            remote.close()
    assert lacking[0] == (
        "missing tables cr_schema_migrations, campaigns, email_queue, suppressions, "
        "domain_pacing, added by 0001_schema.sql"
    )


def test_the_sqlite_store_names_a_column_its_file_lost(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("alter table email_queue drop column prompt_tokens")
    db.close()
    store = SqliteStore(path)
    try:
        assert store.missing() == [
            "missing column email_queue.prompt_tokens, added by sqlite/schema.sql"
        ]
    finally:
        store.close()


def test_check_asks_the_supabase_store_the_same_questions(
    pg_fresh_dsn: str, make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    with FakePostgrest(pg_fresh_dsn, SERVICE_ROLE_KEY) as server:
        config = make_config(
            SUPABASE_URL=server.url, SUPABASE_SERVICE_ROLE_KEY=SERVICE_ROLE_KEY, SENDER="outbox"
        )
        assert check.main(config) == 1
        before = capsys.readouterr().out.splitlines()
        migrate.apply(pg_fresh_dsn)
        assert check.main(config) == 0
        after = capsys.readouterr().out.splitlines()

    assert before[:2] == [
        f"ok       store: supabase at {server.url}, reachable",
        f"PROBLEM  schema: version 0, this build needs {schema.latest()}: {schema.behind(0)}",
    ]
    assert before[2].startswith("PROBLEM  schema: missing tables cr_schema_migrations")
    assert after[:2] == [
        f"ok       store: supabase at {server.url}, reachable",
        f"ok       schema: version {schema.latest()}",
    ]
