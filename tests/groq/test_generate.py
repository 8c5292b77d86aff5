"""One row's content: the request the SDK sends, the answer taken, bad answers fixed."""

from __future__ import annotations

import dataclasses

import pytest

from campaign_runner.errors import RowError
from tests.fakes import groq_server as fake
from tests.groq.conftest import AI_PROMPT, contact


def test_a_good_answer_becomes_the_content_with_model_and_token_counts(
    fake_groq, generator_for
) -> None:
    content = generator_for(fake_groq, GROQ_MODEL="openai/gpt-oss-20b").generate(contact())

    (request,) = fake_groq.requests
    assert content.subject == fake.GOOD_SUBJECT
    assert content.body == fake.GOOD_BODY
    assert content.model == "openai/gpt-oss-20b"
    assert content.usage == {
        "prompt_tokens": request.usage["prompt_tokens"],
        "completion_tokens": request.usage["completion_tokens"],
    }
    assert request.path == "/openai/v1/chat/completions"
    assert request.authorization == f"Bearer {fake_groq.api_key}"
    assert request.body["model"] == "openai/gpt-oss-20b"
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["temperature"] == 0.7
    assert request.body["max_completion_tokens"] == 800
    system, user = request.body["messages"]
    assert system["role"] == "system" and AI_PROMPT in system["content"]
    assert "JSON" in system["content"]  # JSON mode refuses a prompt that does not ask for it
    assert user["role"] == "user" and "<contact>" in user["content"]


def test_temperature_and_max_tokens_come_from_the_settings(fake_groq, generator_for) -> None:
    generator_for(fake_groq, GROQ_TEMPERATURE="0.2", GROQ_MAX_TOKENS="300").generate(contact())
    (request,) = fake_groq.requests
    assert request.body["temperature"] == 0.2
    assert request.body["max_completion_tokens"] == 300


def test_the_campaign_subject_is_personalised_and_wins_over_the_model(
    fake_groq, generator_for
) -> None:
    email = contact(campaign_subject="{{ company }}: a quicker close")
    content = generator_for(fake_groq).generate(email)

    assert content.subject == "Ruiz & Co: a quicker close"
    user = fake_groq.requests[0].body["messages"][1]["content"]
    assert '"Ruiz & Co: a quicker close"' in user.split("<subject>")[1]


def test_the_rows_own_subject_wins_over_the_campaigns(fake_groq, generator_for) -> None:
    email = contact(campaign_subject="Campaign subject", row_subject="Row subject")
    assert generator_for(fake_groq).generate(email).subject == "Row subject"


def test_without_a_campaign_subject_the_model_must_write_one(fake_groq, generator_for) -> None:
    fake_groq.script(fake.answer("", fake.GOOD_BODY), fake.answer("Now with a subject", "x" * 60))
    content = generator_for(fake_groq).generate(contact())

    assert content.subject == "Now with a subject"
    correction = fake_groq.requests[1].body["messages"][-1]["content"]
    assert '"subject" is missing or empty' in correction


def test_broken_json_is_sent_back_with_a_correction_and_the_fixed_answer_used(
    fake_groq, generator_for
) -> None:
    fake_groq.script(fake.text('{"subject": "Hi", "body": "unterminated'))
    content = generator_for(fake_groq).generate(contact())

    assert content.body == fake.GOOD_BODY
    first, second = fake_groq.requests
    assert second.body["messages"][:2] == first.body["messages"]
    assistant, correction = second.body["messages"][2:]
    assert assistant == {"role": "assistant", "content": first.content}
    assert correction["role"] == "user"
    assert "not a JSON object" in correction["content"]
    # Tokens of both requests were spent on this row.
    assert content.usage["prompt_tokens"] == sum(r.usage["prompt_tokens"] for r in (first, second))


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (fake.text("Sure! Here is your email: Hi Ana"), "not a JSON object"),
        (
            fake.answer("Hello [First Name]", fake.GOOD_BODY),
            "unfilled placeholders: '[First Name]'",
        ),
        (fake.answer("Hi", "Dear {{ first_name }}, " + "x" * 50), "'{{ first_name }}'"),
        (fake.answer("Hi", "Dear <name>, " + "x" * 50), "unfilled placeholders: '<name>'"),
        (fake.answer("Hi", "<p>Dear Ana,</p> " + "x" * 50), "HTML, but must be plain text"),
        (
            fake.answer("Hi", fake.GOOD_BODY + " See https://other.example"),
            "'https://other.example'",
        ),
        (fake.answer("Hi", "Too short."), '"body" is too short'),
        (fake.answer("Hi", "x" * 3001), '"body" is too long'),
        (fake.answer("Hi", ""), '"body" is missing or empty'),
    ],
)
def test_an_answer_that_stays_bad_fails_the_row_saying_what_was_wrong(
    fake_groq, generator_for, reply, problem
) -> None:
    fake_groq.model = lambda _request: reply
    with pytest.raises(RowError) as failure:
        generator_for(fake_groq, GROQ_MAX_FIX_ATTEMPTS="2").generate(contact())

    assert problem in str(failure.value)
    assert "no usable answer in 3 tries" in str(failure.value)
    assert len(fake_groq.requests) == 3  # the first answer and two corrections


def test_no_fix_attempts_means_one_request(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.text("not json")
    with pytest.raises(RowError, match="in 1 try"):
        generator_for(fake_groq, GROQ_MAX_FIX_ATTEMPTS="0").generate(contact())
    assert len(fake_groq.requests) == 1


def test_links_from_the_campaign_instructions_are_allowed(fake_groq, generator_for) -> None:
    body = fake.GOOD_BODY + "\n\nA two-minute demo: https://ledgerly.example.com/demo."
    fake_groq.script(fake.answer("A demo for you", body))
    assert generator_for(fake_groq).generate(contact()).body == body


def test_json_mode_failure_counts_as_a_bad_answer_to_fix(fake_groq, generator_for) -> None:
    fake_groq.script(fake.json_validate_failed())
    content = generator_for(fake_groq).generate(contact())

    assert content.body == fake.GOOD_BODY
    assert fake_groq.statuses() == [400, 200]
    # What the model wrote comes back to it with the correction.
    assistant, correction = fake_groq.requests[1].body["messages"][2:]
    assert assistant["content"] == "Hi there, here is your email"
    assert "not a JSON object" in correction["content"]


def test_an_answer_cut_off_by_max_tokens_says_so(fake_groq, generator_for) -> None:
    fake_groq.model = lambda _request: fake.text('{"subject": "Hi", "body": "Dear', "length")
    with pytest.raises(RowError, match="cut off at GROQ_MAX_TOKENS=800"):
        generator_for(fake_groq, GROQ_MAX_FIX_ATTEMPTS="0").generate(contact())


def test_a_campaign_without_ai_prompt_uses_its_body_template_without_a_request(
    fake_groq, generator_for
) -> None:
    email = contact(
        ai_prompt=None, campaign_subject="Hi {{ first_name }}", body_template="Dear {{ company }}"
    )
    content = generator_for(fake_groq).generate(email)

    assert (content.subject, content.body, content.model) == (
        "Hi Ana",
        "Dear Ruiz & Co",
        "template",
    )
    assert fake_groq.requests == []


def test_a_row_whose_campaign_is_gone_fails_without_a_request(fake_groq, generator_for) -> None:
    orphan = dataclasses.replace(contact(), campaign=None)
    with pytest.raises(RowError, match="no longer exists"):
        generator_for(fake_groq).generate(orphan)
    assert fake_groq.requests == []
