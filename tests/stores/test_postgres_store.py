"""What only the postgres store itself decides: its connection and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from campaign_runner.errors import RowError, StoreUnavailable
from campaign_runner.models import Content
from campaign_runner.ports import Pacing
from campaign_runner.stores.postgres import PostgresStore

from .kits import T0, Seeder
from .postgres_kit import PostgresSeeder, run


@pytest.fixture
def seed(pg_db: str) -> Iterator[Seeder]:
    seeder = PostgresSeeder(pg_db)
    yield seeder
    seeder.close()


def test_a_dropped_connection_fails_one_call_and_the_next_reconnects(
    pg_db: str, seed: Seeder
) -> None:
    store = PostgresStore(pg_db)
    seed.email(seed.campaign())
    assert store.status(T0) != []

    assert run(pg_db, "terminate_store_connections") == {"terminated": 1}
    with pytest.raises(StoreUnavailable, match=r"^Postgres at postgres@127\.0\.0\.1:\d+/cr_test_"):
        store.status(T0)
    assert len(store.claim("w", 5, T0, Pacing())) == 1
    store.close()


def test_text_the_database_cannot_store_fails_the_row_not_the_store(
    pg_db: str, seed: Seeder
) -> None:
    store = PostgresStore(pg_db)
    seed.email(seed.campaign(), subject="Stored")
    (email,) = store.claim("w", 5, T0, Pacing())

    with pytest.raises(RowError, match="refused this row"):
        store.start_send(email, "w", Content("Generated", "NUL \x00 inside", model="m"), T0)

    row = seed.email_row(email.id)
    assert (row["subject"], row["send_started_at"]) == ("Stored", None)
    store.close()
