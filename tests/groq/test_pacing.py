"""The process-wide limiter, judged by what a rate-limiting Groq saw: when each request
arrived, and whether any was refused. Periods are shortened to seconds so that a
window holds a handful of requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from tenacity import wait_none

from campaign_runner.errors import SystemicError
from campaign_runner.generators.groq import GroqGenerator
from campaign_runner.generators.limiter import Limiter, shared
from campaign_runner.metrics import Metrics
from tests.fakes import groq_server as fake
from tests.groq.conftest import contact


def generate_all(generator, count: int, threads: int = 8) -> list:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda _: generator.generate(contact()), range(count)))


def test_requests_stay_under_the_rpm_limit_without_a_single_429(groq_server, generator_for) -> None:
    period, rpm = 3.0, 10
    server = groq_server(rpm=rpm, period=period)
    generator = generator_for(server, Limiter(rpm=rpm, tpm=10**9, period=period))

    contents = generate_all(generator, 16)

    assert len(contents) == 16
    assert set(server.statuses()) == {200}
    assert server.busiest(period) <= rpm


def test_tokens_stay_under_the_tpm_limit_without_a_single_429(groq_server, generator_for) -> None:
    period, tpm = 2.0, 3000
    server = groq_server(tpm=tpm, period=period)
    limiter = Limiter(rpm=100_000, tpm=tpm, period=period)
    generator = generator_for(server, limiter, GROQ_MAX_TOKENS="100")

    generate_all(generator, 10)

    assert set(server.statuses()) == {200}
    assert len(server.requests) == 10
    assert server.busiest(period, tokens=True) <= tpm


def test_a_429_pauses_every_thread_for_its_retry_after(groq_server, generator_for) -> None:
    server = groq_server()
    server.script(fake.rate_limited(retry_after=1))
    # Without the pause the next request would leave 0.2 s after the first.
    generator = generator_for(server, Limiter(rpm=300, tpm=10**9))

    contents = generate_all(generator, 5)

    assert len(contents) == 5
    refused, *rest = server.requests
    assert refused.status == 429 and [r.status for r in rest] == [200] * 5
    assert min(r.at for r in rest) >= refused.at + 1.0


def test_a_retry_after_longer_than_a_minute_stops_generation_for_everyone(
    fake_groq, generator_for
) -> None:
    fake_groq.script(fake.rate_limited(retry_after=3600, kind="tokens"))
    generator = generator_for(fake_groq, Limiter(rpm=300, tpm=10**9))

    with pytest.raises(SystemicError, match="retry after 3600 s"):
        generator.generate(contact())
    with pytest.raises(SystemicError, match="after a rate limit"):
        generator.generate(contact())  # does not even ask

    assert fake_groq.statuses() == [429]


def test_429s_that_keep_coming_are_systemic(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.rate_limited(retry_after=0)
    with pytest.raises(SystemicError, match="still rate limited"):
        generator_for(fake_groq).generate(contact())
    assert fake_groq.statuses() == [429] * 3


def test_one_limiter_per_process() -> None:
    assert shared(30, 8000) is shared(60, 9000)


def test_throttling_is_counted_for_metrics(groq_server, groq_config) -> None:
    """A 429 of Groq's, and each wait of our own limiter, as /metrics shows them."""
    server = groq_server()
    server.script(fake.rate_limited(retry_after=0))
    metrics = Metrics()
    # Two requests a second: the second of two back-to-back requests waits for its slot.
    spaced = Limiter(rpm=2, tpm=10**9, period=1.0)
    generator = GroqGenerator(groq_config(server), spaced, backoff=wait_none(), metrics=metrics)

    generator.generate(contact())  # refused once, then answered

    def throttled(reason: str) -> float | None:
        return metrics.registry.get_sample_value(
            "campaign_runner_groq_throttled_total", {"reason": reason}
        )

    assert server.statuses() == [429, 200]
    assert throttled("429") == 1
    assert throttled("limiter") == 1  # the retry waited for its slot
