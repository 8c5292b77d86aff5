"""`campaign-runner --once` end to end on the embedded default, read back as a mail client would."""

from __future__ import annotations

import email
import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.embedded import campaign, email_row, embedded_env


def parse(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default_policy)  # type: ignore[return-value]


def test_once_sends_due_rows_into_eml_files(cli) -> None:
    store = SqliteStore(cli.path / "queue.db")
    camp = campaign(subject="Hello {{ first_name }}")
    good = [
        email_row(to_email="ana@example.org", to_name="Ana Ruiz"),
        email_row(
            to_email="ben@example.net",
            to_name="Ben Okafor",
            metadata={"first_name": "Ben", "company": "Okafor Labs"},
        ),
    ]
    later = email_row(scheduled_for=(datetime.now(UTC) + timedelta(hours=2)).isoformat())
    store.stage(camp, [*good, later])
    store.close()

    result = cli.run("--once")
    assert result.returncode == 0, result.stderr

    by_id = {r["id"]: r for r in cli.rows()}
    assert by_id[later["id"]]["status"] == "queued"
    for row in good:
        stored = by_id[row["id"]]
        assert stored["status"] == "sent"
        assert stored["send_started_at"] and stored["sent_at"]
        message = parse(cli.path / "outbox" / f"{row['id']}.eml")
        assert message["From"].addresses[0].addr_spec == "outreach@send1.example.com"
        assert message["From"].addresses[0].display_name == "Fund Team"
        assert message["To"].addresses[0].addr_spec == row["to_email"]
        assert message["To"].addresses[0].display_name == row["to_name"]
        assert message["Subject"] == f"Hello {row['metadata']['first_name']}"
        assert message["Message-ID"] == stored["provider_message_id"]
        assert message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert f"Hi {row['metadata']['first_name']}," in text
        assert f"<p>Hi {row['metadata']['first_name']},</p>" in html
        assert "Unsubscribe" in text and "Unsubscribe" in html
    # Only finished files are visible: no temporary files left behind.
    assert sorted(p.name for p in (cli.path / "outbox").iterdir()) == sorted(
        f"{r['id']}.eml" for r in good
    )
    # Rolled up, but not completed: one row is still queued for later.
    (camp_row,) = cli.rows("SELECT * FROM campaigns")
    assert (camp_row["status"], camp_row["sent_count"], camp_row["failed_count"]) == (
        "sending",
        2,
        0,
    )

    events = [json.loads(line) for line in result.stderr.splitlines()]
    outcomes = [e for e in events if e["event"] == "email"]
    assert {e["email_id"] for e in outcomes} == {r["id"] for r in good}
    assert all(e["status"] == "sent" and e["recipient_domain"] for e in outcomes)
    assert all({"campaign_id", "duration_ms", "error"} <= e.keys() for e in outcomes)
    (summary,) = [e for e in events if e["event"] == "cycle"]
    assert (summary["claimed"], summary["sent"], summary["failed"], summary["requeued"]) == (
        2,
        2,
        0,
        0,
    )


def test_hostile_rows_fail_alone_and_render_literally(cli) -> None:
    store = SqliteStore(cli.path / "queue.db")
    camp = campaign(subject="For {{ company }}")
    math = email_row(metadata={"first_name": "{{ 7*7 }}", "company": "A"})
    mro = email_row(
        to_email="b@example.org",
        metadata={"first_name": "{{ ''.__class__.__mro__ }}", "company": "B"},
    )
    injected_name = email_row(to_email="c@example.org", to_name="Carl\r\nBcc: someone@example.com")
    injected_subject = email_row(
        to_email="d@example.org", subject="Hi\r\nBcc: someone@example.com", body="Plain body."
    )
    no_address = email_row(to_email=None)
    bad_address = email_row(to_email="not-an-address")
    store.stage(camp, [math, mro, injected_name, injected_subject, no_address, bad_address])
    store.close()

    result = cli.run("--once")
    assert result.returncode == 0, result.stderr
    by_id = {r["id"]: r for r in cli.rows()}

    assert (
        "Hi {{ 7*7 }},"
        in parse(cli.path / "outbox" / f"{math['id']}.eml").get_body(("plain",)).get_content()
    )
    assert (
        "Hi {{ ''.__class__.__mro__ }},"
        in parse(cli.path / "outbox" / f"{mro['id']}.eml").get_body(("plain",)).get_content()
    )
    for row in (injected_name, injected_subject):
        raw = (cli.path / "outbox" / f"{row['id']}.eml").read_bytes()
        message = parse(cli.path / "outbox" / f"{row['id']}.eml")
        assert message["Bcc"] is None
        assert b"\nBcc:" not in raw and b"\rBcc:" not in raw
        assert by_id[row["id"]]["status"] == "sent"
    assert by_id[no_address["id"]]["status"] == "failed"
    assert by_id[no_address["id"]]["error"] == "to_email is empty"
    assert by_id[bad_address["id"]]["status"] == "failed"
    assert "'not-an-address' is not a valid address" in by_id[bad_address["id"]]["error"]
    assert not (cli.path / "outbox" / f"{bad_address['id']}.eml").exists()


