"""Delivery through SparkPost's transmissions API, one recipient per transmission.

Every answer and every failure becomes one class of `errors`, and the
pipeline decides the row's fate from the class alone:

- 2xx with `results.id`: the id is returned (`sent`);
- 2xx with `rcpt_to_errors` or `total_rejected_recipients > 0`: RecipientRejected
  (`failed`, and counted by the bounce guard);
- 400/422 about the sending domain (code 7001): SystemicError with
  `sending_domain`, so that only that domain stops for the cycle;
- 400/422 about the recipient: RecipientRejected; any other 400/422 (about the
  request), 413: RowError; both with SparkPost's own text;
- 401, 403, 420 (sending limit): SystemicError (row back to `queued`, cycle stops);
- 429 and 5xx: retried here with backoff and jitter (SPARKPOST_ATTEMPTS tries
  in all), then TransientError (`queued` later, attempt counted, `failed` at
  MAX_ATTEMPTS): SparkPost answered, and said "not now";
- SparkPost not reached at all (connection refused, connect timeout): retried
  the same way, then SystemicError: nothing answers, every row behind this one
  would meet the same, so the row goes back to `queued` with its attempt given
  back and the worker backs off; an outage of any length fails no row;
- the request may have left and no usable answer came: AmbiguousError
  (`failed`, never retried);
- anything else (a redirect, 404, 405): SystemicError, since it means
  SPARKPOST_API_URL points elsewhere and every row would meet the same answer.

Did the request reach SparkPost?

SparkPost has no idempotency key: a transmission posted twice is two emails.
So a failure is retried only when we can show that not one byte of the
request was written:

- `httpx.ConnectError`, `httpx.ConnectTimeout`: the TCP connection or the TLS
  handshake failed, and httpx writes nothing before both are done;
- `httpx.PoolTimeout`: no connection of our own pool became free in time.

Anything else httpx raises counts as "may have arrived" (AmbiguousError):

- `httpx.ReadTimeout`: the request was written whole and no answer came in
  time: the classic ambiguous case;
- `httpx.RemoteProtocolError` ("Server disconnected without sending a
  response") and `httpx.ReadError` (connection reset): the connection died
  after the request, or part of it, was written. httpcore swallows a failed
  write and goes on to read, so a connection lost while writing surfaces here
  too: a write failure cannot be told apart from a lost answer;
- `httpx.WriteTimeout`, `httpx.WriteError`: part of the request was written.
  A half-written body cannot have created a transmission, but for the reason
  just given its twin reaches us as a read error, and one rule ("the first
  byte left: never retry") is harder to get wrong than a rule with an
  exception. A write stalled for the whole timeout is rare, and the row then
  fails with a reason a person can act on;
- every other httpx error (proxy, protocol, decoding): not on the short list
  above, so not shown to be unsent;
- a 2xx without `results.id`: SparkPost took the request, but we cannot tell
  what became of it.

A 5xx is retried because SparkPost documents it as "retry later" (and a
refused transmission as sending nothing); that is SparkPost's promise, not
something this module can check.

The API key is only ever in the `Authorization` header; any text from
SparkPost that ends up in an error is scrubbed of it anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from ..addresses import ascii_address
from ..config import Config, ConfigError
from ..errors import AmbiguousError, RecipientRejected, RowError, SystemicError, TransientError
from ..logs import Redactor
from ..models import Message
from . import mime

log = structlog.get_logger("campaign_runner")

MAX_CONNECTIONS = 10
CONNECT_TIMEOUT_SECONDS = 10.0  # a connection not up by then will not come up; failing it is safe
CAMPAIGN_ID_MAX_BYTES = 64
# SparkPost builds these itself and refuses them in content.headers (compared case-insensitively).
FORBIDDEN_HEADERS = frozenset(
    {"subject", "from", "to", "reply-to", "content-type", "content-transfer-encoding"}
)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UNVERIFIED_DOMAIN_CODE = "7001"
# Since 2019 SparkPost may leave `code` out; the 7001 texts all name the "Sending Domain".
_DOMAIN_TEXT = re.compile(r"sending domain", re.IGNORECASE)
_RECIPIENT_CODES = frozenset({"1902", "5002"})  # message generation rejected; no valid recipient
_DETAIL_MAX_CHARS = 500
# SparkPost runs its own template engine over subject, bodies and headers: `{{ x }}` written
# by a contact or a model must arrive as text, not as an expression.
_CURLIES = re.compile(r"\{\{|\}\}")
_CURLY_MACROS = {"{{": "{{opening_double_curly()}}", "}}": "{{closing_double_curly()}}"}


@dataclass(frozen=True)
class Backoff:
    """How `send` retries one transmission that certainly did not go out."""

    attempts: int = 3  # tries in all, the first included
    initial: float = 1.0  # seconds before the first retry; doubles after each
    maximum: float = 8.0
    jitter: float = 1.0  # up to this many seconds added at random, so workers do not align


def transactional(config: Config) -> bool:
    """SparkPost puts its own List-Unsubscribe on non-transactional mail, over ours
    (DESIGN.md, SparkPost). With our own one-click endpoint the mail goes out
    transactional, so ours, pointing at our suppressions, is the one that arrives."""
    return config.sparkpost_transactional or bool(config.unsubscribe_base_url)


class _Unreachable(TransientError):
    """Nothing answered: retried like any transient failure, then a system fault."""


def utf8_prefix(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8, never half a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def literal(text: str) -> str:
    """`text` as SparkPost's substitution engine will print it, unevaluated."""
    return _CURLIES.sub(lambda match: _CURLY_MACROS[match.group()], text)


