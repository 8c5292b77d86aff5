"""Reading one time window of SparkPost's Events API, page by page.

`GET {SPARKPOST_API_URL}/events/message?from=..&to=..&per_page=..&cursor=initial`,
then each `links.next` (a relative path that carries the cursor and every
filter) with the host in front, until a page has no `next`. A page is handed
over as it arrives, so the store can take each in its own transaction.

Every failure is one class of `errors`, so the poller knows what to do:
- 429 and 5xx, a timeout, a dropped connection, an answer that is not the
  documented page: retried here with backoff (GET is safe to repeat), then
  `EventsBusy` (a TransientError): the poll stops where it is and the next one
  tries again;
- 401 (wrong key), 403 (the key lacks the "Events Search: Read-Only" grant),
  connection refused, a URL that answers 404: `EventsRefused` (a
  SystemicError): no poll can work until a person acts, and the message says what;
- 400 (SparkPost refused the query, e.g. a cursor it no longer knows):
  `EventsQueryRefused`, with SparkPost's words.
The API key is only ever in the `Authorization` header, and scrubbed from any
text SparkPost's answer puts in an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

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

from ..errors import SystemicError, TransientError
from ..logs import Redactor
from ..senders.sparkpost import Backoff
from .windows import Window

log = structlog.get_logger("campaign_runner")

EVENTS = "/events/message"
PER_PAGE = 1000  # SparkPost's default; 1 to 10,000
# SparkPost says "wait 1 to 5 seconds" after a 429, and to back off further under load.
BACKOFF = Backoff(attempts=5, initial=2.0, maximum=30.0, jitter=1.0)
GRANT = "Events Search: Read-Only"
_DETAIL_MAX_CHARS = 300


class EventsBusy(TransientError):
    """SparkPost answered "not now" (429, 5xx) or not at all in time, every try."""


class EventsRefused(SystemicError):
    """No poll can work until a person fixes the key, its grant or the URL."""


class EventsQueryRefused(SystemicError):
    """SparkPost refused the query itself (400): its parameters or a stale cursor."""


class _Retry(Exception):
    """One try failed in a way the next may not."""

    def __init__(self, message: str, systemic: bool = False) -> None:
        super().__init__(message)
        self.systemic = systemic


@dataclass(frozen=True)
class Page:
    events: list[Any]
    total_count: int | None
    next_path: str | None  # the relative path of the next page; None on the last


class EventsClient:
    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        per_page: int = PER_PAGE,
        timeout_seconds: float = 30.0,
        backoff: Backoff = BACKOFF,
    ) -> None:
        if not 1 <= per_page <= 10_000:
            raise ValueError("per_page must be between 1 and 10,000")
        parts = urlsplit(api_url.rstrip("/"))
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.first_path = f"{parts.path}{EVENTS}"
        self.per_page = per_page
        self.backoff = backoff
        self._redactor = Redactor([api_key])
        self._client = httpx.Client(
            headers={"Authorization": api_key, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds),
        )

    def pages(self, window: Window, resume: str | None = None) -> Iterator[Page]:
        """Every page of `window`, newest events first; from `resume` (a `next_path`
        of an earlier read of the same window) when given."""
        path = resume or self.first_path + "?" + urlencode(
            {**window.params(), "per_page": str(self.per_page), "cursor": "initial"}, safe=":"
        )
        while True:
            page = self._get(path)
            yield page
            if page.next_path is None:
                return
            path = page.next_path

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EventsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one page -----------------------------------------------------------

    def _get(self, path: str) -> Page:
        retrying = Retrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(self.backoff.attempts),
            wait=wait_exponential(multiplier=self.backoff.initial, max=self.backoff.maximum)
            + wait_random(0, self.backoff.jitter),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return retrying(self._try, path)
        except _Retry as exc:
            tries = f"{exc} (tries: {self.backoff.attempts})"
            if exc.systemic:
                raise EventsRefused(tries) from None
            raise EventsBusy(f"{tries}; backing off until the next poll") from None

    def _try(self, path: str) -> Page:
        url = self.origin + path
        try:
            response = self._client.get(url)
        except httpx.ConnectError as exc:
            raise _Retry(
                f"SparkPost events API not reached at {self.origin}: {type(exc).__name__}"
                " (check SPARKPOST_API_URL and the network)",
                systemic=True,
            ) from None
        except httpx.HTTPError as exc:
            raise _Retry(f"SparkPost events API failed: {type(exc).__name__}") from None
        return self._page(response)

    def _page(self, response: httpx.Response) -> Page:
        status = response.status_code
        answer = _json_object(response)
        detail = self._describe(answer, response)
        if status == 401:
            raise EventsRefused(
                f"SparkPost refused the API key for events (401: {detail}): check SPARKPOST_API_KEY"
            )
        if status == 403:
            raise EventsRefused(
                f"SparkPost will not show this key the events (403: {detail}): "
                f"give the API key the {GRANT!r} grant"
            )
        if status == 429 or status >= 500:
            raise _Retry(f"SparkPost events API busy ({status}: {detail})")
        if status in (400, 422):
            raise EventsQueryRefused(f"SparkPost refused the events query ({status}: {detail})")
        if not response.is_success:
            raise EventsRefused(
                f"SparkPost answered {status} at {self.origin}{self.first_path}: {detail} "
                "(check SPARKPOST_API_URL)"
            )
        results = answer.get("results")
        links = answer.get("links")
        if not isinstance(results, list) or not isinstance(links, dict):
            raise _Retry(f"SparkPost answered {status} without a page of events")
        return Page(results, _int(answer.get("total_count")), self._next(links.get("next")))

    def _next(self, link: Any) -> str | None:
        if not link:
            return None
        if not isinstance(link, str):
            raise _Retry("SparkPost's links.next is not a path")
        parts = urlsplit(link)
        if parts.netloc and f"{parts.scheme}://{parts.netloc}" != self.origin:
            # The key goes wherever we follow: never to another host.
            raise EventsRefused(f"SparkPost's links.next points at another host ({parts.netloc})")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _describe(self, answer: dict[str, Any], response: httpx.Response) -> str:
        errors = answer.get("errors")
        parts = [
            " - ".join(str(e[k]) for k in ("message", "description") if e.get(k))
            for e in (errors if isinstance(errors, list) else [])
            if isinstance(e, dict)
        ]
        detail = "; ".join(p for p in parts if p) or response.reason_phrase or "no detail"
        return self._redactor.scrub(detail)[:_DETAIL_MAX_CHARS]


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "events_api_retry",
        attempt=state.attempt_number,
        wait_seconds=round(state.upcoming_sleep, 2),
        error=str(error),
    )
