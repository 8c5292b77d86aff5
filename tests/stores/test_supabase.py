"""The supabase store over real HTTP, where it differs from the postgres store: the
connection drops of supabase-py issue 1064, a lost answer, and how each failure of
the server or the database reaches the worker (and never with the key in it).

The contract suite covers what it shares with the other stores."""

from __future__ import annotations

import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from structlog.testing import capture_logs
from supabase import create_client

from campaign_runner.adapters import build_pipeline, open_store
from campaign_runner.config import Config
from campaign_runner.errors import RowError, StoreUnavailable
from campaign_runner.models import Content, Email, Outcome
from campaign_runner.ports import Pacing
from campaign_runner.sql.schema import SchemaBehind, latest
from campaign_runner.stores.functions import calls
from campaign_runner.stores.supabase import SupabaseStore
from tests.fakes.postgrest import FakePostgrest

from .kits import DUE, T0, statement
from .postgres_kit import PostgresSeeder
from .supabase_kit import SERVICE_ROLE_KEY as KEY

WORKER = "worker-a"
LEASE = 900


@pytest.fixture
def server(pg_db: str) -> Iterator[FakePostgrest]:
    with FakePostgrest(pg_db, KEY) as fake:
        yield fake


@pytest.fixture
def seed(pg_db: str) -> Iterator[PostgresSeeder]:
    seeder = PostgresSeeder(pg_db)
    yield seeder
    seeder.close()


@pytest.fixture
def store(server: FakePostgrest) -> Iterator[SupabaseStore]:
    remote = SupabaseStore(server.url, KEY)
    yield remote
    remote.close()


def dropped(server: FakePostgrest) -> list[str]:
    return [call.function for call in server.calls if call.dropped == "request"]


def an_email(email_id: str) -> Email:
    return Email(email_id, "c", "a@example.org", None, "n@acme.test", "s", "b", {}, 1, T0, None)


# -- idle connections (supabase-py issue 1064) ----------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # supabase-py's own defaults
def test_a_plain_supabase_client_fails_on_a_connection_the_server_dropped(
    server: FakePostgrest,
) -> None:
    """The failure the store must survive, reproduced: supabase-py's own client."""
    client = create_client(server.url, KEY)
    client.rpc("cr_status", {}).execute()
    server.expire_idle_connections()

    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected"):
        client.rpc("cr_status", {}).execute()


def test_cycles_run_on_through_connections_dropped_between_them(
    server: FakePostgrest,
    store: SupabaseStore,
    seed: PostgresSeeder,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    campaign = seed.campaign()
    ids = [seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i)) for i in range(8)]
    # Four threads leave up to four idle connections, every one of them dropped.
    pipeline = build_pipeline(make_config(BATCH_SIZE="2", CONCURRENCY="4"), store, lambda: T0)
    try:
        with capture_logs() as logged:
            reports = []
            for _ in range(5):
                server.expire_idle_connections()
                reports.append(pipeline.run_cycle())
    finally:
        pipeline.close()

    assert [r.systemic for r in reports] == [None] * 5
    assert [e for e in logged if e["log_level"] in ("warning", "error")] == []
    assert [r.outcomes["sent"] for r in reports] == [2, 2, 2, 2, 0]
    assert [seed.email_row(i)["status"] for i in ids] == ["sent"] * 8
    assert sorted(p.stem for p in (tmp_path / "outbox").glob("*.eml")) == sorted(ids)
    assert seed.campaign_row(campaign)["status"] == "completed"
    # Every cycle after the first began on a connection the server had dropped.
    assert dropped(server).count("cr_recover_stale") >= 4


def test_idle_connections_are_not_kept_past_the_keepalive(pg_db: str) -> None:
    with FakePostgrest(pg_db, KEY, idle_timeout=0.5) as server:
        brief = SupabaseStore(server.url, KEY, keepalive_seconds=0.05)
        try:
            brief.status(T0)
            time.sleep(0.6)  # longer than both: the server drops the connection
            brief.status(T0)
        finally:
            brief.close()

    assert dropped(server) == []  # it never offered the server a stale connection
    assert [call.connection for call in server.calls] == [1, 2]


def test_a_claim_whose_answer_was_lost_is_repeated_and_its_rows_recovered(
    server: FakePostgrest, store: SupabaseStore, seed: PostgresSeeder
) -> None:
    campaign = seed.campaign()
    ids = [seed.email(campaign, scheduled_for=DUE + timedelta(seconds=i)) for i in range(4)]
    store.status(T0)  # a connection to reuse
    server.lose_next_answer("cr_claim_v2")

    claimed = store.claim(WORKER, 2, T0, Pacing())

    assert [call.dropped for call in server.calls_of("cr_claim_v2")] == ["answer", None]
    assert [e.id for e in claimed] == ids[2:]
    # The lost batch was claimed but nobody works on it: nothing was sent, so once
    # its lease runs out it is queued again, its attempt counted. No row is lost.
    for email in claimed:
        assert store.finish(email, WORKER, Outcome("sent", provider_message_id="p"), T0)
    assert store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1)) == Counter(queued=2)
    assert [(seed.email_row(i)["status"], seed.email_row(i)["attempts"]) for i in ids] == [
        ("queued", 1),
        ("queued", 1),
        ("sent", 1),
        ("sent", 1),
    ]


