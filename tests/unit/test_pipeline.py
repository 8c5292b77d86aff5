"""How the pipeline turns each class of failure into one outcome, on the embedded store.

The sender here is an in-process twin of the Sender port (like procrastinate's
in-memory connector): it lets each error class be raised on cue. The real
services' wire behaviour is tested against loopback servers elsewhere.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from campaign_runner.adapters import build_pipeline
from campaign_runner.errors import (
    AmbiguousError,
    RecipientRejected,
    RowError,
    SystemicError,
    TransientError,
)
from campaign_runner.models import Message
from campaign_runner.pipeline import Pipeline
from campaign_runner.ports import Pacing
from tests.fixtures.embedded import campaign, email_row


class ScriptedSender:
    """Raises what `script(message)` returns (an exception) or accepts the message."""

    def __init__(self, script: Callable[[Message], Exception | None]) -> None:
        self.script = script
        self.sent: list[str] = []

    def send(self, message: Message) -> str:
        error = self.script(message)
        if error is not None:
            raise error
        self.sent.append(message.email_id)
        return f"id-{message.email_id}"

    def close(self) -> None:
        pass


@pytest.fixture
def pipeline_with(make_config, sqlite_store):
    def make(script: Callable[[Message], Exception | None], **settings: str) -> Pipeline:
        pipeline = build_pipeline(make_config(**settings), sqlite_store)
        pipeline.sender = ScriptedSender(script)
        return pipeline

    return make


def rows_by_id(store, camp) -> dict:
    return {r["id"]: r for r in store.campaign_rows(camp["id"])}


def test_transient_failures_requeue_later_then_fail_at_max_attempts(
    pipeline_with, sqlite_store
) -> None:
    camp, row = campaign(), email_row()
    sqlite_store.stage(camp, [row])
    clock = [datetime.now(UTC)]
    pipeline = pipeline_with(
        lambda m: TransientError("429 slow down"), MAX_ATTEMPTS="2", RETRY_DELAY_SECONDS="60"
    )
    pipeline.clock = lambda: clock[0]

    report = pipeline.run_cycle(Pacing())
    assert report.outcomes["queued"] == 1
    (stored,) = sqlite_store.campaign_rows(camp["id"])
    assert stored["status"] == "queued" and stored["error"] == "429 slow down"
    assert stored["failure_kind"] == "transient"
    assert pipeline.run_cycle(Pacing()).claimed == 0  # not due again for 60 s

    clock[0] += timedelta(seconds=61)
    pipeline.run_cycle(Pacing())
    (stored,) = sqlite_store.campaign_rows(camp["id"])
    assert stored["status"] == "failed"
    assert stored["error"] == "gave up after 2 attempts: 429 slow down"
    assert stored["failure_kind"] == "transient"


def test_ambiguous_fails_and_row_errors_fail(pipeline_with, sqlite_store) -> None:
    camp = campaign()
    ambiguous, refused, fine = (email_row(to_email=f"{n}@example.org") for n in ("a", "r", "f"))
    sqlite_store.stage(camp, [ambiguous, refused, fine])

    def script(message: Message) -> Exception | None:
        return {
            "a@example.org": AmbiguousError("read timeout after the request was sent"),
            "r@example.org": RowError("recipient rejected: 5.1.1 no such user"),
        }.get(message.to_email)

    pipeline_with(script).run_cycle(Pacing())
    rows = rows_by_id(sqlite_store, camp)
    assert rows[ambiguous["id"]]["status"] == "failed"
    assert rows[ambiguous["id"]]["error"] == "ambiguous: read timeout after the request was sent"
    assert rows[ambiguous["id"]]["send_started_at"]
    assert rows[refused["id"]]["error"] == "recipient rejected: 5.1.1 no such user"
    assert rows[fine["id"]]["status"] == "sent"
    assert rows[fine["id"]]["provider_message_id"] == f"id-{fine['id']}"


def test_each_failure_is_written_with_its_kind_beside_the_error_it_always_had(
    pipeline_with, sqlite_store
) -> None:
    camp, gone = campaign(), campaign()
    rows = {
        "rejected": email_row(to_email="r@example.org"),
        "ambiguous": email_row(to_email="a@example.org"),
        "content": email_row(to_email="c@example.org"),
        "invalid": email_row(to_email="not an address"),
        "suppressed": email_row(to_email="s@example.org"),
        "sent": email_row(to_email="f@example.org"),
    }
    sqlite_store.stage(camp, list(rows.values()))
    orphan = email_row(to_email="o@example.org")
    sqlite_store.stage(gone, [orphan])
    with sqlite3.connect(sqlite_store.path) as db:
        db.execute("INSERT INTO suppressions (email) VALUES ('s@example.org')")
        db.execute("DELETE FROM campaigns WHERE id = ?", (gone["id"],))
    db.close()

    def script(message: Message) -> Exception | None:
        return {
            "r@example.org": RecipientRejected("recipient rejected by SparkPost: no such user"),
            "a@example.org": AmbiguousError("read timeout after the request was sent"),
            "c@example.org": RowError("SparkPost refused the message (422): bad header"),
        }.get(message.to_email)

    pipeline_with(script).run_cycle(Pacing())

    stored = rows_by_id(sqlite_store, camp)
    kinds = {name: stored[row["id"]]["failure_kind"] for name, row in rows.items()}
    assert kinds == {
        "rejected": "rejected",
        "ambiguous": "ambiguous",
        "content": "content",
        "invalid": "invalid",
        "suppressed": "suppressed",
        "sent": None,
    }
    assert stored[rows["rejected"]["id"]]["error"] == (
        "rejected: recipient rejected by SparkPost: no such user"
    )
    assert stored[rows["suppressed"]["id"]]["error"] == (
        "recipient s@example.org is on the suppression list"
    )
    (left,) = rows_by_id(sqlite_store, gone).values()
    assert (left["failure_kind"], left["error"]) == (
        "campaign_gone",
        f"campaign {gone['id']} no longer exists",
    )


def test_a_systemic_error_halts_the_cycle_and_gives_attempts_back(
    pipeline_with, sqlite_store
) -> None:
    camp = campaign()
    sqlite_store.stage(camp, [email_row(to_email=f"p{i}@example.org") for i in range(6)])
    pipeline = pipeline_with(lambda m: SystemicError("401 invalid API key"), CONCURRENCY="1")
    report = pipeline.run_cycle(Pacing())
    assert report.systemic == "401 invalid API key"
    assert pipeline.sender.sent == []
    rows = rows_by_id(sqlite_store, camp).values()
    assert {r["status"] for r in rows} == {"queued"}
    assert {r["attempts"] for r in rows} == {0}
    assert {r["send_started_at"] for r in rows} == {None}
    assert {r["failure_kind"] for r in rows} == {"system"}


def test_a_systemic_error_of_one_sending_domain_stops_only_that_domain(
    pipeline_with, sqlite_store
) -> None:
    camp = campaign()
    bad = [
        email_row(from_email="a@bad.example.com", to_email=f"b{i}@example.org") for i in range(3)
    ]
    good = [
        email_row(from_email="a@good.example.com", to_email=f"g{i}@example.org") for i in range(3)
    ]
    sqlite_store.stage(camp, [*bad, *good])

    def script(message: Message) -> Exception | None:
        if message.from_email.endswith("@bad.example.com"):
            return SystemicError("7001 sending domain not verified", "bad.example.com")
        return None

    pipeline = pipeline_with(script, CONCURRENCY="1")
    report = pipeline.run_cycle(Pacing())
    assert report.systemic is None
    rows = rows_by_id(sqlite_store, camp)
    assert {rows[r["id"]]["status"] for r in good} == {"sent"}
    assert {rows[r["id"]]["status"] for r in bad} == {"queued"}
    assert {rows[r["id"]]["attempts"] for r in bad} == {0}


def test_a_paused_campaign_sends_nothing_more(pipeline_with, sqlite_store) -> None:
    live, paused, cancelled = campaign(), campaign(status="paused"), campaign(status="cancelled")
    for camp in (live, paused, cancelled):
        sqlite_store.stage(camp, [email_row()])
    pipeline = pipeline_with(lambda m: None)
    assert pipeline.run_cycle(Pacing()).claimed == 1
    assert [r["status"] for r in sqlite_store.campaign_rows(paused["id"])] == ["queued"]
    assert [r["status"] for r in sqlite_store.campaign_rows(cancelled["id"])] == ["queued"]