class SparkPostSender:
    """Thread-safe: the pipeline's workers share one pooled connection set."""

    def __init__(self, config: Config, backoff: Backoff | None = None) -> None:
        key = config.sparkpost_api_key
        if not (key and key.isascii() and key.isprintable() and " " not in key):
            # Caught here, not by the first send: by then every row would go out ambiguous.
            raise ConfigError(
                "SPARKPOST_API_KEY=(hidden): expected a key of printable ASCII without spaces"
            )
        self.url = f"{config.sparkpost_api_url}/transmissions"
        self.backoff = backoff or Backoff(attempts=config.sparkpost_attempts)
        self.options = {
            "open_tracking": config.sparkpost_track_opens,
            "click_tracking": config.sparkpost_track_clicks,
            "transactional": transactional(config),
        }
        if config.sparkpost_sandbox:
            self.options["sandbox"] = True
        self._redactor = Redactor([key])
        seconds = config.sparkpost_timeout_seconds
        self._client = httpx.Client(
            headers={
                "Authorization": key,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(
                connect=min(seconds, CONNECT_TIMEOUT_SECONDS),
                read=seconds,
                write=seconds,
                pool=seconds,
            ),
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
        )

    def send(self, message: Message) -> str:
        try:
            body = json.dumps(self.transmission(message)).encode("utf-8")
        except ValueError as exc:
            raise RowError(f"cannot build the transmission: {exc}") from None
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.backoff.attempts),
            # Spelled as a sum: wait_exponential_jitter's arguments differ across tenacity 8 and 9.
            wait=wait_exponential(multiplier=self.backoff.initial, max=self.backoff.maximum)
            + wait_random(0, self.backoff.jitter),
            before_sleep=_log_retry(message.email_id),
            reraise=True,
        )
        try:
            return retrying(self._post, message, body)
        except _Unreachable as exc:
            raise SystemicError(f"{exc} (tries: {self.backoff.attempts})") from exc

    def transmission(self, message: Message) -> dict[str, Any]:
        """The request body: one recipient, whose metadata comes back on every event.

        Addresses go out as the outbox writes them: domains in IDNA 2008 A-labels, a
        non-ASCII local part refused (ValueError), the Reply-To as its header value."""
        sender = {"email": literal(ascii_address(message.from_email))}
        if message.from_name:
            sender["name"] = literal(message.from_name)
        content: dict[str, Any] = {
            "from": sender,
            "subject": literal(message.subject),
            "text": literal(message.text),
            "html": literal(message.html),
            "headers": {
                name: literal(value)
                for name, value in message.headers.items()
                if name.lower() not in FORBIDDEN_HEADERS
            },
        }
        if message.reply_to:
            content["reply_to"] = literal(mime.reply_to(message.reply_to))
        address = {"email": ascii_address(message.to_email)}
        if message.to_name:
            address["name"] = message.to_name
        return {
            "campaign_id": utf8_prefix(message.campaign_id, CAMPAIGN_ID_MAX_BYTES),
            "options": self.options,
            "recipients": [
                {
                    "address": address,
                    "metadata": {"email_id": message.email_id, "campaign_id": message.campaign_id},
                }
            ],
            "content": content,
        }

    def close(self) -> None:
        self._client.close()

    # -- one try ------------------------------------------------------------

    def _post(self, message: Message, body: bytes) -> str:
        try:
            response = self._client.post(self.url, content=body)
        except _NOT_SENT as exc:
            raise _Unreachable(f"SparkPost not reached, nothing sent: {_name(exc)}") from exc
        except httpx.HTTPError as exc:
            raise AmbiguousError(
                f"SparkPost connection failed after the request went out ({_name(exc)}); "
                "it may have been delivered"
            ) from exc
        return self._verdict(message, response)

    def _verdict(self, message: Message, response: httpx.Response) -> str:
        status = response.status_code
        answer = _json_object(response)
        errors = _error_list(answer.get("errors"))
        if response.is_success:
            return self._accepted(answer, errors, response)
        detail = self._describe(errors, response)
        if status in (401, 403):
            raise SystemicError(f"SparkPost refused the API key ({status}): {detail}")
        if status == 420:
            raise SystemicError(f"SparkPost sending limit reached (420): {detail}")
        if status in (400, 422):
            if _code_in(errors, {_UNVERIFIED_DOMAIN_CODE}) or _DOMAIN_TEXT.search(detail):
                domain = message.from_email.rpartition("@")[2].lower()
                raise SystemicError(
                    f"SparkPost will not send from {domain} ({status}): {detail}",
                    sending_domain=domain,
                )
            if _about_recipient(errors):
                raise RecipientRejected(f"recipient rejected by SparkPost ({status}): {detail}")
            raise RowError(f"SparkPost refused the message ({status}): {detail}")
        if status == 413:
            raise RowError(f"SparkPost refused the message as too large (413): {detail}")
        if status == 429 or status >= 500:
            raise TransientError(f"SparkPost busy ({status}): {detail}")
        # A redirect, 404 or 405 means SPARKPOST_API_URL points elsewhere: nothing was sent,
        # and every row would meet the same answer.
        raise SystemicError(
            f"SparkPost answered {status} at {self.url}: {detail} (check SPARKPOST_API_URL)"
        )

    def _accepted(
        self, answer: dict[str, Any], errors: list[dict[str, Any]], response: httpx.Response
    ) -> str:
        results = answer.get("results")
        if not isinstance(results, dict) or not results.get("id"):
            raise AmbiguousError(
                f"SparkPost answered {response.status_code} without a transmission id; "
                "it may have been delivered"
            )
        refused = _error_list(results.get("rcpt_to_errors"))
        if refused or _count(results.get("total_rejected_recipients")) > 0:
            detail = self._describe(refused or errors, response)
            raise RecipientRejected(f"recipient rejected by SparkPost: {detail}")
        return str(results["id"])

    def _describe(self, errors: list[dict[str, Any]], response: httpx.Response) -> str:
        parts = []
        for error in errors:
            text = " - ".join(
                str(error[field]) for field in ("message", "description") if error.get(field)
            )
            if error.get("code") is not None:
                text += f" (code {error['code']})"
            parts.append(text)
        detail = "; ".join(parts) or f"HTTP {response.status_code} {response.reason_phrase}"
        return self._redactor.scrub(detail)[:_DETAIL_MAX_CHARS]


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; a gateway's HTML error page or an empty body gives `{}`."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _error_list(value: Any) -> list[dict[str, Any]]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _code_in(errors: list[dict[str, Any]], codes: set[str] | frozenset[str]) -> bool:
    # Documented as a string, but some answers carry a number.
    return any(str(error.get("code")) in codes for error in errors)


def _about_recipient(errors: list[dict[str, Any]]) -> bool:
    return _code_in(errors, _RECIPIENT_CODES) or any(
        "recipient" in f"{e.get('message', '')} {e.get('description', '')}".lower() for e in errors
    )


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _name(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _log_retry(email_id: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "sparkpost_retry",
            email_id=email_id,
            attempt=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 2),
            error=str(error),
        )

    return before_sleep
