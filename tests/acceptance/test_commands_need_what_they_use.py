"""The README's deploy steps against Postgres with only DATABASE_URL set: the commands
that send nothing start without a sending key; the ones that send refuse, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from tests.fixtures.embedded import ALWAYS_OPEN

ROOT = Path(__file__).resolve().parents[2]
REFUSAL = (
    "campaign-runner: SPARKPOST_API_KEY is empty: the postgres store sends real campaigns; "
    "set SPARKPOST_API_KEY, or SENDER=outbox to write .eml files on purpose"
)


def command(cwd: Path, dsn: str, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
    """`campaign-runner ARGS` with DATABASE_URL and nothing else of ours in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "campaign_runner", *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "DATABASE_URL": dsn, **more},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def plant(dsn: str) -> tuple[str, str, str]:
    """A scheduled campaign with one due row and one failed row, as a frontend would."""
    campaign, due, failed = (str(uuid.uuid4()) for _ in range(3))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into campaigns (id, name, status, subject, body_template, from_name) "
            "values (%s, 'Spring', 'scheduled', 'Hello {{ first_name }}', 'Hi {{ first_name }}.', "
            "'Fund Team')",
            [campaign],
        )
        for email_id, status in ((due, "queued"), (failed, "failed")):
            conn.execute(
                "insert into email_queue (id, campaign_id, to_email, from_email, status, "
                "scheduled_for, metadata, error) values (%s, %s, 'ana@example.org', "
                "'outreach@send1.example.com', %s, now() - interval '1 minute', "
                """'{"first_name": "Ana"}', %s)""",
                [
                    email_id,
                    campaign,
                    status,
                    "rejected: mailbox unavailable" if status == "failed" else None,
                ],
            )
    return campaign, due, failed


def statuses(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {str(i): s for i, s in conn.execute("select id, status from email_queue")}


def test_only_the_commands_that_send_need_a_sending_key(pg_fresh_dsn: str, tmp_path: Path) -> None:
    dsn = pg_fresh_dsn

    migrate = command(tmp_path, dsn, "migrate")
    assert migrate.returncode == 0, migrate.stderr
    assert "applied 0001_schema.sql" in migrate.stdout

    check = command(tmp_path, dsn, "check")
    assert (check.returncode, check.stderr) == (1, "")
    problems = [line for line in check.stdout.splitlines() if line.startswith("PROBLEM")]
    assert problems == ["PROBLEM  sender: outbox: " + REFUSAL.removeprefix("campaign-runner: ")]

    campaign, due, failed = plant(dsn)
    status = command(tmp_path, dsn, "status")
    assert status.returncode == 0, status.stderr
    assert "Spring" in status.stdout

    dry_run = command(tmp_path, dsn, "--dry-run")
    assert dry_run.returncode == 0, dry_run.stderr
    assert f"{due}  ana@example.org  would send 'Hello Ana' to ana@example.org" in dry_run.stdout

    for sending in (["--once"], [], ["run"]):
        refused = command(tmp_path, dsn, *sending, **ALWAYS_OPEN)
        assert refused.returncode == 2
        assert refused.stderr.splitlines() == [REFUSAL]
    assert statuses(dsn) == {due: "queued", failed: "failed"}  # nothing claimed, nothing sent

    retry = command(tmp_path, dsn, "retry-failed", campaign)
    assert retry.returncode == 0, retry.stderr
    assert statuses(dsn) == {due: "queued", failed: "queued"}

    # The refusal is the guard and nothing else: with the outbox chosen on purpose, it sends.
    once = command(
        tmp_path, dsn, "--once", SENDER="outbox", DOMAIN_MIN_INTERVAL_SECONDS="0", **ALWAYS_OPEN
    )
    assert once.returncode == 0, once.stderr
    assert statuses(dsn) == {due: "sent", failed: "sent"}
    assert (tmp_path / "campaign-runner.heartbeat").is_file()
