"""The store contract suite runs once per entry of `FACTORIES`: a new store is one
factory module and one line here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .kits import Factory, Kit
from .postgres_kit import postgres_kit
from .sqlite_kit import sqlite_kit
from .supabase_kit import supabase_kit

FACTORIES: dict[str, Factory] = {
    "sqlite": sqlite_kit,
    "postgres": postgres_kit,
    "supabase": supabase_kit,
}


@pytest.fixture(params=list(FACTORIES))
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    yield from FACTORIES[request.param](request)
