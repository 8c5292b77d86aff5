"""The README's "Putting work in" SQL, as typed, on a fresh store of each kind: the
`sql` blocks are read from README.md itself, so an edit that breaks them fails here.
`migrate` makes the schema, the snippets go in with the store's own client, and a
real `--once` subprocess sends the row into the outbox."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.MULTILINE | re.DOTALL)
ROWS = "select id, status from email_queue"


def snippets() -> list[str]:
    found = SQL_BLOCK.findall((ROOT / "README.md").read_text("utf-8"))
    assert found, "README.md has no ```sql block"
    return found


def campaign_runner(tmp_path: Path, database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "campaign_runner", *args],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url,
            "SENDER": "outbox",
            "GENERATOR": "template",
            "WORK_START_HOUR": "0",
            "WORK_END_HOUR": "24",
            "WORK_DAYS": "all",
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "LOG_FORMAT": "json",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def assert_sent(tmp_path: Path, rows: list[tuple[object, str]]) -> None:
    assert rows and [status for _, status in rows] == ["sent"] * len(rows)
    assert sorted(p.stem for p in (tmp_path / "outbox").glob("*.eml")) == sorted(
        str(row_id) for row_id, _ in rows
    )


def test_the_readme_snippets_run_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "campaign-runner.db"
    url = f"sqlite:///{path}"

    assert "created the schema" in campaign_runner(tmp_path, url, "migrate")
    with sqlite3.connect(path) as db:
        for snippet in snippets():
            db.executescript(snippet)
    db.close()
    campaign_runner(tmp_path, url, "--once")

    with sqlite3.connect(path) as db:
        rows = db.execute(ROWS).fetchall()
    db.close()
    assert_sent(tmp_path, rows)


def test_the_readme_snippets_run_on_a_fresh_postgres_database(
    tmp_path: Path, pg_fresh_dsn: str
) -> None:
    assert "schema at version" in campaign_runner(tmp_path, pg_fresh_dsn, "migrate")
    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        for snippet in snippets():
            conn.execute(snippet)
    campaign_runner(tmp_path, pg_fresh_dsn, "--once")

    with psycopg.connect(pg_fresh_dsn, autocommit=True) as conn:
        rows = conn.execute(ROWS).fetchall()
    assert_sent(tmp_path, rows)
