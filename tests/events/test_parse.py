"""Any raw event becomes an Event with its problems noted; nothing raises."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from campaign_runner.events.parse import parse

ROW = "6f1c2e1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
CAMPAIGN = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
BOUNCE: dict[str, Any] = {
    "type": "bounce",
    "event_id": "92356927693813856",
    "timestamp": "2026-11-30T10:42:07.000+00:00",
    "message_id": "000443ee14578172be22",
    "transmission_id": "11668787484950529",
    "campaign_id": "acme-seq-1",
    "rcpt_to": "bob@example.com",
    "raw_rcpt_to": "Bob@example.com",
    "rcpt_meta": {"email_id": ROW, "campaign_id": CAMPAIGN},
    "bounce_class": "10",
    "error_code": "550",
    "reason": "550 5.1.1 <bob@...>... User unknown",
    "raw_reason": "550 5.1.1 <bob@example.com>... User unknown",
    "num_retries": "0",
}


def test_a_documented_bounce_reads_whole() -> None:
    event = parse(BOUNCE)

    assert event.event_id == "92356927693813856"
    assert event.type == "bounce"
    assert event.occurred_at == datetime(2026, 11, 30, 10, 42, 7, tzinfo=UTC)
    assert event.email_id == ROW and event.campaign_id == CAMPAIGN
    assert event.transmission_id == "11668787484950529"
    assert event.message_id == "000443ee14578172be22"
    assert event.recipient == "bob@example.com"
    assert event.bounce_class == 10
    assert event.reason == "550 5.1.1 <bob@...>... User unknown"
    assert event.raw is BOUNCE
    assert event.problems == () and event.problem is None


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-30T10:42:07.000+00:00", "2026-11-30T10:42:07.000Z", "2026-11-30T12:42:07+02:00"],
)
def test_both_timestamp_spellings_are_read_in_utc(stamp: str) -> None:
    assert parse({**BOUNCE, "timestamp": stamp}).occurred_at == datetime(
        2026, 11, 30, 10, 42, 7, tzinfo=UTC
    )


def test_numbers_may_come_as_numbers_or_strings() -> None:
    event = parse(
        {**BOUNCE, "event_id": 92356927693813856, "transmission_id": 1166, "bounce_class": 30}
    )

    assert (event.event_id, event.transmission_id, event.bounce_class) == (
        "92356927693813856",
        "1166",
        30,
    )
    assert event.problems == ()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "teleport"}, "unknown type 'teleport'"),
        ({"timestamp": "yesterday"}, "timestamp 'yesterday' is not ISO 8601"),
        ({"timestamp": None}, "no timestamp"),
        ({"rcpt_meta": None}, "no rcpt_meta"),
        ({"rcpt_meta": "L-17"}, "rcpt_meta is not an object"),
        ({"rcpt_meta": {"lead_id": "L-17"}}, "rcpt_meta has no email_id"),
        ({"rcpt_meta": {"email_id": "e-1"}}, "rcpt_meta.email_id 'e-1' is not one of our ids"),
        ({"bounce_class": "ten"}, "bounce_class 'ten' is not a number"),
        ({"timestamp": "2026-11-30T10:42:07"}, "timestamp without an offset, read as UTC"),
    ],
)
def test_what_is_wrong_is_noted_and_the_rest_still_read(
    change: dict[str, Any], problem: str
) -> None:
    event = parse({**BOUNCE, **change})

    assert problem in event.problems
    assert event.event_id == BOUNCE["event_id"]
    assert event.recipient == "bob@example.com"


def test_an_event_without_an_id_gets_one_from_its_content() -> None:
    raw = {key: value for key, value in BOUNCE.items() if key != "event_id"}

    first, again = parse(raw), parse(dict(reversed(list(raw.items()))))

    assert "no event_id" in first.problems
    assert first.event_id.startswith("content:") and first.event_id == again.event_id
    assert parse({**raw, "reason": "other"}).event_id != first.event_id


@pytest.mark.parametrize("raw", [None, "bounce", 17, ["bounce"], {}])
def test_garbage_is_an_event_with_problems_not_an_exception(raw: Any) -> None:
    event = parse(raw)

    assert event.problems
    assert event.type == "" and event.occurred_at is None and event.email_id is None
    assert event.raw == raw
