"""`/u/<token>`: RFC 8058 one-click, the page, and every kind of bad request."""

from __future__ import annotations

import hashlib
import socket

import pytest
from itsdangerous import URLSafeSerializer

from campaign_runner.config import ConfigError
from campaign_runner.metrics import Metrics
from campaign_runner.stores.postgres import PostgresStore
from campaign_runner.unsubscribe import SALT, Tokens
from campaign_runner.web import start_http
from tests.fixtures.postgres import free_port

from .conftest import SECRET, Face

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
SHA256 = {"signer_kwargs": {"digest_method": hashlib.sha256}}
ONE_CLICK_BODY = b"List-Unsubscribe=One-Click"


def test_one_click_suppresses_at_once_and_again_is_harmless(face: Face) -> None:
    first = face.client.post(face.url(face.token), data=ONE_CLICK)
    again = face.client.post(face.url(face.token), data=ONE_CLICK)

    assert (first.status_code, again.status_code) == (200, 200)
    assert "is unsubscribed" in first.text
    (row,) = face.suppressions()
    assert (row["email"], row["reason"], row["source"]) == (
        "ana.ruiz@example.org",
        "unsubscribed",
        "unsubscribe_page",
    )
    assert row["created_at"]


def test_one_click_as_multipart_form_data(face: Face) -> None:
    answer = face.client.post(face.url(face.token), files={"List-Unsubscribe": (None, "One-Click")})

    assert answer.status_code == 200
    assert [r["email"] for r in face.suppressions()] == ["ana.ruiz@example.org"]


def test_a_get_shows_the_masked_address_and_never_unsubscribes(face: Face) -> None:
    page = face.client.get(face.url(face.token))
    head = face.client.head(face.url(face.token))

    assert (page.status_code, head.status_code) == (200, 200)
    assert "A•••@E•••.org" in page.text
    assert "Ana.Ruiz" not in page.text and "example" not in page.text.lower().split("<body>")[1]
    assert '<form method="post">' in page.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    assert "<script" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert face.suppressions() == []


def bad_tokens(email_id: str) -> dict[str, str]:
    good = Tokens(SECRET).make(email_id)
    payload, signature = good.rsplit(".", 1)
    return {
        "empty": "",
        "junk": "not-a-token",
        "truncated": good[:-3],
        "altered signature": payload + "." + signature[::-1],
        "altered payload": Tokens(SECRET).make(email_id + "x").rsplit(".", 1)[0] + "." + signature,
        "other secret": Tokens("another-secret-of-length").make(email_id),
        "other salt": str(URLSafeSerializer(SECRET, salt=SALT + "x", **SHA256).dumps(email_id)),
        "sha1, the default": str(URLSafeSerializer(SECRET, salt=SALT).dumps(email_id)),
        "not a string inside": str(
            URLSafeSerializer(SECRET, salt=SALT, **SHA256).dumps({"id": email_id})
        ),
        "huge": "a" * 5000,
    }


@pytest.mark.parametrize(
    "case", [*bad_tokens("x"), "row deleted"], ids=lambda case: case.replace(" ", "-")
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_token_that_is_not_ours_is_one_404_that_suppresses_nothing(
    face: Face, case: str, method: str
) -> None:
    if case == "row deleted":
        token = face.token
        with face.store._transaction() as db:
            db.execute("DELETE FROM email_queue WHERE id = ?", (face.email_id,))
    else:
        token = bad_tokens(face.email_id)[case]
    reference = face.client.get(face.url("junk"))

    answer = face.client.request(method, face.url(token), data=ONE_CLICK)

    assert answer.status_code == 404
    assert answer.text == reference.text  # the same page whatever the cause
    assert "Traceback" not in answer.text
    assert face.suppressions() == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "application/x-www-form-urlencoded", 400),
        (b"List-Unsubscribe=Yes", "application/x-www-form-urlencoded", 400),
        (b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click", "", 400),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
        (b"--x\r\nnot multipart", "multipart/form-data; boundary=x", 400),
        (b"List-Unsubscribe=One-Click&" + b"a" * 3000, "application/x-www-form-urlencoded", 413),
        (b"a" * 100_000, "application/x-www-form-urlencoded", 413),  # waitress's own limit
    ],
)
def test_a_post_without_the_one_click_body_changes_nothing(
    face: Face, body: bytes, content_type: str, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = face.client.post(face.url(face.token), content=body, headers=headers)

    assert answer.status_code == status
    assert face.suppressions() == []


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_odd_methods_are_405(face: Face, method: str) -> None:
    answer = face.client.request(
        method, face.url(face.token), content=b"List-Unsubscribe=One-Click"
    )

    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD, POST"
    assert face.suppressions() == []


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
        b"POST /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
        b"POST /u/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"u" * 20_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
    ids=["garbage", "length-not-a-number", "negative-length", "bad-chunk", "huge-request-line"],
)
def test_malformed_requests_get_a_4xx_and_the_server_goes_on(face: Face, raw: bytes) -> None:
    with socket.create_connection((face.server.host, face.server.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = sock.recv(4096)

    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]
    assert face.client.get(f"{face.server.url}/healthz").status_code == 200
    assert face.suppressions() == []


def test_unknown_paths_are_404(face: Face) -> None:
    for path in ("/", "/u", "/u/a/b", "/metrics/x", "/u/%00"):
        assert face.client.get(f"{face.server.url}{path}").status_code == 404


def test_a_database_that_is_down_is_a_503_to_try_again(face: Face) -> None:
    nothing_there = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    server = start_http(face.config.replace(http_listen="127.0.0.1:0"), nothing_there, Metrics())
    assert server is not None
    try:
        answer = face.client.post(f"{server.url}/u/{face.token}", data=ONE_CLICK)
    finally:
        server.stop()

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "120"
    assert "try again" in answer.text


def test_a_port_in_use_is_refused_at_start(face: Face) -> None:
    config = face.config.replace(http_listen=f"127.0.0.1:{face.server.port}")
    with pytest.raises(ConfigError, match="cannot listen"):
        start_http(config, face.store, Metrics())


def test_without_http_listen_nothing_is_served(face: Face) -> None:
    config = face.config.replace(http_listen="")
    assert start_http(config, face.store, Metrics()) is None
