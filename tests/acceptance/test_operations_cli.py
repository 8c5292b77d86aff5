"""`status`, `retry-failed` and the bounce guard from the command line, on the
embedded store. What needs a process of its own runs in one: the worker's log, and
the confirmation, which depends on whether stdin is a terminal. The rest calls
`cli.main` in this process, which is quicker."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.ports import Pacing
from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.sparkpost_server import FakeSparkPost, Reply
from tests.fixtures.embedded import campaign, email_row, embedded_env
from tests.stores.kits import statement
from tests.stores.test_commands import main

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sp-test-0123456789abcdef"
AMBIGUOUS = "ambiguous: interrupted during send (worker vm-2:1 stopped after the send started)"
FAILED_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "queue.db")
    yield opened
    opened.close()


def due(seconds_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


def client(store: SqliteStore, name: str, **params: Any) -> None:
    """A statement of the contract suite's, run by a plain SQLite client."""
    with sqlite3.connect(store.path) as db:
        db.execute(statement("sqlite", name), params)
    db.close()


# The failure_kind the worker writes beside each error these tests plant.
KIND_OF = {AMBIGUOUS: "ambiguous"}


def plant_failed(
    store: SqliteStore, campaign_id: str, error: str, to_email: str, failed_at: datetime
) -> str:
    email_id = str(uuid.uuid4())
    values = dict.fromkeys(("locked_by", "locked_at", "send_started_at", "sent_at", "subject"))
    client(
        store,
        "plant_email",
        **values,
        id=email_id,
        campaign_id=campaign_id,
        to_email=to_email,
        from_email="outreach@send1.example.com",
        body="Hi",
        status="failed",
        scheduled_for=due(3600),
        attempts=3,
        error=error,
        failure_kind=KIND_OF.get(error, "transient" if error.startswith("gave up") else "content"),
        updated_at=failed_at.isoformat(),
    )
    return email_id


def statuses(store: SqliteStore, campaign_id: str) -> list[str]:
    return [row["status"] for row in store.campaign_rows(campaign_id)]


def cli_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture) -> dict[str, Any]:
    capsys.readouterr()  # what came before (the logs of a pipeline run here) is not ours
    assert main(monkeypatch, tmp_path, "status", "--json") == 0
    return json.loads(capsys.readouterr().out)


# -- campaign control in flight, and status ---------------------------------------


def test_paused_then_resumed_then_cancelled_in_flight_and_status_shows_the_rest(
    store: SqliteStore,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: Capture,
) -> None:
    camp = campaign(name="Spring")
    rows = [email_row(to_email=f"p{i}@example.org", scheduled_for=due(600 - i)) for i in range(7)]
    store.stage(camp, rows)
    pipeline = build_pipeline(make_config(BATCH_SIZE="2"), store)

    def cycle() -> list[str]:
        """The rows the cycle sent, as the store has them."""
        before = {r["id"] for r in store.campaign_rows(camp["id"]) if r["status"] == "sent"}
        pipeline.run_cycle(Pacing())
        after = [r["id"] for r in store.campaign_rows(camp["id"]) if r["status"] == "sent"]
        return sorted(set(after) - before, key=[r["id"] for r in rows].index)

    try:
        assert cycle() == [r["id"] for r in rows[:2]]
        client(store, "set_campaign_status", id=camp["id"], status="paused")
        assert cycle() == []  # from the next cycle on, nothing more
        client(store, "set_campaign_status", id=camp["id"], status="sending")
        assert cycle() == [r["id"] for r in rows[2:4]]  # where it stopped
        client(store, "set_campaign_status", id=camp["id"], status="cancelled")
        assert cycle() == []
    finally:
        pipeline.close()
    assert statuses(store, camp["id"]) == ["sent"] * 4 + ["queued"] * 3

    document = cli_json(monkeypatch, tmp_path, capsys)

    assert document.keys() == {"version", "generated_at", "campaigns", "sequences"}
    assert document["sequences"] == []
    assert document["version"] == 1
    (shown,) = document["campaigns"]
    assert shown.keys() == {
        "campaign_id",
        "campaign_name",
        "campaign_status",
        "rows",
        "due_now",
        "next_scheduled_for",
        "ambiguous",
        "rejected",
        "last_error",
        "last_error_at",
        "paused_reason",
        "waiting",
        "failed_by_kind",
        # SparkPost's events (issue 15): keys added, version unchanged
        "delivered",
        "opened",
        "clicked",
        "bounced",
        "complained",
        "unsubscribed",
        "rates",
        "settled_sent",
        "not_accepted",
    }
    assert (shown["campaign_id"], shown["campaign_name"]) == (camp["id"], "Spring")
    assert shown["campaign_status"] == "cancelled"
    assert shown["rows"] == {"staged": 0, "queued": 3, "processing": 0, "sent": 4, "failed": 0}
    # A cancelled campaign's rows are not due: they say why they wait.
    assert (shown["due_now"], shown["next_scheduled_for"], shown["last_error"]) == (0, None, None)
    assert shown["waiting"] == {"campaign_cancelled": {"rows": 3, "until": None}}


