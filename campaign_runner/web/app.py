"""The worker's HTTP face as a small WSGI app: unsubscribe pages, health, metrics.

    GET  /u/<token>   a page naming the address (partly masked), with a button
    POST /u/<token>   RFC 8058 one-click: body `List-Unsubscribe=One-Click`; the button
                      posts the same body, so a person and a mail client take one path
    GET  /healthz     200 while the heartbeat is fresh (as `campaign-runner health`), else 503
    GET  /metrics     Prometheus text format

A GET never unsubscribes: link scanners fetch every URL in a message. Every
token that is not ours (forged, cut, altered, signed with another secret, far
too long) and every token whose row is gone gets the same 404 page, so the
endpoint tells nothing about which rows or addresses exist. Requests it does
not understand get a 4xx; a database that is down gets a 503 that asks to try
again; the exception never reaches the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

import structlog
from jinja2.sandbox import SandboxedEnvironment

from ..errors import StoreUnavailable
from ..metrics import CONTENT_TYPE, Metrics
from ..ports import Store
from ..unsubscribe import Tokens

log = structlog.get_logger("campaign_runner")

ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_BODY_BYTES = 2048  # a one-click body is 26 bytes; a browser's form post a few more
SOURCE = "unsubscribe_page"
_TOKEN_PATH = re.compile(r"/u/([A-Za-z0-9_.\-]*)")
_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),  # the token is in the URL
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class Refused(Exception):
    """A request answered with a 4xx or 503 page."""

    def __init__(self, status: str, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or []


def mask(address: str) -> str:
    """`ana.ruiz@example.org` as `a•••@e•••.org`: enough for its owner to know it."""
    local, _, domain = address.rpartition("@")
    name, dot, tld = domain.rpartition(".")
    if not dot:
        name, tld = domain, ""
    return f"{local[:1]}•••@{name[:1]}•••{dot}{tld}"


@cache
def _page_template() -> Any:
    source = (files("campaign_runner") / "templates" / "unsubscribe.html.j2").read_text("utf-8")
    return SandboxedEnvironment(autoescape=True).from_string(source)


def page(title: str, state: str, **context: str) -> bytes:
    return _page_template().render(title=title, state=state, **context).encode("utf-8")


class App:
    def __init__(
        self,
        store: Store,
        tokens: Tokens | None,
        metrics: Metrics,
        health: Callable[[], tuple[bool, str]],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.metrics = metrics
        self.health = health
        self.clock = clock

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        try:
            status, headers, body = self._route(method, path, environ)
        except Refused as refused:
            status, headers = refused.status, [("Content-Type", "text/html; charset=utf-8")]
            headers += refused.headers
            body = page(refused.status[4:], "other", message=str(refused))
        headers = [*headers, ("Content-Length", str(len(body)))]
        if path.startswith("/u/"):
            headers += _SECURITY_HEADERS
        start_response(status, headers)
        return [b"" if method == "HEAD" else body]

    def _route(self, method: str, path: str, environ: Environ) -> tuple[str, list, bytes]:
        if path == "/healthz":
            _allow(method, "GET", "HEAD")
            healthy, text = self.health()
            status = "200 OK" if healthy else "503 Service Unavailable"
            return status, [("Content-Type", "text/plain; charset=utf-8")], f"{text}\n".encode()
        if path == "/metrics":
            _allow(method, "GET", "HEAD")
            return "200 OK", [("Content-Type", CONTENT_TYPE)], self.metrics.render()
        match = _TOKEN_PATH.fullmatch(path)
        if match is None:
            raise Refused("404 Not Found", "There is nothing here.")
        _allow(method, "GET", "HEAD", "POST")
        return self._unsubscribe(method, match.group(1), environ)

    def _unsubscribe(self, method: str, token: str, environ: Environ) -> tuple[str, list, bytes]:
        html = [("Content-Type", "text/html; charset=utf-8")]
        body = _read_body(environ) if method == "POST" else b""
        email_id = self.tokens.row(token) if self.tokens is not None else None
        try:
            address = self.store.recipient_of(email_id) if email_id else None
            if address is None:
                self.metrics.unsubscribe("invalid")
                return "404 Not Found", html, page("Link not valid", "invalid")
            if method != "POST":
                return "200 OK", html, page("Unsubscribe", "ask", masked=mask(address))
            if not _is_one_click(environ, body):
                raise Refused("400 Bad Request", "Expected the body List-Unsubscribe=One-Click.")
            assert email_id is not None
            self.store.suppress_recipient_of(email_id, "unsubscribed", SOURCE, self.clock())
        except StoreUnavailable as exc:
            log.error("unsubscribe_store_unavailable", error=str(exc))
            raise Refused(
                "503 Service Unavailable",
                "We could not record this just now. Please try again in a few minutes.",
                [("Retry-After", "120")],
            ) from None
        self.metrics.unsubscribe("suppressed")
        log.info("unsubscribed", email_id=email_id, source=SOURCE)
        return "200 OK", html, page("Unsubscribed", "done", masked=mask(address))


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise Refused(
            "405 Method Not Allowed",
            "That method is not allowed here.",
            [("Allow", ", ".join(allowed))],
        )


def _read_body(environ: Environ) -> bytes:
    """The request body, up to MAX_BODY_BYTES (waitress has already refused longer
    ones, de-chunked chunked ones and set CONTENT_LENGTH)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused("400 Bad Request", "Content-Length is not a number.") from None
    if length < 0:
        raise Refused("400 Bad Request", "Content-Length is negative.")
    if length > MAX_BODY_BYTES:
        raise Refused("413 Content Too Large", "The request body is too large.")
    return environ["wsgi.input"].read(length) if length else b""


def _is_one_click(environ: Environ, body: bytes) -> bool:
    """RFC 8058 3.2: the POST body holds List-Unsubscribe=One-Click, sent as
    application/x-www-form-urlencoded or multipart/form-data."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        if not message.is_multipart():
            return False
        return any(
            part.get_param("name", header="content-disposition") == ONE_CLICK[0]
            and part.get_payload(decode=True).strip() == ONE_CLICK[1].encode()
            for part in message.iter_parts()
        )
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return False
    return fields.get(ONE_CLICK[0]) == [ONE_CLICK[1]]
