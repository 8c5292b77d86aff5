"""Whole cycles through the real sender: how each SparkPost answer leaves the row."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.pipeline import Pipeline
from campaign_runner.ports import Pacing
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.unsubscribe import Tokens
from tests.fakes.sparkpost_server import FakeSparkPost, Reply
from tests.fixtures.embedded import campaign, email_row

from .conftest import API_KEY, QUICK, SENDER_ADDRESS, suppress

PipelineFor = Callable[..., Pipeline]


SECRET = "sparkpost-test-secret-0123"


def stage(store: SqliteStore, *rows: dict[str, Any]) -> dict[str, Any]:
    camp = campaign()
    store.stage(camp, list(rows) or [email_row()])
    return camp


def rows_of(store: SqliteStore, camp: dict[str, Any]) -> list[dict[str, Any]]:
    return store.campaign_rows(camp["id"])


def due(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def test_an_accepted_email_is_sent_with_sparkposts_id(
    sparkpost_config: Callable[..., Config], sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    camp = stage(sqlite_store)
    pipeline = build_pipeline(sparkpost_config(), sqlite_store)  # the wiring operators get
    try:
        report = pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()
        pipeline.sender.close()

    (row,) = rows_of(sqlite_store, camp)
    (post,) = sparkpost.posts
    assert report.outcomes["sent"] == 1
    assert row["status"] == "sent"
    assert row["error"] is None
    assert row["attempts"] == 1
    assert row["provider_message_id"] == post.answer["results"]["id"]
    assert row["send_started_at"] is not None
    assert post.email_id == row["id"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply.recipient_refused("invalid recipient address: ana@example.org"),
            "rejected: recipient rejected by SparkPost: invalid data format/type - "
            "invalid recipient address: ana@example.org (code 1300)",
        ),
        (
            Reply.error(422, "invalid data format/type", "1300", "invalid recipient address: x"),
            "rejected: recipient rejected by SparkPost (422): invalid data format/type - "
            "invalid recipient address: x (code 1300)",
        ),
        (
            Reply.error(422, "Substitution data too large", "2002"),
            "SparkPost refused the message (422): Substitution data too large (code 2002)",
        ),
    ],
    ids=["200-recipient-refused", "422-recipient", "422-bad-request"],
)
def test_a_refused_email_fails_with_sparkposts_reason(
    pipeline_for: PipelineFor,
    sqlite_store: SqliteStore,
    sparkpost: FakeSparkPost,
    reply: Reply,
    error: str,
) -> None:
    camp = stage(sqlite_store)
    sparkpost.script(reply)

    pipeline_for().run_cycle(Pacing())

    (row,) = rows_of(sqlite_store, camp)
    assert (row["status"], row["error"], row["attempts"]) == ("failed", error, 1)
    assert row["provider_message_id"] is None
    assert row["send_started_at"] is not None
    assert len(sparkpost.posts) == 1


@pytest.mark.parametrize(
    ("settings", "replies", "reason"),
    [
        ({"SPARKPOST_API_KEY": "sp-not-the-key"}, [], "SparkPost refused the API key (401)"),
        ({}, [Reply.error(403, "Forbidden.")], "SparkPost refused the API key (403)"),
        (
            {},
            [Reply.error(420, "Exceed Sending Limit (hourly)", "2101")],
            "SparkPost sending limit reached (420)",
        ),
    ],
    ids=["401-wrong-key", "403", "420-sending-limit"],
)
def test_a_systemic_answer_puts_every_row_back_and_stops_the_cycle(
    pipeline_for: PipelineFor,
    sqlite_store: SqliteStore,
    sparkpost: FakeSparkPost,
    settings: dict[str, str],
    replies: list[Reply],
    reason: str,
) -> None:
    camp = stage(sqlite_store, *(email_row(scheduled_for=due(10 - i)) for i in range(3)))
    sparkpost.script(*replies)
    pipeline = pipeline_for(CONCURRENCY="1", **settings)  # one at a time: the first one stops it

    with capture_logs() as logs:
        report = pipeline.run_cycle(Pacing())

    assert report.systemic is not None and reason in report.systemic
    rows = rows_of(sqlite_store, camp)
    assert [row["status"] for row in rows] == ["queued"] * 3
    assert [row["attempts"] for row in rows] == [0] * 3  # given back: nothing burned
    assert all(row["send_started_at"] is None for row in rows)
    assert all(row["provider_message_id"] is None for row in rows)
    assert reason in rows[0]["error"]
    assert len(sparkpost.posts) == 1
    assert [entry["event"] for entry in logs].count("cycle_halted") == 1
    assert not [entry for entry in logs if API_KEY in repr(entry)]
    assert not [entry for entry in logs if "sp-not-the-key" in repr(entry)]


def test_an_unverified_sending_domain_stops_only_that_domain(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    sparkpost.verified_domains = {"good.example.com"}
    bad = [email_row(from_email="a@bad.example.com", scheduled_for=due(10 - i)) for i in range(2)]
    good = [email_row(from_email="b@good.example.com", scheduled_for=due(5 - i)) for i in range(2)]
    camp = stage(sqlite_store, *bad, *good)

    report = pipeline_for(CONCURRENCY="1").run_cycle(Pacing())

    rows = {row["id"]: row for row in rows_of(sqlite_store, camp)}
    first_bad, second_bad = (rows[row["id"]] for row in bad)
    assert report.systemic is None
    assert (first_bad["status"], first_bad["attempts"]) == ("queued", 0)
    assert "SparkPost will not send from bad.example.com (400)" in first_bad["error"]
    assert "Unconfigured Sending Domain <bad.example.com> (code 7001)" in first_bad["error"]
    assert (second_bad["status"], second_bad["attempts"]) == ("queued", 0)
    assert second_bad["error"] == "released: bad.example.com halted"
    assert [rows[row["id"]]["status"] for row in good] == ["sent", "sent"]
    assert [len(sparkpost.posts_for(row["id"])) for row in (*bad, *good)] == [1, 0, 1, 1]


def test_a_busy_sparkpost_counts_attempts_then_fails_the_row(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    camp = stage(sqlite_store)
    sparkpost.script(*[Reply.error(503, "Service Unavailable")] * 3 * QUICK.attempts)
    pipeline = pipeline_for(MAX_ATTEMPTS="3")

    for cycle in (1, 2):  # SparkPost answered "not now": the row waits, its attempt counted
        report = pipeline.run_cycle(Pacing())
        (row,) = rows_of(sqlite_store, camp)
        assert report.systemic is None
        assert (row["status"], row["attempts"]) == ("queued", cycle)
        assert row["error"] == "SparkPost busy (503): Service Unavailable"
        assert row["send_started_at"] is None
        assert len(sparkpost.posts) == cycle * QUICK.attempts

    pipeline.run_cycle(Pacing())

    (row,) = rows_of(sqlite_store, camp)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["error"] == "gave up after 3 attempts: SparkPost busy (503): Service Unavailable"
    assert len(sparkpost.posts) == 3 * QUICK.attempts


def test_a_transient_answer_then_acceptance_sends_once(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    camp = stage(sqlite_store)
    sparkpost.script(*[Reply.error(429, "Too many requests")] * QUICK.attempts)
    pipeline = pipeline_for()

    pipeline.run_cycle(Pacing())
    pipeline.run_cycle(Pacing())

    (row,) = rows_of(sqlite_store, camp)
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 2, None)
    assert [post.status for post in sparkpost.posts] == [429] * QUICK.attempts + [200]
    assert row["provider_message_id"] == sparkpost.posts[-1].answer["results"]["id"]


def test_sparkpost_unreachable_requeues_with_the_attempt_given_back(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore
) -> None:
    camp = stage(sqlite_store)
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        pipeline = pipeline_for(SPARKPOST_API_URL=f"http://127.0.0.1:{port}/api/v1")
        report = pipeline.run_cycle(Pacing())

    (row,) = rows_of(sqlite_store, camp)
    assert report.systemic is not None
    assert (row["status"], row["attempts"]) == ("queued", 0)
    assert row["error"].startswith("system: SparkPost not reached, nothing sent: ConnectError")
    assert row["send_started_at"] is None


@pytest.mark.parametrize(
    ("reply", "cause"),
    [(Reply.slow(5), "ReadTimeout"), (Reply.hang_up_after_request(), "RemoteProtocolError")],
    ids=["answer-slower-than-timeout", "hang-up-after-request"],
)
def test_an_ambiguous_send_fails_and_is_never_posted_again(
    pipeline_for: PipelineFor,
    sqlite_store: SqliteStore,
    sparkpost: FakeSparkPost,
    reply: Reply,
    cause: str,
) -> None:
    camp = stage(sqlite_store)
    sparkpost.script(reply)
    pipeline = pipeline_for()

    pipeline.run_cycle(Pacing())
    pipeline.run_cycle(Pacing())  # nothing left to do: the row is not retried

    (row,) = rows_of(sqlite_store, camp)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"].startswith(
        f"ambiguous: SparkPost connection failed after the request went out ({cause}"
    )
    assert row["error"].endswith("it may have been delivered")
    assert row["provider_message_id"] is None
    assert row["send_started_at"] is not None
    assert len(sparkpost.posts) == 1


def test_suppressed_and_invalid_recipients_post_nothing(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    suppressed = email_row(to_email="Gone@Example.org", scheduled_for=due(3))
    invalid = email_row(to_email="not-an-address", scheduled_for=due(2))
    camp = stage(sqlite_store, suppressed, invalid)
    suppress(sqlite_store, "gone@example.org")

    pipeline_for().run_cycle(Pacing())

    rows = {row["id"]: row for row in rows_of(sqlite_store, camp)}
    assert rows[suppressed["id"]]["error"] == (
        "recipient Gone@Example.org is on the suppression list"
    )
    assert rows[invalid["id"]]["error"].startswith("to_email 'not-an-address' is not a valid")
    for row in rows.values():
        assert (row["status"], row["attempts"], row["send_started_at"]) == ("failed", 1, None)
    assert sparkpost.posts == []


def test_marketing_mail_lets_sparkpost_handle_the_unsubscribe_link(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    stage(sqlite_store)

    pipeline_for(UNSUBSCRIBE_URL="https://example.com/u/{email_id}").run_cycle(Pacing())

    (post,) = sparkpost.posts
    content = post.body["content"]
    assert post.body["options"]["transactional"] is False
    assert (
        f'href="https://example.com/u/{post.email_id}" data-msys-unsubscribe="1"'
        in (content["html"])
    )
    assert SENDER_ADDRESS in content["html"]
    assert SENDER_ADDRESS in content["text"]


def test_transactional_mail_carries_one_click_unsubscribe_headers(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    stage(sqlite_store)

    pipeline_for(
        SPARKPOST_TRANSACTIONAL="true",
        UNSUBSCRIBE_URL="https://example.com/u/{email_id}?e={email}",
        UNSUBSCRIBE_SECRET=SECRET,
    ).run_cycle(Pacing())

    (post,) = sparkpost.posts
    content = post.body["content"]
    url = f"https://example.com/u/{post.email_id}?e={Tokens(SECRET).make(post.email_id)}"
    assert post.body["options"]["transactional"] is True
    assert content["headers"]["List-Unsubscribe"].startswith(f"<{url}>, <mailto:")
    assert content["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "data-msys-unsubscribe" not in content["html"]
    assert SENDER_ADDRESS in content["html"]
    assert SENDER_ADDRESS in content["text"]


def test_our_own_endpoint_sends_transactional_so_sparkpost_keeps_our_header(
    pipeline_for: PipelineFor, sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    """On non-transactional mail SparkPost puts its own List-Unsubscribe over ours."""
    stage(sqlite_store)

    pipeline_for(UNSUBSCRIBE_BASE_URL="https://u.example.com", UNSUBSCRIBE_SECRET=SECRET).run_cycle(
        Pacing()
    )

    (post,) = sparkpost.posts
    content = post.body["content"]
    page = f"https://u.example.com/u/{Tokens(SECRET).make(post.email_id)}"
    assert post.body["options"]["transactional"] is True
    assert content["headers"]["List-Unsubscribe"].startswith(f"<{page}>, <mailto:")
    assert f'<a href="{page}">Unsubscribe</a>' in content["html"]