def test_status_as_a_table_for_people(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    camp = campaign(name="Spring", status="sending")
    later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    store.stage(camp, [email_row(), email_row(scheduled_for=later.isoformat())])
    plant_failed(store, camp["id"], AMBIGUOUS, "ana@example.org", FAILED_AT)

    assert main(monkeypatch, tmp_path, "status") == 0

    header, line, *details = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "campaign",
        "status",
        "staged",
        "queued",
        "processing",
        "sent",
        "failed",
        "due",
        "now",
        "next",
        "due",
        "(UTC)",
        "id",
    ]
    assert line.split() == [
        "Spring",
        "sending",
        *("0", "2", "0", "0", "1"),
        "1",
        *f"{later:%Y-%m-%d %H:%M:%S}".split(),
        camp["id"],
    ]
    assert [d.strip() for d in details] == [
        f"1 row scheduled later, the first at {later:%Y-%m-%d %H:%M:%S} UTC",
        "1 row failed ambiguously (may have been delivered; "
        "see docs/reliability.md before retrying them)",
        f"last error (2026-11-20 09:30:00 UTC): {AMBIGUOUS}",
    ]


# -- the bounce guard -------------------------------------------------------------


def test_the_bounce_guard_pauses_a_campaign_and_says_why_once(
    cli: Any,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: Capture,
) -> None:
    camp = campaign(name="Spring")
    rows = [email_row(to_email=f"p{i}@example.org", scheduled_for=due(600 - i)) for i in range(25)]
    store.stage(camp, rows)
    with FakeSparkPost(API_KEY) as sparkpost:
        refused = Reply.recipient_refused("invalid recipient address")
        sparkpost.script(*[Reply()] * 19, *[refused] * 3)
        env = {
            "SENDER": "sparkpost",
            "SPARKPOST_API_KEY": API_KEY,
            "SPARKPOST_API_URL": sparkpost.url,
            "BATCH_SIZE": "22",
            "CONCURRENCY": "1",  # in due order, so the script meets the rows in order
        }

        first = cli.run("--once", **env)
        second = cli.run("--once", **env)

        assert len(sparkpost.posts) == 22
    reason = (
        "bounce guard: the provider rejected 3 of 22 recipients, more than BOUNCE_PAUSE_RATE allows"
    )
    events = [json.loads(line) for line in first.stderr.splitlines()]
    (paused,) = [e for e in events if e["event"] == "campaign_paused"]
    assert (paused["level"], paused["campaign_id"], paused["reason"]) == (
        "error",
        camp["id"],
        reason,
    )
    assert (paused["campaign_name"], paused["bounce_pause_rate"]) == ("Spring", 0.05)
    assert "campaign_paused" not in second.stderr
    cycles = [json.loads(line) for line in second.stderr.splitlines()]
    assert [e["claimed"] for e in cycles if e["event"] == "cycle"] == [0]

    (shown,) = cli_json(monkeypatch, tmp_path, capsys)["campaigns"]
    assert (shown["campaign_status"], shown["paused_reason"]) == ("paused", reason)
    assert (shown["rows"]["sent"], shown["rejected"], shown["rows"]["queued"]) == (19, 3, 3)
    assert shown["last_error"].startswith("rejected: recipient rejected by SparkPost")


# -- retry-failed -------------------------------------------------------------------


@pytest.fixture
def finished(store: SqliteStore) -> dict[str, str]:
    """A completed campaign with a row that gave up, an ambiguous one and one whose
    recipient has unsubscribed since."""
    camp = campaign(status="completed")
    store.stage(camp, [])
    client(store, "suppress", email="gone@example.org")
    return {
        "campaign": camp["id"],
        "gave_up": plant_failed(
            store, camp["id"], "gave up after 3 attempts: 503", "ana@example.org", FAILED_AT
        ),
        "ambiguous": plant_failed(store, camp["id"], AMBIGUOUS, "ben@example.org", FAILED_AT),
        "suppressed": plant_failed(
            store, camp["id"], "recipient is on the suppression list", "gone@example.org", FAILED_AT
        ),
    }


