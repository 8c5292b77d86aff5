"""The events client against the loopback SparkPost, over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from campaign_runner.config import Config
from campaign_runner.events.client import (
    EventsBusy,
    EventsClient,
    EventsQueryRefused,
    EventsRefused,
)
from campaign_runner.events.parse import parse
from campaign_runner.events.windows import Window
from campaign_runner.senders.sparkpost import SparkPostSender
from tests.fakes.sparkpost_events import ManualClock, Outcome
from tests.fakes.sparkpost_server import FakeSparkPost
from tests.sparkpost.conftest import message

from .conftest import API_KEY, QUICK, START

WINDOW = Window(START, START + timedelta(hours=3))


@pytest.fixture
def send(
    make_config: Callable[..., Config], sparkpost: FakeSparkPost
) -> Iterator[Callable[..., str]]:
    """Sends one message through the real sender; returns its email_id."""
    config = make_config(
        SENDER="sparkpost",
        SPARKPOST_API_KEY=API_KEY,
        SPARKPOST_API_URL=sparkpost.url,
        SENDER_ADDRESS="Fund Team, 1 Main Street, Springfield",
    )
    sender = SparkPostSender(config, QUICK)

    def one(to: str) -> str:
        sent = message(to_email=to)
        sender.send(sent)
        return sent.email_id

    yield one
    sender.close()


def client(server: FakeSparkPost, **options: object) -> EventsClient:
    return EventsClient(server.url, API_KEY, backoff=QUICK, **options)  # type: ignore[arg-type]


def test_a_window_is_read_to_the_end_through_links_next(
    sparkpost: FakeSparkPost, clock: ManualClock, send: Callable[..., str]
) -> None:
    sent = {send(f"r{n}@example.org") for n in range(4)}
    clock.advance(hours=4)

    with client(sparkpost, per_page=3) as events:
        pages = list(events.pages(WINDOW))

    assert [len(page.events) for page in pages] == [3, 3, 2]
    assert pages[-1].next_path is None and pages[0].total_count == 8
    assert {parse(raw).email_id for page in pages for raw in page.events} == sent
    first, *rest = sparkpost.events.requests
    query = parse_qs(urlsplit(first.path).query)
    assert query == {
        "from": ["2026-11-30T10:00:00Z"],
        "to": ["2026-11-30T13:00:00Z"],
        "per_page": ["3"],
        "cursor": ["initial"],
    }
    assert [r.path for r in rest] == [page.next_path for page in pages[:-1]]
    assert {r.headers["authorization"] for r in sparkpost.events.requests} == {API_KEY}


def test_reading_resumes_from_a_stored_next_path(
    sparkpost: FakeSparkPost, clock: ManualClock, send: Callable[..., str]
) -> None:
    for n in range(3):
        send(f"r{n}@example.org")
    clock.advance(hours=4)
    with client(sparkpost, per_page=4) as events:
        first = next(events.pages(WINDOW))
        assert first.next_path is not None
        resumed = list(events.pages(WINDOW, resume=first.next_path))

    ids = [raw["event_id"] for raw in first.events + resumed[0].events]
    assert len(ids) == len(set(ids)) == 6


def test_an_event_repeated_across_pages_is_handed_over_as_sparkpost_sent_it(
    sparkpost: FakeSparkPost, clock: ManualClock, send: Callable[..., str]
) -> None:
    sparkpost.events.repeat_across_pages = True
    for n in range(3):
        send(f"r{n}@example.org")
    clock.advance(hours=4)

    with client(sparkpost, per_page=2) as events:
        ids = [raw["event_id"] for page in events.pages(WINDOW) for raw in page.events]

    assert len(set(ids)) == 6 and len(ids) > 6


def test_planned_outcomes_come_back_with_the_rows_ids(
    sparkpost: FakeSparkPost, clock: ManualClock, send: Callable[..., str]
) -> None:
    sparkpost.events.plan("bob@example.com", Outcome.bounce(10))
    bob = send("bob@example.com")
    clock.advance(hours=1)

    with client(sparkpost) as events:
        (page,) = list(events.pages(WINDOW))

    bounce = parse(page.events[0])
    assert (bounce.type, bounce.email_id, bounce.bounce_class) == ("bounce", bob, 10)
    assert bounce.transmission_id == sparkpost.posts[0].answer["results"]["id"]


def test_429_and_5xx_are_retried_then_served(
    sparkpost: FakeSparkPost, clock: ManualClock, send: Callable[..., str]
) -> None:
    send("bob@example.com")
    clock.advance(hours=1)
    sparkpost.events.fail_next(429, 503)

    with client(sparkpost) as events:
        (page,) = list(events.pages(WINDOW))

    assert len(page.events) == 2
    assert [r.status for r in sparkpost.events.requests] == [429, 503, 200]


@pytest.mark.parametrize(("status", "said"), [(429, "Too many requests"), (502, "502 error")])
def test_busy_every_try_is_transient_and_says_it_backs_off(
    sparkpost: FakeSparkPost, status: int, said: str
) -> None:
    sparkpost.events.fail_next(*[status] * QUICK.attempts)

    with client(sparkpost) as events, pytest.raises(EventsBusy) as caught:
        list(events.pages(WINDOW))

    assert f"busy ({status}: " in str(caught.value) and said in str(caught.value)
    assert "backing off" in str(caught.value)
    assert len(sparkpost.events.requests) == QUICK.attempts


def test_a_wrong_key_is_systemic_at_once_and_never_shown(sparkpost: FakeSparkPost) -> None:
    wrong = "sp-wrong-key-9876543210"

    events = EventsClient(sparkpost.url, wrong, backoff=QUICK)
    with events, pytest.raises(EventsRefused) as caught:
        list(events.pages(WINDOW))

    assert "401" in str(caught.value) and "SPARKPOST_API_KEY" in str(caught.value)
    assert wrong not in str(caught.value)
    assert len(sparkpost.events.requests) == 1


def test_a_key_without_the_events_grant_says_which_grant(sparkpost: FakeSparkPost) -> None:
    sparkpost.events.grant = False

    with client(sparkpost) as events, pytest.raises(EventsRefused) as caught:
        list(events.pages(WINDOW))

    assert "403" in str(caught.value) and "Events Search: Read-Only" in str(caught.value)
    assert len(sparkpost.events.requests) == 1


def test_a_refused_connection_is_systemic() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens

    events = EventsClient(f"http://127.0.0.1:{port}/api/v1", API_KEY, backoff=QUICK)
    with events, pytest.raises(EventsRefused, match="not reached"):
        list(events.pages(WINDOW))


def test_a_url_that_is_not_the_api_is_systemic(sparkpost: FakeSparkPost) -> None:
    elsewhere = sparkpost.url.removesuffix("/api/v1") + "/v2"

    events = EventsClient(elsewhere, API_KEY, backoff=QUICK)
    with events, pytest.raises(EventsRefused, match="SPARKPOST_API_URL"):
        list(events.pages(WINDOW))


def test_a_stale_cursor_is_a_refused_query(sparkpost: FakeSparkPost) -> None:
    with client(sparkpost) as events, pytest.raises(EventsQueryRefused, match="400"):
        list(events.pages(WINDOW, resume="/api/v1/events/message?cursor=stale"))
