"""The loopback SparkPost's Events API: `GET /api/v1/events/message`, as documented.

Faithful to /work/shared/events-and-replies.md Part 1 (SparkPost's events.apib):
- `from` (inclusive) and `to` (exclusive) as `YYYY-MM-DDTHH:MM:ssZ`, defaults
  24 hours ago and 1 minute ago; `per_page` 1 to 10,000 (default 1000);
  `cursor` (default `initial`); the `events`, `recipients`, `transmissions` and
  `campaigns` filters (`campaigns` is a keyword search, as SparkPost's is), with
  `delimiter`; a malformed parameter gets 400 with SparkPost's error body;
- `{"results": [...], "total_count": N, "links": {"next": "/api/v1/events/message?..."}}`,
  newest first; `links.next` is a relative path that repeats every original
  parameter and carries a cursor, a base64 `[timestamp, event_id]` as SparkPost's
  are; the last page has `"links": {}`;
- the key in `Authorization` (raw, or `Basic base64("<key>:")`): 401
  `Unauthorized.` otherwise, 403 `Forbidden.` without the Events grant;
- events kept 10 days, and none visible before `delay` has passed since it happened.

Events are made for what the fake accepted: `injection` when the transmission is
accepted, then `delivery`, or the outcomes the test planned for that recipient.
Each event carries what SparkPost's do: `rcpt_meta` (the transmission's metadata
merged under the recipient's), `transmission_id` (the accepted `results.id`),
`message_id`, `rcpt_to` lower-cased, `raw_rcpt_to` as sent, `bounce_class`,
`error_code`, `msg_size` and `num_retries` as strings, `customer_id` as an
integer, timestamps alternating between `...000+00:00` and `...000Z`.

Knobs for tests (all on `FakeSparkPost.events`):
- `clock`: what "now" is (a `ManualClock` to step through time);
- `delay`: how long after it happened an event becomes visible (default 0);
- `plan(address, *outcomes)`: what happens to mail to that address after injection;
- `add(event)`: serve any raw event as it is (malformed, unknown type, foreign row);
- `fail_next(*statuses)`: answer the next event requests with these, 200 being a
  page as usual (429 carries `{"errors":[{"message":"Too many requests"}]}`);
- `repeat_across_pages`: each next page starts with the previous page's last event;
- `grant`: False answers 403, as a key without "Events Search: Read-Only" gets;
- `requests`: every event request as received.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

EVENTS_PATH = "/api/v1/events/message"
RETENTION = timedelta(days=10)
MAX_PER_PAGE = 10_000
DEFAULT_PER_PAGE = 1000
_PARAM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_ENGAGEMENT = {"initial_open", "open", "click", "amp_initial_open", "amp_open", "amp_click"}
_AFTER_DELIVERY = _ENGAGEMENT | {
    "out_of_band",
    "spam_complaint",
    "list_unsubscribe",
    "link_unsubscribe",
}
# SparkPost's canonical reason ("reason", address masked) and SMTP code per bounce class.
_BOUNCE_REASONS = {
    1: ("554", "554 5.0.0 Undetermined"),
    10: ("550", "550 5.1.1 <{masked}>... User unknown"),
    20: ("450", "450 4.2.0 Mailbox temporarily unavailable"),
    21: ("451", "451 4.4.4 DNS lookup failure for {domain}"),
    22: ("452", "452 4.2.2 <{masked}>... Mailbox full"),
    24: ("421", "421 4.4.2 Connection timed out"),
    25: (
        "554",
        "554 5.7.1 recipient address was suppressed due to customer policy (Bounce Rule)",
    ),
    30: ("550", "550 5.1.0 <{masked}>... No such recipient"),
    50: ("554", "554 5.7.1 Mail from this sender is blocked"),
    51: ("554", "554 5.7.1 Rejected as spam"),
    90: ("550", "550 5.7.1 <{masked}>... Recipient has unsubscribed"),
}


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class Outcome:
    """One event in a message's life, `after` the event before it."""

    type: str
    after: timedelta = timedelta(seconds=1)
    bounce_class: int | None = None

    @classmethod
    def delivery(cls) -> Outcome:
        return cls("delivery")

    @classmethod
    def bounce(cls, bounce_class: int = 10) -> Outcome:
        return cls("bounce", bounce_class=bounce_class)

    @classmethod
    def out_of_band(cls, bounce_class: int = 10) -> Outcome:
        return cls("out_of_band", timedelta(minutes=30), bounce_class)

    @classmethod
    def spam_complaint(cls) -> Outcome:
        return cls("spam_complaint", timedelta(hours=2))

    @classmethod
    def open(cls) -> Outcome:
        return cls("open", timedelta(minutes=5))

    @classmethod
    def click(cls) -> Outcome:
        return cls("click", timedelta(minutes=6))

    @classmethod
    def list_unsubscribe(cls) -> Outcome:
        return cls("list_unsubscribe", timedelta(hours=1))

    @classmethod
    def link_unsubscribe(cls) -> Outcome:
        return cls("link_unsubscribe", timedelta(hours=1))


