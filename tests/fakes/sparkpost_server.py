"""A loopback SparkPost transmissions endpoint, for driving the real sender in tests.

`POST {url}/transmissions` is checked the way SparkPost documents it
(`wire-formats.md`, and SparkPost's Transmissions API reference):
- `Authorization` must be the raw API key (no "Bearer"): 401 otherwise;
- the body must be a JSON object with `recipients` (a list of objects, each
  with `address.email` and an object `metadata`), inline `content` with
  `from`, `subject` and `html` or `text`, string `reply_to`, string-valued
  `headers` without the names SparkPost builds itself; `campaign_id` at most
  64 bytes; `metadata` at most 1000 bytes merged; boolean `options`;
- a malformed request gets 400/422 with `{"errors": [{"message",
  "description", "code"}]}`, and a `from` domain outside `verified_domains`
  (when given) gets SparkPost's 400 code 7001.

A well-formed request gets the next scripted `Reply` (accepted when none is
left): any status and body, an answer slower than the client's timeout, or a
hang-up after the request was read. Every POST is recorded, valid or not.

What it accepts makes events, served by `GET {url}/events/message` (see
`sparkpost_events.py`; the knobs are on `events`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .sparkpost_events import EventLog

API_PATH = "/api/v1"
FORBIDDEN_HEADERS = {
    "subject",
    "from",
    "to",
    "reply-to",
    "content-type",
    "content-transfer-encoding",
}
OPTION_FLAGS = ("open_tracking", "click_tracking", "transactional", "sandbox")
MAX_CAMPAIGN_ID_BYTES = 64
MAX_METADATA_BYTES = 1000


def errors(message: str, code: str | None = None, description: str | None = None) -> dict:
    error: dict[str, str] = {"message": message}
    if description is not None:
        error["description"] = description
    if code is not None:
        error["code"] = code
    return {"errors": [error]}


@dataclass(frozen=True)
class Reply:
    """What to answer a well-formed transmission."""

    status: int = 200
    body: dict[str, Any] | None = None  # None: SparkPost's acceptance of one recipient
    delay: float = 0.0  # seconds to wait before answering
    hang_up: bool = False  # read the request, then close the connection without a word
    accepted: bool = False  # with hang_up: SparkPost created the transmission first

    @classmethod
    def error(
        cls, status: int, message: str, code: str | None = None, description: str | None = None
    ) -> Reply:
        return cls(status, errors(message, code, description))

    @classmethod
    def recipient_refused(cls, description: str) -> Reply:
        """A 200 that created the transmission but refused its one recipient."""
        return cls(
            200,
            {
                "errors": [
                    {"message": "transmission created, but with validation errors", "code": "2000"}
                ],
                "results": {
                    "rcpt_to_errors": [
                        {
                            "message": "invalid data format/type",
                            "description": description,
                            "code": "1300",
                        }
                    ],
                    "total_rejected_recipients": 1,
                    "total_accepted_recipients": 0,
                    "id": "99990000000000001",
                },
            },
        )

    @classmethod
    def slow(cls, seconds: float) -> Reply:
        return cls(delay=seconds)

    @classmethod
    def hang_up_after_request(cls) -> Reply:
        return cls(hang_up=True)

    @classmethod
    def hang_up_after_accepting(cls) -> Reply:
        """The transmission was created (its events follow), and the answer lost."""
        return cls(hang_up=True, accepted=True)


@dataclass(frozen=True)
class Post:
    """One POST as the server saw it."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the decoded JSON, or the raw text when it was not JSON
    status: int | None  # what was answered; None when the server hung up
    answer: Any  # the body answered

    @property
    def email_id(self) -> str | None:
        try:
            return self.body["recipients"][0]["metadata"]["email_id"]
        except (KeyError, IndexError, TypeError):
            return None


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    posts: list[Post] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class FakeSparkPost:
    def __init__(self, api_key: str, verified_domains: set[str] | None = None) -> None:
        self.api_key = api_key
        self.verified_domains = verified_domains
        self._ids = itertools.count(11668787484950529)
        self._state = _State()
        self.events = EventLog()
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # cuts slow answers short when the test ends
        self._sockets: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()

    @property
    def url(self) -> str:
        """What SPARKPOST_API_URL would be."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PATH}"

    def script(self, *replies: Reply) -> None:
        """Answer the next well-formed transmissions with these, in order."""
        with self._lock:
            self._state.replies.extend(replies)

    @property
    def posts(self) -> list[Post]:
        with self._lock:
            return list(self._state.posts)

    def posts_for(self, email_id: str) -> list[Post]:
        return [post for post in self.posts if post.email_id == email_id]

    @property
    def max_in_flight(self) -> int:
        """The most requests the server was handling at one time."""
        with self._lock:
            return self._state.max_in_flight

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # the client may have closed it already
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def __enter__(self) -> FakeSparkPost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler -----------------------------------------------

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[Reply, Any]:
        """The reply for one request, and its body as recorded."""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        problem = self._problem(path, headers, body)
        if problem is not None:
            return problem, body
        with self._lock:
            reply = self._state.replies.popleft() if self._state.replies else Reply()
        if reply.body is None and not reply.hang_up and reply.status == 200:
            reply = Reply(200, self._accepted(), reply.delay)
        if reply.hang_up and reply.accepted:
            self.events.accepted(body, self._accepted()["results"]["id"])
        elif 200 <= reply.status < 300 and _accepted_id(reply.body) is not None:
            self.events.accepted(body, _accepted_id(reply.body))
        return reply, body

    def _accepted(self) -> dict[str, Any]:
        return {
            "results": {
                "total_rejected_recipients": 0,
                "total_accepted_recipients": 1,
                "id": str(next(self._ids)),
            }
        }

    def _problem(self, path: str, headers: dict[str, str], body: Any) -> Reply | None:
        if path != f"{API_PATH}/transmissions":
            return Reply.error(404, "resource not found", "1600", f"path {path} does not exist")
        if headers.get("authorization") != self.api_key:
            return Reply.error(401, "Unauthorized.")
        if not headers.get("content-type", "").startswith("application/json"):
            return Reply.error(
                415, "Unsupported Media Type", "1300", "Content-Type must be application/json"
            )
        if not isinstance(body, dict):
            return Reply.error(
                422, "invalid data format/type", "1300", "Problems parsing request as json"
            )
        description = _transmission_problem(body)
        if description is not None:
            return Reply.error(422, "invalid data format/type", "1300", description)
        domain = _from_domain(body["content"]["from"])
        if self.verified_domains is not None and domain not in self.verified_domains:
            return Reply.error(
                400, "Invalid domain", "7001", f"Unconfigured Sending Domain <{domain}>"
            )
        return None

    def _enter(self) -> None:
        with self._lock:
            self._state.in_flight += 1
            self._state.max_in_flight = max(self._state.max_in_flight, self._state.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._state.in_flight -= 1

    def _record(self, post: Post) -> None:
        with self._lock:
            self._state.posts.append(post)


def _accepted_id(answer: Any) -> str | None:
    """The transmission id of an answer that accepted its recipient."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, dict) or not results.get("total_accepted_recipients"):
        return None
    return str(results["id"]) if results.get("id") else None