def test_retry_failed_requeues_what_may_be_retried_and_says_what_it_left(
    store: SqliteStore,
    finished: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: Capture,
) -> None:
    campaign_id = finished["campaign"]

    assert main(monkeypatch, tmp_path, "retry-failed", campaign_id) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"Requeued 1 row of campaign {campaign_id}, due now.",
        "1 row left failed as ambiguous (may already have been delivered; "
        "--include-ambiguous requeues those too).",
        "1 row left failed: the recipient is on the suppression list.",
        "The campaign was completed and is sending again.",
    ]
    rows = {row["id"]: row for row in store.campaign_rows(campaign_id)}
    assert [rows[finished[k]]["status"] for k in ("gave_up", "ambiguous", "suppressed")] == [
        "queued",
        "failed",
        "failed",
    ]
    assert (rows[finished["gave_up"]]["attempts"], rows[finished["gave_up"]]["error"]) == (0, None)

    assert (
        main(monkeypatch, tmp_path, "retry-failed", campaign_id, "--include-ambiguous", "--yes")
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("WARNING: 1 failed row of this campaign may already have been delivered")
    assert f"Requeued 1 row of campaign {campaign_id}, due now." in out.splitlines()
    assert statuses(store, campaign_id) == ["queued", "queued", "failed"]


def test_retry_failed_of_no_campaign_says_so(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    assert main(monkeypatch, tmp_path, "retry-failed", "no-such-campaign") == 1

    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "campaign-runner: no campaign no-such-campaign, nor failed rows of it\n",
    )


def retry_ambiguous(
    tmp_path: Path, campaign_id: str, stdin: int | IO[Any]
) -> subprocess.CompletedProcess[str]:
    """`retry-failed --include-ambiguous` in a process of its own, with this stdin."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "campaign_runner",
            "retry-failed",
            campaign_id,
            "--include-ambiguous",
        ],
        stdin=stdin,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **embedded_env(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ambiguous_rows_are_requeued_only_after_a_person_confirms_at_a_terminal(
    store: SqliteStore, finished: dict[str, str], tmp_path: Path
) -> None:
    campaign_id = finished["campaign"]

    unattended = retry_ambiguous(tmp_path, campaign_id, subprocess.DEVNULL)
    declined = at_terminal(tmp_path, campaign_id, "n")
    still_failed = statuses(store, campaign_id)
    confirmed = at_terminal(tmp_path, campaign_id, "y")

    assert unattended.returncode == 2
    assert unattended.stdout.startswith("WARNING: 1 failed row of this campaign may already")
    assert "refusing to requeue ambiguous rows without a terminal" in unattended.stderr
    assert "--yes" in unattended.stderr
    assert (declined.returncode, declined.stdout.splitlines()[-1]) == (
        1,
        "Requeue 1 ambiguous row? [y/N] Nothing requeued.",
    )
    assert still_failed == ["failed"] * 3  # declined: nothing at all
    assert confirmed.returncode == 0
    assert f"Requeued 2 rows of campaign {campaign_id}, due now." in confirmed.stdout
    assert statuses(store, campaign_id) == ["queued", "queued", "failed"]


def at_terminal(tmp_path: Path, campaign_id: str, answer: str) -> subprocess.CompletedProcess[str]:
    """With stdin a terminal on which a person has typed `answer`."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        return retry_ambiguous(tmp_path, campaign_id, terminal)
    finally:
        os.close(terminal)
        os.close(controller)


# -- --dry-run says what it skips and why ----------------------------------------------


def test_dry_run_renders_what_a_claim_takes_and_says_why_it_skips_the_rest(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    spring = campaign(name="Spring", status="sending")
    later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    first, second = email_row(scheduled_for=due(20)), email_row(scheduled_for=due(10))
    store.stage(spring, [first, second, email_row(scheduled_for=later.isoformat())])
    store.stage(campaign(name="Held", status="paused"), [email_row()])

    assert main(monkeypatch, tmp_path, "--dry-run", DOMAIN_MIN_INTERVAL_SECONDS="210") == 0

    rendered, skipped, *reasons = capsys.readouterr().out.splitlines()
    assert rendered.startswith(f"{first['id']}  ana@example.org  would send 'Hello Ana'")
    assert skipped == "Skipped:"
    assert [r.split(", the next until")[0] for r in reasons] == [
        "  Held: 1 row waits for the campaign, which is paused (sent once it is scheduled or "
        "sending)",
        "  Spring: 1 row waits for their sending domain's pacing (DOMAIN_MIN_INTERVAL_SECONDS)",
        f"  Spring: 1 row scheduled later, the first at {later:%Y-%m-%d %H:%M:%S} UTC",
    ]
    assert [r["status"] for r in store.campaign_rows(spring["id"])] == ["queued"] * 3


def test_dry_run_says_when_nothing_is_due_and_when_the_window_is_closed(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    day_after = (datetime.now(UTC) + timedelta(days=2)).strftime("%a").lower()

    assert main(monkeypatch, tmp_path, "--dry-run", WORK_DAYS=day_after, TIMEZONE="UTC") == 0

    closed, nothing = capsys.readouterr().out.splitlines()
    assert closed.startswith("The sending window is closed until ")
    assert closed.endswith(" UTC: a worker sends nothing now. When it opens:")
    assert nothing == "Nothing is due now."


def test_status_says_rows_due_wait_for_a_closed_window(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    store.stage(campaign(name="Spring", status="sending"), [email_row(), email_row()])
    day_after = (datetime.now(UTC) + timedelta(days=2)).date()

    env = {"WORK_DAYS": f"{day_after:%a}".lower(), "TIMEZONE": "UTC"}
    assert main(monkeypatch, tmp_path, "status", "--json", **env) == 0

    (shown,) = json.loads(capsys.readouterr().out)["campaigns"]
    assert shown["due_now"] == 0
    opens = f"{day_after}T00:00:00+00:00"  # WORK_START_HOUR=0
    assert shown["waiting"] == {"window_closed": {"rows": 2, "until": opens}}