@dataclass(frozen=True)
class EventRequest:
    """One GET of the events endpoint as the server saw it."""

    path: str  # with its query string
    headers: dict[str, str]  # names lower-cased
    status: int


@dataclass(frozen=True)
class _Stored:
    at: datetime  # when it happened: what from/to, order and the cursor use
    event_id: str
    event: dict[str, Any]

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.at, self.event_id)


@dataclass
class _Query:
    start: datetime
    end: datetime
    per_page: int
    after: tuple[datetime, str] | None  # the cursor: the last event of the previous page
    types: set[str] | None
    recipients: set[str] | None
    transmissions: set[str] | None
    campaigns: list[str] | None


class _BadRequest(Exception):
    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


def errors(message: str, code: str | None = None, description: str | None = None) -> dict:
    error: dict[str, str] = {"message": message}
    if description is not None:
        error["description"] = description
    if code is not None:
        error["code"] = code
    return {"errors": [error]}


def event_time(moment: datetime, zulu: bool) -> str:
    """SparkPost's two documented timestamp spellings, always with milliseconds."""
    text = (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    )
    return text + ("Z" if zulu else "+00:00")


@dataclass
class EventLog:
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    delay: timedelta = timedelta(0)
    repeat_across_pages: bool = False
    grant: bool = True
    _events: list[_Stored] = field(default_factory=list)
    _plans: dict[str, tuple[Outcome, ...]] = field(default_factory=dict)
    _failures: deque[int] = field(default_factory=deque)
    _requests: list[EventRequest] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(92356927693813856))
    _messages: Any = field(default_factory=lambda: itertools.count(0x443EE14578172BE22))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what tests set ------------------------------------------------------

    def plan(self, address: str, *outcomes: Outcome) -> None:
        """What happens after mail to `address` is injected (default: a delivery). An
        outcome that needs a delivery first (open, click, complaint, out_of_band,
        unsubscribe) gets one unless the plan has a delivery or a bounce."""
        with self._lock:
            self._plans[address.lower()] = outcomes

    def add(self, event: dict[str, Any], at: datetime | None = None) -> None:
        """Serve this event as it is, as happened `at` (default: now)."""
        moment = at or self.clock()
        with self._lock:
            self._events.append(_Stored(moment, str(event.get("event_id", "")), event))

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._failures.extend(statuses)

    @property
    def requests(self) -> list[EventRequest]:
        with self._lock:
            return list(self._requests)

    def all_events(self) -> list[dict[str, Any]]:
        """Every event made so far, visible or not, newest first."""
        with self._lock:
            return [s.event for s in sorted(self._events, key=lambda s: s.order, reverse=True)]

    # -- called by the transmissions endpoint --------------------------------

    def accepted(self, transmission: dict[str, Any], transmission_id: str) -> None:
        """SparkPost took this transmission: its recipients' events begin now."""
        injected = self.clock()
        shared_meta = transmission.get("metadata") or {}
        for recipient in transmission.get("recipients") or []:
            address = recipient["address"]
            raw_to = address["email"] if isinstance(address, dict) else address
            with self._lock:
                outcomes = self._outcomes(raw_to.lower())
                message_id = f"{next(self._messages):020x}"
                base = _base_event(transmission, recipient, raw_to, shared_meta)
                base.update(transmission_id=transmission_id, message_id=message_id)
                base["injection_time"] = event_time(injected, zulu=False)
                at = injected
                for kind, after, bounce_class in [("injection", timedelta(0), None)] + [
                    (o.type, o.after, o.bounce_class) for o in outcomes
                ]:
                    at += after  # each outcome `after` the one before it
                    event_id = self._event_id(kind)
                    event = {**base, "type": kind, "event_id": event_id}
                    event["timestamp"] = event_time(at, zulu=len(self._events) % 2 == 1)
                    event.update(_type_fields(kind, raw_to, bounce_class))
                    self._events.append(_Stored(at, event_id, event))

    def _outcomes(self, address: str) -> tuple[Outcome, ...]:
        plan = self._plans.get(address, (Outcome.delivery(),))
        kinds = {o.type for o in plan}
        if kinds & _AFTER_DELIVERY and not kinds & {"delivery", "bounce"}:
            plan = (Outcome.delivery(), *plan)
        return plan

    def _event_id(self, kind: str) -> str:
        # "not consistent across events": an integer, or a UUID for engagement.
        return str(uuid.uuid4()) if kind in _ENGAGEMENT else str(next(self._ids))

    # -- the endpoint ----------------------------------------------------------

    def answer(self, target: str, headers: dict[str, str], api_key: str) -> tuple[int, dict]:
        status, body = self._answer(target, headers, api_key)
        with self._lock:
            self._requests.append(EventRequest(target, headers, status))
        return status, body

    def _answer(self, target: str, headers: dict[str, str], api_key: str) -> tuple[int, dict]:
        parts = urlsplit(target)
        if parts.path != EVENTS_PATH:
            return 404, errors("resource not found", "1600", f"path {parts.path} does not exist")
        if not _authorized(headers.get("authorization", ""), api_key):
            return 401, errors("Unauthorized.")
        if not self.grant:
            return 403, errors("Forbidden.")
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure == 429:
            return 429, errors("Too many requests")
        if failure is not None and failure != 200:
            return failure, errors(f"Could not proceed ({failure} error)")
        params = parse_qsl(parts.query, keep_blank_values=True)
        now = self.clock()
        try:
            query = _query(dict(params), now)
        except _BadRequest as exc:
            return 400, errors(
                "invalid data format/type",
                "1300",
                f"Error while validating parameter {exc.parameter}: {exc}",
            )
        return 200, self._page(query, params, now)

    def _page(self, query: _Query, params: list[tuple[str, str]], now: datetime) -> dict:
        with self._lock:
            matching = sorted(
                (s for s in self._events if self._visible(s, now) and _matches(s, query)),
                key=lambda s: s.order,
                reverse=True,
            )
        rest = [s for s in matching if query.after is None or s.order < query.after]
        page = rest[: query.per_page]
        more = len(rest) > len(page)
        if query.after is not None and self.repeat_across_pages and query.per_page > 1:
            # Re-send the event the cursor points at, as SparkPost may at a page edge.
            edge = [s for s in matching if s.order == query.after]
            page = (edge + rest)[: query.per_page]
            more = len(rest) > len(page) - len(edge)
        links: dict[str, str] = {}
        if more and page:
            links["next"] = _next_link(params, page[-1])
        return {"results": [s.event for s in page], "total_count": len(matching), "links": links}

    def _visible(self, stored: _Stored, now: datetime) -> bool:
        return stored.at + self.delay <= now and stored.at >= now - RETENTION