def _transmission_problem(body: dict[str, Any]) -> str | None:
    """SparkPost's description of what is wrong with a transmission, or None."""
    recipients = body.get("recipients")
    if recipients is None:
        return "recipients or list_id required"
    if not isinstance(recipients, list) or not recipients:
        return "Invalid recipients type - needs to be json_array or json_object"
    merged_metadata = dict(body.get("metadata") or {})
    for recipient in recipients:
        address = recipient.get("address") if isinstance(recipient, dict) else None
        email = address.get("email") if isinstance(address, dict) else address
        if not isinstance(email, str) or not email:
            return "address.email is required for each recipient"
        if "@" not in email:
            return f"invalid recipient address: {email}"
        if not isinstance(recipient.get("metadata", {}), dict):
            return "metadata : is not of type json_object"
        merged_metadata.update(recipient.get("metadata", {}))
    if not isinstance(body.get("metadata", {}), dict):
        return "metadata : is not of type json_object"
    if len(json.dumps(merged_metadata).encode()) > MAX_METADATA_BYTES:
        return f"metadata is larger than {MAX_METADATA_BYTES} bytes"
    campaign_id = body.get("campaign_id", "")
    if not isinstance(campaign_id, str):
        return "field 'campaign_id' must be a string"
    if len(campaign_id.encode("utf-8")) > MAX_CAMPAIGN_ID_BYTES:
        return (
            f"field 'campaign_id' is of length '{len(campaign_id.encode('utf-8'))}', "
            f"but needs to be of max length '{MAX_CAMPAIGN_ID_BYTES}'"
        )
    options = body.get("options", {})
    if not isinstance(options, dict):
        return "options : is not of type json_object"
    for flag in OPTION_FLAGS:
        if flag in options and not isinstance(options[flag], bool):
            return f"options.{flag} must be a boolean"
    return _content_problem(body.get("content"))


def _content_problem(content: Any) -> str | None:
    if not isinstance(content, dict):
        return "field 'content' is required"
    if not isinstance(content.get("subject"), str) or not content["subject"]:
        return "field 'subject' is required"
    if _from_domain(content.get("from")) is None:
        return "field 'from' is required"
    if not any(isinstance(content.get(part), str) and content[part] for part in ("html", "text")):
        return "No valid fields exist in the 'content' object"
    if "reply_to" in content and not isinstance(content["reply_to"], str):
        return "field 'reply_to' must be a string"
    headers = content.get("headers", {})
    if not isinstance(headers, dict):
        return "content.headers : is not of type json_object"
    for name, value in headers.items():
        if name.lower() in FORBIDDEN_HEADERS:
            return f"Header '{name}' is not allowed in content.headers"
        if not isinstance(value, str):
            return f"content.headers.{name} must be a string"
    return None


def _from_domain(sender: Any) -> str | None:
    email = sender.get("email") if isinstance(sender, dict) else sender
    if not isinstance(email, str) or "@" not in email:
        return None
    return email.rpartition("@")[2].lower()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SparkPost's front end speaks it
    server: Any

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        fake: FakeSparkPost = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply, body = fake._answer(self.path, headers, raw)
        # Recorded before answering, so that a client holding the answer sees its POST.
        status = None if reply.hang_up else reply.status
        fake._record(Post(self.path, headers, body, status, reply.body))
        fake._enter()
        try:
            if reply.delay:
                fake._stopping.wait(reply.delay)
            if reply.hang_up:
                self.close_connection = True
            else:
                self._send(reply)
        finally:
            fake._leave()

    def do_GET(self) -> None:
        fake: FakeSparkPost = self.server.fake
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body = fake.events.answer(self.path, headers, fake.api_key)
        self._send(Reply(status, body))

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up waiting (a read timeout): that is the point
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `posts`, not a log."""
