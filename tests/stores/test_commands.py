"""`migrate`, `check` and the worker's start on each kind of store. On a Postgres
that is not ready: one clear line, the migration to apply or the reason it cannot
connect, never a traceback or a password.

A bad DATABASE_URL is tried in a subprocess, where a traceback would show; the
rest call `cli.main` in this process, which is quicker.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from campaign_runner import cli as cli_module
from campaign_runner import sql
from campaign_runner.sql import schema
from campaign_runner.stores.sqlite import UPGRADE_FILES
from tests.fixtures.embedded import embedded_env
from tests.fixtures.postgres import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ", ".join(m.file for m in schema.migrations())
Capture = pytest.CaptureFixture[str]


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign_runner", *args],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            **embedded_env(tmp_path, SENDER="outbox", **env),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **env: str) -> int:
    for name, value in embedded_env(tmp_path, SENDER="outbox", **env).items():
        monkeypatch.setenv(name, value)
    # `main` points structlog at this test's captured stderr, which closes with the
    # test: put back what was there, or later tests would log into a closed file.
    saved = structlog.get_config()
    try:
        return cli_module.main(["--env-file", str(tmp_path / "absent.env"), *args])
    finally:
        structlog.configure(**saved)


def test_worker_on_an_unmigrated_database_names_the_migrations_and_stops(
    pg_fresh_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    code = main(monkeypatch, tmp_path, "--once", DATABASE_URL=pg_fresh_dsn)

    assert code != 0
    (line,) = capsys.readouterr().err.splitlines()
    assert "run `campaign-runner migrate`" in line and MIGRATIONS in line
    assert not (tmp_path / "outbox").exists()


def test_check_on_an_unmigrated_database_names_the_migrations(
    pg_fresh_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    code = main(monkeypatch, tmp_path, "check", DATABASE_URL=pg_fresh_dsn)

    assert code == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("ok       store: postgres at postgres@127.0.0.1")
    assert lines[1] == (
        f"PROBLEM  schema: version 0, this build needs {schema.latest()}: "
        f"run `campaign-runner migrate` to apply {MIGRATIONS}"
    )
    assert "PROBLEM  schema: missing tables cr_schema_migrations, campaigns" in lines[2]
    assert err == ""


def test_migrate_then_check_from_the_command_line(
    pg_fresh_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    outputs = []
    for command in ("migrate", "migrate", "check"):
        assert main(monkeypatch, tmp_path, command, DATABASE_URL=pg_fresh_dsn) == 0
        outputs.append(capsys.readouterr().out)
    first, again, checked = outputs

    applied = [f"applied {m.file}" for m in schema.migrations()]
    assert first.splitlines()[: len(applied)] == applied
    assert again.strip().endswith(f"schema at version {schema.latest()}, nothing to apply")
    assert f"ok       schema: version {schema.latest()}" in checked


def test_a_wrong_password_gives_one_line_without_the_password(
    pg_password_server: Server, tmp_path: Path
) -> None:
    wrong = "Wr0ng-Passw0rd-x"
    url = Server(pg_password_server.host, pg_password_server.port, password=wrong).dsn()

    worker = cli(tmp_path, "--once", DATABASE_URL=url)
    checked = cli(tmp_path, "check", DATABASE_URL=url)

    assert worker.returncode == 1 and worker.stdout == ""
    (line,) = worker.stderr.splitlines()
    assert "password authentication failed" in line and "postgres@127.0.0.1" in line
    assert checked.returncode == 1
    assert "password authentication failed" in checked.stdout.splitlines()[0]
    for output in (worker.stdout, worker.stderr, checked.stdout, checked.stderr):
        assert wrong not in output and "Traceback" not in output


def test_the_right_password_never_shows_either(pg_password_server: Server, tmp_path: Path) -> None:
    result = cli(tmp_path, "--once", DATABASE_URL=pg_password_server.dsn())

    assert result.returncode == 2  # reachable, but not migrated
    (line,) = result.stderr.splitlines()
    assert "schema version 0" in line
    assert pg_password_server.password not in result.stdout + result.stderr


def test_a_host_with_no_database_gives_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://postgres:Secret-Pw-123@127.0.0.1:{free_port()}/postgres"

    result = cli(tmp_path, "--once", DATABASE_URL=url)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("campaign-runner: store unavailable: cannot connect to Postgres")
    assert "Connection refused" in line
    assert "Secret-Pw-123" not in line and "Traceback" not in result.stderr


def test_check_on_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    code = main(monkeypatch, tmp_path, "check")

    assert code == 0
    store, sender, generator, unsubscribe = capsys.readouterr().out.splitlines()
    assert unsubscribe.startswith("ok       unsubscribe: warning: mailto: only")
    assert store == (
        f"ok       store: sqlite at {tmp_path / 'queue.db'}, reachable; "
        "its schema is created on first use"
    )
    assert sender.startswith("ok       sender: outbox") and "no key needed" in sender
    assert generator.startswith("ok       generator: template")


def test_migrate_creates_the_embedded_store_and_then_has_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    outputs = []
    for _ in range(2):
        assert main(monkeypatch, tmp_path, "migrate") == 0
        outputs.append(capsys.readouterr().out)

    where = f"sqlite at {tmp_path / 'queue.db'}"
    assert outputs == [
        f"{where}: created the schema\n",
        f"{where}: schema up to date, nothing to apply\n",
    ]
    with sqlite3.connect(tmp_path / "queue.db") as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master")}
    db.close()
    assert {"campaigns", "email_queue", "suppressions", "domain_pacing"} <= tables


def test_migrate_upgrades_an_embedded_store_of_an_older_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.executescript(sql.read("sqlite/schema.sql"))  # the first schema, no upgrades
    db.close()

    assert main(monkeypatch, tmp_path, "migrate") == 0

    first = sqlite3.connect(":memory:")
    first.executescript(sql.read("sqlite/schema.sql"))
    added = [  # every column of the upgrade files the first schema lacks, in their order
        f"{table}.{column}"
        for file in UPGRADE_FILES
        for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", sql.read(file))
        if column not in {row[1] for row in first.execute(f"PRAGMA table_info({table})")}
    ]
    first.close()
    assert capsys.readouterr().out == (
        f"sqlite at {tmp_path / 'queue.db'}: upgraded the schema (added {', '.join(added)})\n"
    )
