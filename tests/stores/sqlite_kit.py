"""The embedded store under the contract suite, seeded by a plain SQLite client."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaign_runner.stores.sqlite import SqliteStore

from .kits import Kit, Seeder, statement


class SqliteSeeder(Seeder):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row

    def execute(self, name: str, params: dict[str, Any]) -> None:
        self._db.execute(statement(self.dialect, name), params)

    def fetch(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        row = self._db.execute(statement(self.dialect, name), params).fetchone()
        return None if row is None else dict(row)

    def close(self) -> None:
        self._db.close()


def sqlite_kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    path = request.getfixturevalue("tmp_path") / "queue.db"
    store = SqliteStore(path)
    seed = SqliteSeeder(path)
    try:
        yield Kit("sqlite", store, seed)
    finally:
        seed.close()
        store.close()
