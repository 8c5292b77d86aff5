"""The loopback SparkPost's Events API answers the way events.apib says, driven over HTTP."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.sparkpost_events import ManualClock, Outcome
from tests.fakes.sparkpost_server import FakeSparkPost, Reply

from .conftest import API_KEY

START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
LATER = "2026-11-30T12:00:00Z"  # after every event the tests make


@pytest.fixture
def clock(sparkpost: FakeSparkPost) -> ManualClock:
    clock = ManualClock(START)
    sparkpost.events.clock = clock
    return clock


def transmit(server: FakeSparkPost, to: str, email_id: str = "e-1") -> str:
    body: dict[str, Any] = {
        "campaign_id": "spring-outreach",
        "metadata": {"batch": "7", "email_id": "shadowed"},
        "recipients": [
            {"address": {"email": to}, "metadata": {"email_id": email_id, "campaign_id": "c-1"}}
        ],
        "content": {"from": {"email": "outreach@send1.example.com"}, "subject": "Hi", "text": "x"},
    }
    answer = httpx.post(
        f"{server.url}/transmissions", json=body, headers={"Authorization": API_KEY}
    )
    assert answer.status_code == 200
    return answer.json()["results"]["id"]


def get(server: FakeSparkPost, authorization: str = API_KEY, **params: str | int) -> httpx.Response:
    return httpx.get(
        f"{server.url}/events/message", params=params, headers={"Authorization": authorization}
    )


def pages(server: FakeSparkPost, **params: str | int) -> Iterator[dict[str, Any]]:
    """Every page of one query, following `links.next` with the host in front."""
    answer = get(server, **params)
    while True:
        assert answer.status_code == 200, answer.text
        page = answer.json()
        yield page
        if "next" not in page["links"]:
            return
        host = server.url.removesuffix("/api/v1")
        answer = httpx.get(host + page["links"]["next"], headers={"Authorization": API_KEY})


def types(page: dict[str, Any]) -> list[str]:
    return [event["type"] for event in page["results"]]


def test_an_accepted_transmission_is_injected_then_delivered_newest_first(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    transmission_id = transmit(sparkpost, "Bob@Example.com")
    clock.advance(minutes=5)

    page = get(sparkpost, **{"from": "2026-11-30T10:00:00Z", "to": LATER}).json()

    assert types(page) == ["delivery", "injection"]
    assert page["total_count"] == 2 and page["links"] == {}
    delivery, injection = page["results"]
    for event in page["results"]:
        assert event["transmission_id"] == transmission_id
        assert event["rcpt_to"] == "bob@example.com"
        assert event["raw_rcpt_to"] == "Bob@Example.com"
        assert event["rcpt_meta"] == {"batch": "7", "email_id": "e-1", "campaign_id": "c-1"}
        assert event["campaign_id"] == "spring-outreach"
        assert isinstance(event["event_id"], str) and isinstance(event["msg_size"], str)
        assert isinstance(event["customer_id"], int)
    assert delivery["message_id"] == injection["message_id"]
    stamps = {event["timestamp"][23:] for event in page["results"]}
    assert stamps == {"Z", "+00:00"}  # both documented spellings, so clients must read both


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ((Outcome.bounce(10),), ["bounce", "injection"]),
        ((Outcome.out_of_band(30),), ["out_of_band", "delivery", "injection"]),
        ((Outcome.open(), Outcome.click()), ["click", "open", "delivery", "injection"]),
        ((Outcome.spam_complaint(),), ["spam_complaint", "delivery", "injection"]),
        ((Outcome.list_unsubscribe(),), ["list_unsubscribe", "delivery", "injection"]),
        ((Outcome.link_unsubscribe(),), ["link_unsubscribe", "delivery", "injection"]),
    ],
)
def test_planned_outcomes_follow_the_injection(
    sparkpost: FakeSparkPost,
    clock: ManualClock,
    outcomes: tuple[Outcome, ...],
    expected: list[str],
) -> None:
    sparkpost.events.plan("bob@example.com", *outcomes)
    transmit(sparkpost, "bob@example.com")
    transmit(sparkpost, "ann@example.org", "e-2")  # no plan: delivered
    clock.advance(hours=3)

    bob = get(sparkpost, recipients="bob@example.com", **{"from": "2026-11-30T10:00:00Z"})

    assert types(bob.json()) == expected


def test_a_bounce_carries_its_class_and_reasons_as_strings(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    sparkpost.events.plan("bob@example.com", Outcome.bounce(10))
    transmit(sparkpost, "bob@example.com")
    clock.advance(minutes=5)

    page = get(sparkpost, events="bounce", **{"from": "2026-11-30T10:00:00Z"}).json()

    (bounce,) = page["results"]
    assert bounce["bounce_class"] == "10" and bounce["error_code"] == "550"
    assert bounce["raw_reason"] == "550 5.1.1 <bob@example.com>... User unknown"
    assert "bob@example.com" not in bounce["reason"]  # canonicalized: the address masked


def test_from_is_inclusive_and_to_exclusive(sparkpost: FakeSparkPost, clock: ManualClock) -> None:
    transmit(sparkpost, "bob@example.com")  # injected 10:00:00, delivered 10:00:01
    clock.advance(minutes=5)

    only_injection = get(
        sparkpost, **{"from": "2026-11-30T10:00:00Z", "to": "2026-11-30T10:00:01Z"}
    )
    only_delivery = get(sparkpost, **{"from": "2026-11-30T10:00:01Z", "to": LATER})

    assert types(only_injection.json()) == ["injection"]
    assert types(only_delivery.json()) == ["delivery"]


def test_links_next_is_a_relative_path_with_every_filter_and_ends(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    for n in range(5):
        transmit(sparkpost, f"r{n}@example.com", f"e-{n}")
        clock.advance(seconds=10)
    params = {"from": "2026-11-30T10:00:00Z", "to": LATER, "events": "delivery,injection"}

    got = list(pages(sparkpost, per_page=3, **params))

    assert [len(page["results"]) for page in got] == [3, 3, 3, 1]
    first_next = got[0]["links"]["next"]
    assert first_next.startswith("/api/v1/events/message?")
    for part in ("from=2026-11-30T10:00:00Z", "events=delivery,injection", "per_page=3"):
        assert part in first_next
    (cursor,) = parse_qs(urlsplit(first_next).query)["cursor"]
    _, event_id = json.loads(base64.b64decode(cursor))
    assert event_id == got[0]["results"][-1]["event_id"]
    assert got[-1]["links"] == {}
    ids = [event["event_id"] for page in got for event in page["results"]]
    assert len(ids) == len(set(ids)) == 10
    stamps = [event["timestamp"][:23] for page in got for event in page["results"]]
    assert stamps == sorted(stamps, reverse=True)


def test_pages_may_repeat_an_event_across_their_edge(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    sparkpost.events.repeat_across_pages = True
    for n in range(3):
        transmit(sparkpost, f"r{n}@example.com", f"e-{n}")
    clock.advance(minutes=5)

    got = list(pages(sparkpost, per_page=2, **{"from": "2026-11-30T10:00:00Z"}))

    ids = [event["event_id"] for page in got for event in page["results"]]
    assert got[1]["results"][0] == got[0]["results"][-1]
    assert len(set(ids)) == 6 and len(ids) > 6


def test_events_appear_only_after_the_delay(sparkpost: FakeSparkPost, clock: ManualClock) -> None:
    sparkpost.events.delay = timedelta(minutes=1)
    transmit(sparkpost, "bob@example.com")
    window = {"from": "2026-11-30T10:00:00Z", "to": LATER}

    clock.advance(seconds=30)
    before = get(sparkpost, **window).json()
    clock.advance(seconds=30)
    after_injection = get(sparkpost, **window).json()
    clock.advance(seconds=1)
    after_both = get(sparkpost, **window).json()

    assert types(before) == []
    assert types(after_injection) == ["injection"]
    assert types(after_both) == ["delivery", "injection"]


def test_events_are_kept_ten_days(sparkpost: FakeSparkPost, clock: ManualClock) -> None:
    transmit(sparkpost, "bob@example.com")
    window = {"from": "2026-11-30T00:00:00Z", "to": "2026-12-01T00:00:00Z"}

    clock.advance(days=10)
    kept = get(sparkpost, **window).json()
    clock.advance(seconds=1)
    halved = get(sparkpost, **window).json()
    clock.advance(seconds=1)
    gone = get(sparkpost, **window).json()

    assert types(kept) == ["delivery", "injection"]
    assert types(halved) == ["delivery"]
    assert types(gone) == []


def test_throttled_with_the_documented_429_then_served(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    sparkpost.events.fail_next(429, 502)

    throttled, failed, served = (get(sparkpost) for _ in range(3))

    assert throttled.status_code == 429
    assert throttled.json() == {"errors": [{"message": "Too many requests"}]}
    assert failed.status_code == 502
    assert served.status_code == 200


def test_a_wrong_key_gets_401_and_a_key_without_the_grant_403(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    basic = base64.b64encode(f"{API_KEY}:".encode()).decode()

    wrong = get(sparkpost, authorization=f"Bearer {API_KEY}")
    as_basic = get(sparkpost, authorization=f"Basic {basic}")
    sparkpost.events.grant = False
    no_grant = get(sparkpost)

    assert wrong.status_code == 401 and wrong.json() == {"errors": [{"message": "Unauthorized."}]}
    assert as_basic.status_code == 200
    assert no_grant.status_code == 403 and no_grant.json() == {
        "errors": [{"message": "Forbidden."}]
    }


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 10_001},
        {"from": "2026-11-30T10:00"},  # the pre-2019 form, no longer accepted
        {"from": "2026-11-30T11:00:00Z", "to": "2026-11-30T10:00:00Z"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_a_malformed_parameter_gets_400(
    sparkpost: FakeSparkPost, clock: ManualClock, params: dict[str, Any]
) -> None:
    answer = get(sparkpost, **params)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "1300"


def test_campaigns_is_a_keyword_search(sparkpost: FakeSparkPost, clock: ManualClock) -> None:
    transmit(sparkpost, "bob@example.com")  # campaign_id "spring-outreach"
    clock.advance(minutes=5)

    assert get(sparkpost, campaigns="spring").json()["total_count"] == 2
    assert get(sparkpost, campaigns="autumn").json()["total_count"] == 0


def test_only_what_sparkpost_accepted_makes_events(
    sparkpost: FakeSparkPost, clock: ManualClock
) -> None:
    sparkpost.script(
        Reply.hang_up_after_request(),
        Reply.hang_up_after_accepting(),
        Reply.recipient_refused("invalid recipient"),
    )
    for n in range(3):
        with pytest.raises(httpx.RemoteProtocolError) if n < 2 else contextlib.nullcontext():
            transmit(sparkpost, f"r{n}@example.com", f"e-{n}")
    clock.advance(minutes=5)

    events = get(sparkpost).json()["results"]

    assert {event["rcpt_meta"]["email_id"] for event in events} == {"e-1"}


def test_a_raw_event_is_served_as_it_is(sparkpost: FakeSparkPost, clock: ManualClock) -> None:
    odd = {"type": "mystery", "event_id": "x-1", "timestamp": "yesterday", "rcpt_meta": "none"}
    sparkpost.events.add(odd, at=START - timedelta(hours=1))

    assert get(sparkpost).json()["results"] == [odd]
    assert sparkpost.events.requests[-1].status == 200