def test_a_call_that_fails_on_a_new_connection_is_not_repeated(
    server: FakePostgrest, store: SupabaseStore
) -> None:
    status = calls()["status"].function
    server.lose_next_answer(status)

    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.status(T0)

    assert len(server.calls_of(status)) == 1


# -- failures as the worker sees them -------------------------------------------


def test_database_down_is_store_unavailable(server: FakePostgrest, store: SupabaseStore) -> None:
    server.dsn = "postgresql://postgres@127.0.0.1:1/none"  # nothing listens on port 1

    with pytest.raises(StoreUnavailable, match="PGRST000") as caught:
        store.claim(WORKER, 10, T0, Pacing())

    assert server.calls_of("cr_claim_v2")[0].status == 503
    assert_no_key(caught.value)


def test_server_refusing_connections_is_store_unavailable(pg_db: str) -> None:
    server = FakePostgrest(pg_db, KEY)
    remote = SupabaseStore(server.url, KEY)
    server.close()
    try:
        with pytest.raises(StoreUnavailable, match="unreachable") as caught:
            remote.roll_up(T0)
    finally:
        remote.close()
    assert_no_key(caught.value)


def test_a_wrong_key_is_refused_by_name_without_showing_it(server: FakePostgrest) -> None:
    wrong = "sb-wrong-key-0b7e5d"
    remote = SupabaseStore(server.url, wrong)
    try:
        with pytest.raises(StoreUnavailable, match="SUPABASE_SERVICE_ROLE_KEY") as caught:
            remote.status(T0)
    finally:
        remote.close()
    assert server.calls_of(calls()["status"].function)[0].status == 401
    assert wrong not in describe(caught.value)


def test_a_key_echoed_back_by_the_server_is_kept_out_of_the_error(pg_fresh_dsn: str) -> None:
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as db:
        db.execute(statement("supabase", "leaky_status"))
    with FakePostgrest(pg_fresh_dsn, KEY) as server:
        remote = SupabaseStore(server.url, KEY)
        try:
            with pytest.raises(StoreUnavailable, match="P0001") as caught:
                remote.status(T0)
        finally:
            remote.close()
    assert "[SUPABASE_SERVICE_ROLE_KEY]" in str(caught.value)  # it was there, and redacted
    assert_no_key(caught.value)


def test_a_database_without_the_migration_names_it(
    pg_fresh_dsn: str, make_config: Callable[..., Config]
) -> None:
    with FakePostgrest(pg_fresh_dsn, KEY) as server:
        remote = SupabaseStore(server.url, KEY)
        try:
            behind = re.escape("0011_sequence_windows.sql")  # where the claim called comes from
            with pytest.raises(StoreUnavailable, match=behind) as missing:
                remote.claim(WORKER, 10, T0, Pacing())
            assert remote.schema_version() == 0
        finally:
            remote.close()
        config = supabase_config(make_config, server)
        with pytest.raises(SchemaBehind, match=re.escape("0001_schema.sql, 0002_functions.sql")):
            open_store(config)
    assert "cr_claim_v2" in str(missing.value)
    assert server.calls_of("cr_claim_v2")[0].status == 404
    assert_no_key(missing.value)


def test_open_store_picks_supabase_from_the_config(
    server: FakePostgrest, make_config: Callable[..., Config]
) -> None:
    remote = open_store(supabase_config(make_config, server))
    try:
        assert isinstance(remote, SupabaseStore)
        assert remote.schema_version() == latest()
    finally:
        remote.close()


def test_values_postgres_refuses_fail_the_row_only_where_a_row_can_fail(
    store: SupabaseStore, seed: PostgresSeeder
) -> None:
    seed.email(seed.campaign())
    (email,) = store.claim(WORKER, 1, T0, Pacing())

    # A NUL byte, say from an LLM: Postgres text cannot hold it (22P05).
    with pytest.raises(RowError, match="22P05"):
        store.start_send(email, WORKER, Content("Hi", "a\x00b", model="m"), T0)
    # Not about one row: a claim or a finish refused is the database's problem.
    with pytest.raises(StoreUnavailable, match="22P02"):
        store.finish(an_email("not-a-uuid"), WORKER, Outcome("sent"), T0)
    assert seed.email_row(email.id)["send_started_at"] is None


# -- helpers --------------------------------------------------------------------


def supabase_config(make_config: Callable[..., Config], server: FakePostgrest) -> Config:
    config = make_config(SUPABASE_URL=server.url, SUPABASE_SERVICE_ROLE_KEY=KEY, SENDER="outbox")
    assert config.store == "supabase"
    return config


def describe(exc: BaseException) -> str:
    """Everything a log line or a crash could show of an error."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


def assert_no_key(exc: BaseException) -> None:
    assert KEY not in describe(exc)
