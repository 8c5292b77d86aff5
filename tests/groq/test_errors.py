"""How Groq's failures are classified: retried, transient, the row's fault, or the system's."""

from __future__ import annotations

import pytest

from campaign_runner.errors import RowError, SystemicError, TransientError
from campaign_runner.generators.groq import ATTEMPTS
from tests.fakes import groq_server as fake
from tests.groq.conftest import contact


def test_5xx_is_retried_and_a_later_answer_used(fake_groq, generator_for) -> None:
    fake_groq.script(fake.server_error(503), fake.server_error(500))
    content = generator_for(fake_groq).generate(contact())

    assert content.body == fake.GOOD_BODY
    assert fake_groq.statuses() == [503, 500, 200]


def test_5xx_that_persists_is_transient(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.server_error(502)
    with pytest.raises(TransientError, match="groq: 502"):
        generator_for(fake_groq).generate(contact())
    assert fake_groq.statuses() == [502] * ATTEMPTS


def test_a_stalled_request_times_out_is_retried_then_transient(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.stall(5)
    with pytest.raises(TransientError, match="no answer within GROQ_TIMEOUT_SECONDS=1"):
        generator_for(fake_groq, GROQ_TIMEOUT_SECONDS="1").generate(contact())
    assert len(fake_groq.requests) == ATTEMPTS


def test_a_stall_then_an_answer_succeeds(fake_groq, generator_for) -> None:
    fake_groq.script(fake.stall(5))
    assert generator_for(fake_groq).generate(contact()).body == fake.GOOD_BODY
    assert len(fake_groq.requests) == 2


def test_a_refused_key_is_systemic_and_never_shows_the_key(groq_server, generator_for) -> None:
    server = groq_server(echo_key=True)  # some APIs quote the key they refuse
    wrong = "gsk_wrong_key_1234567890"
    with pytest.raises(SystemicError) as failure:
        generator_for(server, GROQ_API_KEY=wrong).generate(contact())

    assert "GROQ_API_KEY" in str(failure.value) and "401" in str(failure.value)
    assert server.requests[0].authorization == f"Bearer {wrong}"
    assert wrong not in str(failure.value)
    assert "[redacted]" in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert len(server.requests) == 1  # no retries: every request would be refused the same way


def test_a_model_that_does_not_exist_is_systemic(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.error(
        404, "The model `llama3-70b-8192` does not exist", "model_not_found"
    )
    with pytest.raises(SystemicError, match="GROQ_MODEL=llama3-70b-8192"):
        generator_for(fake_groq, GROQ_MODEL="llama3-70b-8192").generate(contact())


def test_a_decommissioned_model_is_systemic(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.error(
        400, "The model has been decommissioned", "model_decommissioned"
    )
    with pytest.raises(SystemicError, match="decommissioned"):
        generator_for(fake_groq).generate(contact())


@pytest.mark.parametrize(
    ("status", "code"), [(400, "invalid_request_error"), (413, "request_too_large"), (422, "x")]
)
def test_other_4xx_fail_the_row_with_groqs_reason(fake_groq, generator_for, status, code) -> None:
    fake_groq.model = lambda _request: fake.error(status, "Please reduce the length", code)
    with pytest.raises(RowError, match=f"groq refused the request: {status} {code}: Please"):
        generator_for(fake_groq).generate(contact())
    assert len(fake_groq.requests) == 1


def test_a_refused_connection_is_retried_then_systemic(fake_groq, generator_for) -> None:
    # Groq out of reach is an outage, not the row's fault: the row keeps its attempt.
    generator = generator_for(fake_groq)
    fake_groq.stop()  # nothing listens on its port any more
    with pytest.raises(SystemicError, match=r"groq not reached after 3 tries: Connection error"):
        generator.generate(contact())
