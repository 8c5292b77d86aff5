"""The SparkPost sender on its own: what it posts, and how it reads every kind of answer."""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from structlog.testing import capture_logs

from campaign_runner.errors import (
    AmbiguousError,
    RecipientRejected,
    RowError,
    SystemicError,
    TransientError,
)
from campaign_runner.senders.sparkpost import MAX_CONNECTIONS, SparkPostSender
from tests.fakes.sparkpost_server import FakeSparkPost, Reply

from .conftest import API_KEY, QUICK, message

SenderFor = Callable[..., SparkPostSender]


def test_a_transmission_is_posted_as_sparkpost_documents_it(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    sender = sender_for(
        SPARKPOST_TRACK_CLICKS="true", SPARKPOST_TRANSACTIONAL="true", SPARKPOST_SANDBOX="true"
    )
    sent = message(
        headers={
            "List-Unsubscribe": "<https://example.com/u/1>",
            "X-Campaign-Id": "c-1",
            # SparkPost builds these itself and refuses them in content.headers.
            "Subject": "not here",
            "content-type": "text/plain",
            "Reply-To": "elsewhere@example.com",
        }
    )

    provider_id = sender.send(sent)

    (post,) = sparkpost.posts
    assert post.status == 200
    assert provider_id == post.answer["results"]["id"]
    assert post.headers["authorization"] == API_KEY  # the raw key, no "Bearer"
    assert post.body["campaign_id"] == sent.campaign_id
    assert post.body["options"] == {
        "open_tracking": False,
        "click_tracking": True,
        "transactional": True,
        "sandbox": True,
    }
    assert post.body["recipients"] == [
        {
            "address": {"email": "ana@example.org", "name": "Ana Ruiz"},
            "metadata": {"email_id": sent.email_id, "campaign_id": sent.campaign_id},
        }
    ]
    assert post.body["content"] == {
        "from": {"email": "outreach@send1.example.com", "name": "Fund Team"},
        "subject": "Hello Ana",
        "text": "Hi Ana,\n",
        "html": "<p>Hi Ana,</p>",
        "reply_to": "replies@example.com",
        "headers": {"List-Unsubscribe": "<https://example.com/u/1>", "X-Campaign-Id": "c-1"},
    }


def test_campaign_id_is_cut_to_64_bytes_between_characters(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    long_id = "a" + "é" * 40  # 81 bytes; byte 64 falls inside an "é"

    sender_for().send(sent := message(campaign_id=long_id))

    (post,) = sparkpost.posts
    assert post.body["campaign_id"] == "a" + "é" * 31  # 63 bytes
    assert post.body["recipients"][0]["metadata"]["campaign_id"] == long_id
    assert post.email_id == sent.email_id


def test_addresses_go_out_as_the_outbox_writes_them(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    sender_for().send(
        message(
            to_email="Ana@straße.example",
            from_email="sam@send1.bücher.example",
            reply_to='"Lee, Sam" <sam@straße.example>, Büro <ops@example.com>',
        )
    )

    body = sparkpost.posts[0].body
    assert body["recipients"][0]["address"]["email"] == "Ana@xn--strae-oqa.example"
    assert body["content"]["from"]["email"] == "sam@send1.xn--bcher-kva.example"
    assert body["content"]["reply_to"] == (
        '"Lee, Sam" <sam@xn--strae-oqa.example>, =?utf-8?b?QsO8cm8=?= <ops@example.com>'
    )


@pytest.mark.parametrize("field", ["to_email", "from_email"])
def test_a_non_ascii_local_part_is_refused_as_the_outbox_refuses_it(
    sender_for: SenderFor, sparkpost: FakeSparkPost, field: str
) -> None:
    with pytest.raises(RowError, match="non-ASCII local part"):
        sender_for().send(message(**{field: "jörg@example.org"}))
    assert sparkpost.posts == []


def test_substitution_syntax_in_content_arrives_as_text(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    sender_for().send(message(subject="{{ offer }} inside", text="Hi {{name}}\n"))

    content = sparkpost.posts[0].body["content"]
    assert (
        content["subject"] == "{{opening_double_curly()}} offer {{closing_double_curly()}} inside"
    )
    assert content["text"] == "Hi {{opening_double_curly()}}name{{closing_double_curly()}}\n"


@pytest.mark.parametrize(
    ("replies", "error", "posts", "words"),
    [
        pytest.param(
            [Reply.recipient_refused("invalid recipient address: ana@example.org")],
            RecipientRejected,
            1,
            "recipient rejected by SparkPost: invalid data format/type - invalid recipient address",
            id="200-with-rcpt_to_errors",
        ),
        pytest.param(
            [Reply(200, {"results": {"id": "1", "total_rejected_recipients": 1}})],
            RecipientRejected,
            1,
            "recipient rejected by SparkPost",
            id="200-with-rejected-count",
        ),
        pytest.param(
            [Reply.error(422, "invalid data format/type", "1300", "invalid recipient address: x")],
            RecipientRejected,
            1,
            "recipient rejected by SparkPost (422): invalid data format/type - invalid recipient",
            id="422-recipient",
        ),
        pytest.param(
            [Reply.error(400, "Message generation rejected", "1902")],
            RecipientRejected,
            1,
            "recipient rejected by SparkPost (400): Message generation rejected (code 1902)",
            id="400-generation-rejected",
        ),
        pytest.param(
            [Reply.error(422, "The estimated message size is above the 20 MB message size limit")],
            RowError,
            1,
            "SparkPost refused the message (422): The estimated message size is above the 20 MB",
            id="422-bad-request",
        ),
        pytest.param(
            [Reply.error(403, "Forbidden.")],
            SystemicError,
            1,
            "SparkPost refused the API key (403): Forbidden.",
            id="403",
        ),
        pytest.param(
            [Reply.error(420, "Exceed Sending Limit (daily)", "2102")],
            SystemicError,
            1,
            "SparkPost sending limit reached (420): Exceed Sending Limit (daily) (code 2102)",
            id="420-sending-limit",
        ),
        pytest.param(
            [Reply.error(429, "Too many requests")] * 3,
            TransientError,
            3,
            "SparkPost busy (429): Too many requests",
            id="429-retried-then-transient",
        ),
        pytest.param(
            [Reply(502, {})] * 3,
            TransientError,
            3,
            "SparkPost busy (502): HTTP 502 Bad Gateway",
            id="502-retried-then-transient",
        ),
        pytest.param(
            [Reply.slow(5)],
            AmbiguousError,
            1,
            "SparkPost connection failed after the request went out (ReadTimeout",
            id="answer-slower-than-timeout",
        ),
        pytest.param(
            [Reply.hang_up_after_request()],
            AmbiguousError,
            1,
            "SparkPost connection failed after the request went out (RemoteProtocolError",
            id="hang-up-after-request",
        ),
        pytest.param(
            [Reply(200, {"results": {"total_accepted_recipients": 1}})],
            AmbiguousError,
            1,
            "SparkPost answered 200 without a transmission id",
            id="200-without-id",
        ),
    ],
)
def test_each_answer_raises_its_class(
    sender_for: SenderFor,
    sparkpost: FakeSparkPost,
    replies: list[Reply],
    error: type[Exception],
    posts: int,
    words: str,
) -> None:
    sparkpost.script(*replies)
    sent = message()

    with pytest.raises(error) as raised:
        sender_for().send(sent)

    assert type(raised.value) is error
    assert words in str(raised.value)
    assert len(sparkpost.posts_for(sent.email_id)) == posts
    assert len(sparkpost.posts) == posts


def test_transient_answers_are_retried_until_accepted(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    sparkpost.script(Reply.error(503, "Service Unavailable"), Reply.error(429, "Slow down"))
    sent = message()

    provider_id = sender_for().send(sent)

    posts = sparkpost.posts_for(sent.email_id)
    assert [post.status for post in posts] == [503, 429, 200]
    assert provider_id == posts[-1].answer["results"]["id"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(
            400, "Invalid domain", "7001", "Unconfigured Sending Domain <send1.example.com>"
        ),
        # SparkPost announced it would drop `code`; the text still names the domain.
        Reply.error(400, "Blocked Sending Domain <send1.example.com>"),
    ],
    ids=["with-code", "without-code"],
)
def test_an_unusable_sending_domain_stops_only_that_domain(
    sender_for: SenderFor, sparkpost: FakeSparkPost, reply: Reply
) -> None:
    sparkpost.script(reply)

    with pytest.raises(SystemicError) as raised:
        sender_for().send(message(from_email="Outreach@Send1.Example.com"))

    assert raised.value.sending_domain == "send1.example.com"
    assert "SparkPost will not send from send1.example.com (400)" in str(raised.value)
    assert len(sparkpost.posts) == 1


def test_a_wrong_key_is_systemic_and_never_shown(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    with pytest.raises(SystemicError) as raised:
        sender_for(SPARKPOST_API_KEY="sp-wrong-key-0000").send(message())

    assert raised.value.sending_domain is None
    assert "(401)" in str(raised.value)
    assert "sp-wrong-key-0000" not in str(raised.value)
    assert sparkpost.posts[0].headers["authorization"] == "sp-wrong-key-0000"


def test_the_key_is_scrubbed_from_sparkpost_text(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    sparkpost.script(Reply.error(422, f"key {API_KEY} may not send this"))

    with pytest.raises(RowError) as raised:
        sender_for().send(message())

    assert API_KEY not in str(raised.value)
    assert "key [redacted] may not send this" in str(raised.value)


def test_a_wrong_api_url_is_systemic(sender_for: SenderFor, sparkpost: FakeSparkPost) -> None:
    with pytest.raises(SystemicError, match=r"answered 404 .*check SPARKPOST_API_URL"):
        sender_for(SPARKPOST_API_URL=f"{sparkpost.url}/v2").send(message())


def test_a_refused_connection_is_retried_then_systemic(sender_for: SenderFor) -> None:
    with socket.socket() as bound_not_listening:  # connecting to it is refused at once
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        sender = sender_for(SPARKPOST_API_URL=f"http://127.0.0.1:{port}/api/v1")

        with capture_logs() as logs, pytest.raises(SystemicError) as raised:
            sender.send(message())

    assert "SparkPost not reached, nothing sent: ConnectError" in str(raised.value)
    retries = [entry for entry in logs if entry["event"] == "sparkpost_retry"]
    assert [entry["attempt"] for entry in retries] == list(range(1, QUICK.attempts))


def test_at_most_ten_connections_are_open_at_once(
    sender_for: SenderFor, sparkpost: FakeSparkPost
) -> None:
    sparkpost.script(*[Reply.slow(0.2)] * 25)
    sender = sender_for()

    with ThreadPoolExecutor(max_workers=25) as pool:
        ids = list(pool.map(sender.send, [message() for _ in range(25)]))

    assert len(set(ids)) == 25
    assert len(sparkpost.posts) == 25
    assert sparkpost.max_in_flight <= MAX_CONNECTIONS
