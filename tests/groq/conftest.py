"""The real groq generator (real `groq` SDK, real HTTP) against a loopback Groq."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tenacity import wait_none

from campaign_runner.config import Config
from campaign_runner.generators.groq import GroqGenerator
from campaign_runner.generators.limiter import Limiter
from campaign_runner.models import Campaign, Email
from tests.fakes.groq_server import FakeGroq

AI_PROMPT = (
    "Write a short, friendly note from Sam at Ledgerly offering a 15-minute call about "
    "closing the books faster. Point to https://ledgerly.example.com/demo for a demo."
)


@pytest.fixture
def groq_server() -> Iterator[Callable[..., FakeGroq]]:
    """Starts fakes with the given options (model, latency, rpm, ...); stops them all after."""
    servers: list[FakeGroq] = []

    def start(**options: Any) -> FakeGroq:
        servers.append(FakeGroq(**options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_groq(groq_server: Callable[..., FakeGroq]) -> FakeGroq:
    return groq_server()


@pytest.fixture
def groq_config(make_config: Callable[..., Config]) -> Callable[..., Config]:
    def make(fake: FakeGroq, **overrides: str) -> Config:
        return make_config(
            **{
                "GENERATOR": "groq",
                "GROQ_API_KEY": fake.api_key,
                "GROQ_BASE_URL": fake.url,
                "GROQ_TIMEOUT_SECONDS": "1",  # the least the setting accepts
                **overrides,
            }
        )

    return make


@pytest.fixture
def generator_for(groq_config: Callable[..., Config]) -> Callable[..., GroqGenerator]:
    """A generator on its own limiter (generous unless given), retrying without waiting."""

    def make(
        fake: FakeGroq, rate_limiter: Limiter | None = None, **overrides: str
    ) -> GroqGenerator:
        return GroqGenerator(
            groq_config(fake, **overrides),
            rate_limiter or Limiter(rpm=100_000, tpm=100_000_000),
            backoff=wait_none(),
        )

    return make


def contact(
    metadata: Any = None,
    *,
    ai_prompt: str | None = AI_PROMPT,
    campaign_subject: str | None = None,
    body_template: str | None = None,
    row_subject: str | None = None,
) -> Email:
    """A claimed row with an empty body, as the pipeline hands it to the generator."""
    campaign = Campaign(
        id="campaign-1",
        name="Autumn outreach",
        status="sending",
        subject=campaign_subject,
        body_template=body_template,
        ai_prompt=ai_prompt,
        from_name="Sam at Ledgerly",
        reply_to="sam@ledgerly.example.com",
    )
    return Email(
        id="email-1",
        campaign_id=campaign.id,
        to_email="ana@example.org",
        to_name="Ana Ruiz",
        from_email="sam@send1.ledgerly.example.com",
        subject=row_subject,
        body=None,
        metadata={"first_name": "Ana", "company": "Ruiz & Co"} if metadata is None else metadata,
        attempts=1,
        scheduled_for=None,
        campaign=campaign,
    )
