"""A loopback stand-in for Groq's OpenAI-compatible chat completions endpoint.

It speaks the wire format in /work/shared/wire-formats.md to the real `groq`
SDK: `POST /openai/v1/chat/completions` with `Authorization: Bearer <key>`,
200 with `choices` and `usage`, errors as `{"error": {"message", "type",
"code"}}`, 429 with `retry-after`. What it answers is decided by a *model*
(a function of the request body) unless replies were queued with `script`.
It can enforce requests- and tokens-per-period limits the way Groq does,
over a sliding window, and records every request with the moment it arrived.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/openai/v1/chat/completions"
INJECTION = re.compile(r"ignore (?:all )?previous instructions and ([^\"\\]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    """One answer: a 200 carrying `content`, or an error status with `error`."""

    status: int = 200
    content: str = ""
    finish_reason: str = "stop"
    error: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to sit on the request before answering


def answer(subject: str, body: str) -> Reply:
    return Reply(content=json.dumps({"subject": subject, "body": body}))


def text(content: str, finish_reason: str = "stop") -> Reply:
    """Whatever the model wrote, JSON or not."""
    return Reply(content=content, finish_reason=finish_reason)


def error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status=status, error={"message": message, "type": kind, "code": code})


def rate_limited(retry_after: float, kind: str = "requests") -> Reply:
    return Reply(
        status=429,
        error={
            "message": f"Rate limit reached for model on {kind}. Please try again later.",
            "type": kind,
            "code": "rate_limit_exceeded",
        },
        headers={"retry-after": f"{retry_after:g}"},
    )


def server_error(status: int = 503) -> Reply:
    return error(status, "Service Unavailable", "service_unavailable", "internal_server_error")


def json_validate_failed() -> Reply:
    return Reply(
        status=400,
        error={
            "message": "Failed to generate JSON. Please adjust your prompt.",
            "type": "invalid_request_error",
            "code": "json_validate_failed",
            "failed_generation": "Hi there, here is your email",
        },
    )


def stall(seconds: float) -> Reply:
    return Reply(content=json.dumps({"subject": "late", "body": "too late"}), stall=seconds)


GOOD_SUBJECT = "A faster month-end close"
GOOD_BODY = (
    "Hello,\n\nFinance teams like yours close the month in days with Ledgerly, "
    "not weeks.\n\nWould a 15-minute call next week be useful?\n\nBest,\nSam"
)


def polite_model(_request: dict[str, Any]) -> Reply:
    """Does what the prompt asks."""
    return answer(GOOD_SUBJECT, GOOD_BODY)


def obedient_model(request: dict[str, Any]) -> Reply:
    """Follows any "ignore previous instructions and ..." found anywhere in the
    conversation, as a gullible model would; otherwise polite."""
    said = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
    found = INJECTION.search(said)
    if found is None:
        return polite_model(request)
    order = found.group(1).lower()
    link = re.search(r"link to (\S+)", order)
    target = f"https://{link.group(1).rstrip('.,')}/win" if link else ""
    if "html" in order:  # drops JSON altogether, as asked
        return text(f"<html><body><p>You won!</p><a href='{target}'>Claim</a></body></html>")
    return answer("You won", f"{GOOD_BODY}\n\nClaim your prize at {target} today.")


@dataclass
class Recorded:
    at: float  # time.monotonic() when the request arrived
    path: str
    authorization: str
    body: dict[str, Any]
    status: int = 0
    admitted: bool = False  # passed the key and the limits: counts against them
    content: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    answered_at: float = 0.0


class FakeGroq:
    def __init__(
        self,
        api_key: str = "gsk_test_key_0123456789",
        model: Callable[[dict[str, Any]], Reply] = polite_model,
        latency: float = 0.0,
        rpm: int | None = None,
        tpm: int | None = None,
        period: float = 60.0,
        echo_key: bool = False,
    ) -> None:
        self.api_key = api_key
        self.model = model
        self.latency = latency
        self.rpm, self.tpm, self.period = rpm, tpm, period
        self.echo_key = echo_key  # put the presented key in 401 messages, as some APIs do
        self.requests: list[Recorded] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._released = threading.Event()  # ends stalls when the server stops
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order, before the model speaks again."""
        with self._lock:
            self._script.extend(replies)

    def answered(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def statuses(self) -> list[int]:
        with self._lock:
            return [r.status for r in self.requests]

    def busiest(self, period: float, tokens: bool = False) -> int:
        """The most requests (or tokens) answered within any `period` seconds, by arrival."""
        answered = sorted(self.answered(), key=lambda r: r.at)
        return max(
            (
                sum(
                    r.usage["total_tokens"] if tokens else 1
                    for r in answered[i:]
                    if r.at < t + period
                )
                for i, t in enumerate(r.at for r in answered)
            ),
            default=0,
        )

    def start(self) -> FakeGroq:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    # -- the HTTP side ----------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                record = Recorded(
                    at=time.monotonic(),
                    path=self.path,
                    authorization=self.headers.get("authorization", ""),
                    body=json.loads(raw or b"{}"),
                )
                with fake._lock:
                    fake.requests.append(record)
                status, payload, headers, wait = fake._decide(record)
                if wait and fake._released.wait(wait):
                    return  # the server is stopping; the client gave up long ago
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up
                record.answered_at = time.monotonic()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _decide(self, record: Recorded) -> tuple[int, dict[str, Any], dict[str, str], float]:
        """Status, body, headers and delay for one request; records the status.

        The limit check and the admission happen under one lock, so concurrent
        requests cannot all slip into the last free place of a window.
        """
        if record.path != PATH:
            return self._refuse(record, error(404, "Unknown request URL", "unknown_url"))
        if record.authorization != f"Bearer {self.api_key}":
            presented = record.authorization.removeprefix("Bearer ")
            message = f"Invalid API Key: {presented}" if self.echo_key else "Invalid API Key"
            return self._refuse(record, error(401, message, "invalid_api_key"))
        prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in record.body["messages"])
        with self._lock:
            reply = self._over_limit(record.at, prompt_tokens)
            if reply is None:
                record.admitted = True
                reply = self._script.pop(0) if self._script else self.model(record.body)
            if reply.status != 200:
                record.status = reply.status
                return reply.status, {"error": reply.error}, reply.headers, reply.stall
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(reply.content) // 4 + 1,
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            record.status, record.content, record.usage = 200, reply.content, usage
        payload = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": record.body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                    "message": {"role": "assistant", "content": reply.content},
                }
            ],
            "usage": usage,
        }
        return 200, payload, {}, self.latency + reply.stall

    def _refuse(
        self, record: Recorded, reply: Reply
    ) -> tuple[int, dict[str, Any], dict[str, str], float]:
        with self._lock:
            record.status = reply.status
        return reply.status, {"error": reply.error}, reply.headers, reply.stall

    def _over_limit(self, now: float, prompt_tokens: int) -> Reply | None:
        """Groq's limits over a sliding window of `period`; refused requests do not count."""
        window = [r for r in self.requests if r.admitted and r.at > now - self.period]
        if self.rpm is not None and len(window) >= self.rpm:
            return rate_limited(math.ceil(window[-self.rpm].at + self.period - now))
        spent = sum(r.usage.get("total_tokens", 0) for r in window)
        if self.tpm is not None and window and spent + prompt_tokens > self.tpm:
            return rate_limited(math.ceil(window[0].at + self.period - now), "tokens")
        return None


@contextmanager
def running(**options: Any) -> Iterator[FakeGroq]:
    fake = FakeGroq(**options).start()
    try:
        yield fake
    finally:
        fake.stop()