def test_once_outside_the_window_claims_nothing(cli) -> None:
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(), [email_row()])
    store.close()
    # A window that is never open today: only the day after tomorrow.
    day_after = (datetime.now(UTC) + timedelta(days=2)).strftime("%a").lower()
    result = cli.run("--once", WORK_DAYS=day_after, TIMEZONE="UTC")
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in cli.rows()] == ["queued"]
    assert '"event": "window_closed"' in result.stderr
    # Cron and timer users watch `health`: a run outside the window is a beat too.
    assert (cli.path / "campaign-runner.heartbeat").is_file()
    assert cli.run("health").returncode == 0


def test_dry_run_renders_and_changes_nothing(cli) -> None:
    store = SqliteStore(cli.path / "queue.db")
    row = email_row()
    store.stage(campaign(), [row, email_row(to_email="broken")])
    store.close()
    before = cli.rows()
    result = cli.run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would send 'Hello Ana' to ana@example.org" in result.stdout
    assert "would fail: to_email 'broken' is not a valid address" in result.stdout
    assert cli.rows() == before
    assert not (cli.path / "outbox").exists()


def test_status_counts_per_campaign(cli) -> None:
    store = SqliteStore(cli.path / "queue.db")
    store.stage(campaign(name="Spring"), [email_row(), email_row(to_email="x")])
    store.close()
    cli.run("--once")
    result = cli.run("status")
    assert result.returncode == 0
    header, line, last_error = result.stdout.strip().splitlines()
    assert header.split()[:7] == [
        "campaign",
        "status",
        "staged",
        "queued",
        "processing",
        "sent",
        "failed",
    ]
    assert line.split()[:7] == ["Spring", "completed", "0", "0", "0", "1", "1"]
    assert "to_email 'x' is not a valid address" in last_error


def test_demo_on_a_fresh_folder(cli) -> None:
    result = cli.run("demo", DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert "4 sent, 1 not sent" in result.stdout
    assert "'first_name' is undefined for this contact" in result.stdout
    paths = [line.strip() for line in result.stdout.splitlines() if line.strip().endswith(".eml")]
    assert len(paths) == 4
    for path in paths:
        assert parse(Path(path))["Subject"]


def hint(stdout: str) -> list[str]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("See the queue with: ")]
    return shlex.split(line.removeprefix("See the queue with: "))


def test_demo_twice_adds_nothing_and_says_so(cli) -> None:
    first = cli.run("demo")
    assert first.returncode == 0, first.stderr
    assert "An earlier `demo` added it" not in first.stdout

    second = cli.run("demo")
    assert second.returncode == 0, second.stderr
    assert "An earlier `demo` added it: nothing was added this time" in second.stdout
    assert "4 sent, 1 not sent" in second.stdout
    assert len(cli.rows("SELECT id FROM campaigns")) == 1
    assert len(cli.rows()) == 5
    assert len(list((cli.path / "outbox").iterdir())) == 4


def test_demo_prints_a_status_command_that_works(cli) -> None:
    demo = cli.run("demo")
    assert demo.returncode == 0, demo.stderr
    command = hint(demo.stdout)
    assert command[-3:] == ["-m", "campaign_runner", "status"]  # how this test started it

    status = subprocess.run(
        command, cwd=cli.path, env=embedded_env(cli.path), capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert "Demo: autumn outreach" in status.stdout


def test_demo_started_by_its_console_script_prints_that_path(tmp_path: Path) -> None:
    """`make demo` runs `.venv/bin/campaign-runner demo`: the hint says the same path."""
    script = Path(sys.executable).with_name("campaign-runner")
    relative = os.path.relpath(script, tmp_path)
    env = {"PATH": "/usr/bin:/bin", **embedded_env(tmp_path)}
    demo = subprocess.run(
        [relative, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr
    assert hint(demo.stdout) == [relative, "status"]
    status = subprocess.run(hint(demo.stdout), cwd=tmp_path, env=env, capture_output=True)
    assert status.returncode == 0
