"""Content written just in time by a Groq model, through the `groq` SDK.

One row, one conversation: the prompt (`prompt`), an answer, the guardrails
(`guardrails`); a bad answer goes back to the model with what was wrong, up
to `GROQ_MAX_FIX_ATTEMPTS` times, and then the row fails saying what was
wrong. Around each request sits the transport policy, ours alone (the SDK's
own retries are off): the process-wide `limiter` first; timeouts and 5xx
retried with backoff and jitter, then `TransientError`; a 429 pauses every
thread for its `retry-after`; a refused key or a model that is not there
stops the cycle (`SystemicError`), since every row would fail the same way,
and so does a Groq that cannot be reached at all after the retries;
any other 4xx fails the row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import groq
import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import WaitBaseT

from ..config import Config
from ..errors import CampaignGone, RowError, SystemicError, TransientError
from ..logs import Redactor
from ..metrics import Metrics
from ..models import Content, Email
from ..render import personalize
from . import guardrails, limiter, prompt
from .template import TemplateGenerator

log = structlog.get_logger("campaign_runner")

ATTEMPTS = 3  # per request, for timeouts, 5xx and 429s
MAX_PAUSE_SECONDS = 60.0  # a longer retry-after is a spent quota: stop the cycle instead
DEFAULT_PAUSE_SECONDS = 10.0  # a 429 without a usable retry-after
BACKOFF = wait_random_exponential(multiplier=1, max=10)
_MISSING_MODEL_CODES = ("model_not_found", "model_decommissioned")


class _Retryable(Exception):
    """A request that may work if sent again: timeout, connection, 5xx."""


class _Unreachable(_Retryable):
    """No connection to Groq at all: after the retries, a system fault, not the row's."""


class _RateLimited(_Retryable):
    """A 429; the limiter is already paused, so the retry waits without a backoff of its own."""


class _NotJson(Exception):
    """JSON mode could not produce JSON (400 json_validate_failed): a bad answer to fix.
    Groq returns what the model wrote as `failed_generation`."""

    def __init__(self, generation: str) -> None:
        super().__init__(generation)
        self.generation = generation


@dataclass
class _Reply:
    text: str | None
    model: str | None = None
    cut_off: bool = False  # the answer hit GROQ_MAX_TOKENS
    usage: Counter[str] = field(default_factory=Counter)


