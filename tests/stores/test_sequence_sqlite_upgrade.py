"""An embedded store made before the `stopped` failure kind takes it after opening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from campaign_runner import sql
from campaign_runner.stores.sqlite import SqliteStore


def test_an_older_files_failure_kind_check_learns_stopped(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    old = sql.read("sqlite/schema.sql").replace(", 'stopped'", "")
    assert "'stopped'" not in old
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute(
            "INSERT INTO email_queue (id, campaign_id, failure_kind) VALUES ('e1', 'c', 'content')"
        )
    db.close()

    store = SqliteStore(path)
    assert "email_queue.failure_kind: stopped" in store.added
    store.close()
    assert "email_queue.failure_kind: stopped" not in SqliteStore(path).added  # once

    with sqlite3.connect(path) as db:
        db.execute("UPDATE email_queue SET failure_kind = 'stopped' WHERE id = 'e1'")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        try:
            db.execute("UPDATE email_queue SET failure_kind = 'nonsense' WHERE id = 'e1'")
            raise AssertionError("the CHECK must still refuse unknown kinds")
        except sqlite3.IntegrityError:
            pass
    db.close()
