"""Rendering: contact data is data, undefined fields are errors, headers cannot be injected."""

from __future__ import annotations

import pytest

from campaign_runner.errors import RowError
from campaign_runner.generators.template import TemplateGenerator
from campaign_runner.models import Campaign, Content, Email
from campaign_runner.render import Renderer, clean_header


def make_email(metadata: object = None, **fields: object) -> Email:
    campaign = Campaign(
        id="c1",
        name="C",
        status="sending",
        subject=fields.pop("campaign_subject", "Hello {{ first_name }}"),  # type: ignore[arg-type]
        body_template=fields.pop("body_template", "Hi {{ first_name }}, about {{ company }}."),  # type: ignore[arg-type]
        ai_prompt=None,
        from_name=fields.pop("from_name", "Fund Team"),  # type: ignore[arg-type]
        reply_to="replies@example.com",
    )
    values: dict = {
        "id": "e1",
        "campaign_id": "c1",
        "to_email": "ana@example.org",
        "to_name": "Ana Ruiz",
        "from_email": "out@send1.example.com",
        "subject": None,
        "body": None,
        "metadata": {"first_name": "Ana", "company": "Ruiz & Co"} if metadata is None else metadata,
        "attempts": 1,
        "scheduled_for": None,
        "campaign": campaign,
    }
    values.update(fields)
    return Email(**values)


def generate(email: Email) -> Content:
    return TemplateGenerator().generate(email)


def test_template_generator_personalises_subject_and_body() -> None:
    content = generate(make_email())
    assert content.subject == "Hello Ana"
    assert content.body == "Hi Ana, about Ruiz & Co."
    assert content.model == "template"


@pytest.mark.parametrize("hostile", ["{{ 7*7 }}", "{{ ''.__class__.__mro__ }}", "{% raw %}x"])
def test_template_syntax_in_contact_data_renders_literally(hostile: str) -> None:
    email = make_email({"first_name": hostile, "company": "X"})
    content = generate(email)
    assert content.body == f"Hi {hostile}, about X."
    message = Renderer().render(email, content)
    assert hostile in message.text
    assert "49" not in message.text


def test_html_part_escapes_contact_data_and_text_part_keeps_it() -> None:
    email = make_email({"first_name": "<script>alert(1)</script>", "company": "A & B"})
    message = Renderer().render(email, generate(email))
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "A &amp; B" in message.html
    assert "<script>alert(1)</script>" in message.text


def test_an_undefined_field_fails_the_row_naming_it() -> None:
    email = make_email({"company": "Ruiz & Co"})
    with pytest.raises(RowError, match="'first_name' is undefined"):
        generate(email)


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_field_counts_as_undefined_never_hi_comma(empty: object) -> None:
    with pytest.raises(RowError, match="first_name"):
        generate(make_email({"first_name": empty, "company": "X"}))


def test_default_filter_covers_an_optional_field() -> None:
    email = make_email(
        {"company": "X"},
        campaign_subject="For {{ company }}",
        body_template="Hi {{ first_name | default('there') }}.",
    )
    assert generate(email).body == "Hi there."


def test_a_template_that_reaches_for_internals_is_refused_by_the_sandbox() -> None:
    email = make_email(body_template="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(RowError, match=r"sandbox|unsafe|__class__"):
        generate(email)


def test_a_broken_template_fails_with_its_line() -> None:
    with pytest.raises(RowError, match="syntax error on line 2"):
        generate(make_email(body_template="Hi\n{{ first_name "))


def test_metadata_that_is_not_an_object_fails_the_row() -> None:
    with pytest.raises(RowError, match="JSON object"):
        generate(make_email(metadata=["not", "an", "object"]))


def test_header_values_lose_cr_and_lf() -> None:
    assert clean_header("Ana\r\nBcc: victim@example.com") == "Ana Bcc: victim@example.com"
    email = make_email(to_name="Ana\r\nBcc: victim@example.com", subject="Hi\nBcc: x@example.com")
    message = Renderer().render(email, Content(subject=email.subject or "", body="Body"))
    for value in [message.to_name, message.subject, *message.headers.values()]:
        assert "\r" not in value and "\n" not in value


def test_unsubscribe_footer_and_headers() -> None:
    renderer = Renderer(
        unsubscribe_url="https://example.com/u?id={email_id}&e={email}", sender_address="1 Main St"
    )
    message = renderer.render(make_email(), Content(subject="S", body="Body"))
    assert (
        message.headers["List-Unsubscribe"] == "<https://example.com/u?id=e1&e=ana%40example.org>"
    )
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "1 Main St" in message.text and "1 Main St" in message.html
    assert "https://example.com/u?id=e1&amp;e=ana%40example.org" in message.html


def test_without_an_unsubscribe_url_the_footer_asks_for_a_reply() -> None:
    message = Renderer().render(make_email(), Content(subject="S", body="Body"))
    assert message.headers["List-Unsubscribe"] == "<mailto:replies@example.com?subject=unsubscribe>"
    assert "List-Unsubscribe-Post" not in message.headers


def test_paragraphs_become_html_paragraphs() -> None:
    message = Renderer().render(make_email(), Content(subject="S", body="One\nline two\n\nThree"))
    assert "<p>One<br>\nline two</p>" in message.html
    assert "<p>Three</p>" in message.html


def test_a_body_of_megabytes_fails_the_row() -> None:
    email = make_email(body="x" * 3_000_000)
    with pytest.raises(RowError, match="body is 3,000,000 characters"):
        Renderer().render(email, Content(subject="S", body=email.body or ""))