def _authorized(value: str, api_key: str) -> bool:
    if value == api_key:
        return True
    if value.startswith("Basic "):
        try:
            return base64.b64decode(value[6:], validate=True).decode() == f"{api_key}:"
        except (binascii.Error, UnicodeDecodeError):
            return False
    return False


def _query(params: dict[str, str], now: datetime) -> _Query:
    start = _param_time(params, "from", now - timedelta(hours=24))
    end = _param_time(params, "to", now - timedelta(minutes=1))
    if start >= end:
        raise _BadRequest("from", "from must be before to")
    try:
        per_page = int(params.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        raise _BadRequest("per_page", "must be an integer") from None
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _BadRequest("per_page", f"must be between 1 and {MAX_PER_PAGE}")
    delimiter = params.get("delimiter", ",")

    def listed(name: str) -> list[str] | None:
        value = params.get(name)
        return [v.strip() for v in value.split(delimiter) if v.strip()] if value else None

    types, recipients, transmissions = (
        listed("events"),
        listed("recipients"),
        listed("transmissions"),
    )
    return _Query(
        start=start,
        end=end,
        per_page=per_page,
        after=_cursor(params.get("cursor", "initial")),
        types=set(types) if types else None,
        recipients={r.lower() for r in recipients} if recipients else None,
        transmissions=set(transmissions) if transmissions else None,
        campaigns=listed("campaigns"),
    )


def _param_time(params: dict[str, str], name: str, default: datetime) -> datetime:
    if name not in params:
        return default
    if not _PARAM_TIME.match(params[name]):
        raise _BadRequest(name, f"{params[name]!r} is not of the form YYYY-MM-DDTHH:MM:ssZ")
    return datetime.strptime(params[name], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _cursor(value: str) -> tuple[datetime, str] | None:
    if value == "initial":
        return None
    try:
        moment, event_id = json.loads(base64.b64decode(value, validate=True))
        return datetime.fromisoformat(moment), str(event_id)
    except (ValueError, TypeError, binascii.Error):
        raise _BadRequest("cursor", "invalid cursor") from None


def _next_link(params: list[tuple[str, str]], last: _Stored) -> str:
    position = json.dumps([last.at.isoformat(), last.event_id]).encode()
    kept = [(k, v) for k, v in params if k != "cursor"]
    kept.append(("cursor", base64.b64encode(position).decode()))
    return f"{EVENTS_PATH}?{urlencode(kept, safe=',:')}"


def _matches(stored: _Stored, query: _Query) -> bool:
    event = stored.event
    if not query.start <= stored.at < query.end:
        return False
    if query.types is not None and event.get("type") not in query.types:
        return False
    if query.recipients is not None and str(event.get("rcpt_to")) not in query.recipients:
        return False
    if query.transmissions is not None and event.get("transmission_id") not in query.transmissions:
        return False
    campaign = str(event.get("campaign_id", ""))
    return query.campaigns is None or any(word in campaign for word in query.campaigns)


def _base_event(
    transmission: dict[str, Any], recipient: dict[str, Any], raw_to: str, shared: dict[str, Any]
) -> dict[str, Any]:
    content = transmission.get("content") or {}
    sender = content.get("from") or {}
    from_email = sender.get("email") if isinstance(sender, dict) else sender
    event: dict[str, Any] = {
        "rcpt_to": raw_to.lower(),
        "raw_rcpt_to": raw_to,
        # "Recipient metadata takes precedence over transmission metadata."
        "rcpt_meta": {**shared, **(recipient.get("metadata") or {})},
        "rcpt_tags": list(recipient.get("tags") or []),
        "campaign_id": transmission.get("campaign_id", ""),
        "subject": content.get("subject", ""),
        "friendly_from": from_email,
        "msg_from": f"msprvs1=bounce@{str(from_email).rpartition('@')[2]}",
        "routing_domain": raw_to.rpartition("@")[2].lower(),
        "customer_id": 1,
        "ip_pool": "default",
        "sending_ip": "192.0.2.10",
        "msg_size": "1337",
        "num_retries": "0",
        "recv_method": "rest",
    }
    if content.get("template_id"):
        event["template_id"] = content["template_id"]
    return event


def _type_fields(kind: str, raw_to: str, bounce_class: int | None) -> dict[str, Any]:
    if kind == "delivery":
        return {"queue_time": "1042", "outbound_tls": "1", "ip_address": "198.51.100.25"}
    if kind in ("bounce", "out_of_band"):
        local, _, domain = raw_to.partition("@")
        code, text = _BOUNCE_REASONS.get(bounce_class or 1, _BOUNCE_REASONS[1])
        raw = text.format(masked=raw_to, domain=domain)
        return {
            "bounce_class": str(bounce_class or 1),
            "error_code": code,
            "reason": text.format(masked=f"{local[:1]}...@{domain}", domain=domain),
            "raw_reason": raw,
        }
    if kind == "spam_complaint":
        return {
            "fbtype": "abuse",
            "report_by": "server.email.com",
            "report_to": "abuse.example.com",
        }
    if kind in _ENGAGEMENT:
        fields = {"user_agent": "Mozilla/5.0", "ip_address": "203.0.113.7"}
        if kind.endswith("click"):
            fields.update(target_link_url="https://example.com/offer", target_link_name="offer")
        return fields
    if kind == "link_unsubscribe":
        return {"user_agent": "Mozilla/5.0", "target_link_url": "https://example.com/unsubscribe"}
    if kind == "list_unsubscribe":
        return {"mailfrom": raw_to}
    return {}


_ids = itertools.count(10**9)


def raw_event(
    kind: str,
    row: str | None,
    at: datetime,
    to: str = "ana@example.org",
    transmission: str | None = None,
    message: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An event as the Events API spells it, for tests that hand the store a page."""
    event: dict[str, Any] = {
        "type": kind,
        "event_id": str(next(_ids)),
        "timestamp": event_time(at, zulu=bool(at.second % 2)),
        "rcpt_to": to,
        "raw_rcpt_to": to,
        "campaign_id": "spring",
        "message_id": message or f"msg-{row}",
        "num_retries": "0",
    }
    if transmission:
        event["transmission_id"] = transmission
    if row is not None:
        event["rcpt_meta"] = {"email_id": row}
    event.update(fields)
    return event