class GroqGenerator:
    def __init__(
        self,
        config: Config,
        rate_limiter: limiter.Limiter | None = None,
        backoff: WaitBaseT = BACKOFF,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self._metrics = metrics or Metrics()
        self._client = groq.Groq(
            api_key=config.groq_api_key,
            base_url=config.groq_base_url,
            timeout=config.groq_timeout_seconds,
            max_retries=0,
        )
        self._limiter = rate_limiter or limiter.shared(config.groq_rpm, config.groq_tpm)
        self._backoff = backoff
        self._redact = Redactor([config.groq_api_key]).scrub
        # A campaign with a body_template and no ai_prompt needs no model.
        self._template = TemplateGenerator()

    def generate(self, email: Email) -> Content:
        campaign = email.campaign
        if campaign is None:
            raise CampaignGone(f"campaign {email.campaign_id} no longer exists")
        ai_prompt = (campaign.ai_prompt or "").strip()
        if not ai_prompt:
            return self._template.generate(email)
        subject = email.subject or None  # a subject set by the row or campaign is not the model's
        if not subject and (campaign.subject or "").strip():
            subject = personalize(campaign.subject or "", email, "campaign subject")
        rules = guardrails.Rules(needs_subject=not subject, allowed_links=ai_prompt)
        messages = prompt.build_messages(email, ai_prompt, subject)
        usage: Counter[str] = Counter()
        problems: list[str] = []
        for attempt in range(self.config.groq_max_fix_attempts + 1):
            reply = self._complete(messages)
            usage += reply.usage
            try:
                draft = guardrails.check(reply.text, rules)
            except guardrails.BadAnswer as bad:
                problems = bad.problems
                if reply.cut_off:
                    problems = [
                        f"the answer was cut off at GROQ_MAX_TOKENS={self.config.groq_max_tokens}",
                        *problems,
                    ]
                log.warning(
                    "groq_answer_rejected",
                    email_id=email.id,
                    attempt=attempt + 1,
                    problems=problems,
                )
                messages = [*messages, *prompt.correction(reply.text, problems)]
                continue
            return Content(
                subject=subject or draft.subject,
                body=draft.body,
                model=reply.model or self.config.groq_model,
                usage=dict(usage),
            )
        tries = self.config.groq_max_fix_attempts + 1
        raise RowError(
            f"groq: no usable answer in {tries} {'try' if tries == 1 else 'tries'}; "
            f"last problems: {'; '.join(problems)}"
        )

    # -- one answer, with the transport policy ---------------------------------

    def _complete(self, messages: prompt.Messages) -> _Reply:
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(ATTEMPTS),
            wait=self._wait,
            reraise=True,
        )
        try:
            return retrying(self._request, messages)
        except _NotJson as exc:
            return _Reply(text=exc.generation or None)
        except _RateLimited as exc:
            raise SystemicError(f"groq: still rate limited after {ATTEMPTS} tries: {exc}") from None
        except _Unreachable as exc:
            raise SystemicError(f"groq not reached after {ATTEMPTS} tries: {exc}") from None
        except _Retryable as exc:
            raise TransientError(f"groq: {exc} ({ATTEMPTS} tries)") from None

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        return 0.0 if isinstance(failure, _RateLimited) else self._backoff(state)

    def _request(self, messages: prompt.Messages) -> _Reply:
        estimate = prompt.estimate_tokens(messages) + self.config.groq_max_tokens
        try:
            spend = self._limiter.acquire(estimate, max_wait=MAX_PAUSE_SECONDS)
        except limiter.Paused as exc:
            raise SystemicError(f"groq: generation {exc} after a rate limit") from None
        if spend.waited:
            self._metrics.throttled("limiter")
        try:
            response = self._client.chat.completions.create(
                model=self.config.groq_model,
                messages=messages,  # type: ignore[arg-type]
                response_format={"type": "json_object"},
                temperature=self.config.groq_temperature,
                max_completion_tokens=self.config.groq_max_tokens,
            )
        except groq.APIError as exc:
            self._limiter.settle(spend, spend.tokens)  # Groq may have counted it: keep the booking
            raise self._failure(exc) from None
        used = response.usage
        self._limiter.settle(spend, used.total_tokens if used else spend.tokens)
        reply = _Reply(text=None, model=response.model)
        if used is not None:
            reply.usage.update(
                prompt_tokens=used.prompt_tokens, completion_tokens=used.completion_tokens
            )
        if response.choices:
            reply.text = response.choices[0].message.content
            reply.cut_off = response.choices[0].finish_reason == "length"
        return reply

    def _failure(self, exc: groq.APIError) -> Exception:
        """What an SDK error means for the row; see the module's docstring."""
        if isinstance(exc, groq.APITimeoutError):
            return _Retryable(
                f"no answer within GROQ_TIMEOUT_SECONDS={self.config.groq_timeout_seconds:g}"
            )
        if isinstance(exc, groq.RateLimitError):
            return self._rate_limited(exc)
        if isinstance(exc, groq.APIStatusError):
            return self._status_error(exc)
        if isinstance(exc, groq.APIConnectionError):
            return _Unreachable(f"{exc.message} {self._redact(str(exc.__cause__ or ''))}".strip())
        # A 200 whose body is not a chat completion.
        return _Retryable(f"{exc.message} {self._redact(str(exc.__cause__ or ''))}".strip())

    def _rate_limited(self, exc: groq.RateLimitError) -> Exception:
        seconds = _retry_after(exc.response.headers)
        self._limiter.pause(seconds)
        self._metrics.throttled("429")
        what = self._describe(exc)
        log.warning("groq_rate_limited", pause_seconds=seconds, reason=what)
        if seconds > MAX_PAUSE_SECONDS:
            return SystemicError(
                f"groq: rate limit or quota reached, retry after {seconds:.0f} s: {what}"
            )
        return _RateLimited(what)

    def _status_error(self, exc: groq.APIStatusError) -> Exception:
        what = self._describe(exc)
        code = _error_field(exc.body, "code")
        if exc.status_code in (401, 403):
            return SystemicError(
                f"groq refused the API key or its rights (check GROQ_API_KEY): {what}"
            )
        if exc.status_code == 404 or code in _MISSING_MODEL_CODES:
            return SystemicError(f"groq cannot use GROQ_MODEL={self.config.groq_model}: {what}")
        if code == "json_validate_failed":
            return _NotJson(_error_field(exc.body, "failed_generation"))
        if exc.status_code == 408 or exc.status_code >= 500:
            return _Retryable(what)
        return RowError(f"groq refused the request: {what}")

    def _describe(self, exc: groq.APIStatusError) -> str:
        message = _error_field(exc.body, "message") or exc.response.reason_phrase
        code = _error_field(exc.body, "code")
        text = f"{exc.status_code}{f' {code}' if code else ''}: {message}"
        return self._redact(text if len(text) <= 300 else text[:297] + "...")


def _error_field(body: object, name: str) -> str:
    """`error.<name>` of Groq's error body `{"error": {"message", "type", "code"}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get(name) if isinstance(error, dict) else None
    return "" if value is None else str(value)


def _retry_after(headers: httpx.Headers) -> float:
    """Seconds from `retry-after-ms` or `retry-after` (Groq sends whole seconds)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(float(headers[name]) * scale, 0.0)
        except (KeyError, ValueError):
            continue
    return DEFAULT_PAUSE_SECONDS
