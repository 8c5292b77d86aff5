"""The supabase store under the contract suite: supabase-py over real HTTP to the
loopback PostgREST of `tests/fakes/postgrest.py`, which runs every RPC as the real
function on the session's migrated database. Seeded with psycopg, as the postgres
kit is: behind the loopback server is the same database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from campaign_runner.stores.supabase import SupabaseStore
from tests.fakes.postgrest import FakePostgrest

from .kits import Kit
from .postgres_kit import PostgresSeeder

SERVICE_ROLE_KEY = "sb-service-role-test-4f1e9c2a7d"


def supabase_kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    dsn = request.getfixturevalue("pg_db")
    with FakePostgrest(dsn, SERVICE_ROLE_KEY) as server:
        store = SupabaseStore(server.url, SERVICE_ROLE_KEY)
        seed = PostgresSeeder(dsn)
        try:
            yield Kit("supabase", store, seed)
        finally:
            seed.close()
            store.close()
