"""Rendering: contact data is data, undefined fields are errors, headers cannot be injected."""

from __future__ import annotations

from dataclasses import replace

import pytest

from campaign_runner.errors import RowError
from campaign_runner.generators.template import TemplateGenerator
from campaign_runner.models import Campaign, Content, Email
from campaign_runner.render import Renderer, clean_header
from campaign_runner.unsubscribe import Links, Tokens, links_for


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


SECRET = "a-test-secret-of-some-length"


def links(base: str = "", page: str = "") -> Links:
    return links_for(base, page, SECRET)


def test_own_endpoint_gives_one_click_header_and_footer_with_a_token() -> None:
    renderer = Renderer(links=links(base="https://u.example.com/"), sender_address="1 Main St")
    message = renderer.render(make_email(), Content(subject="S", body="Body"))

    token = Tokens(SECRET).make("e1")
    page = f"https://u.example.com/u/{token}"
    assert message.headers["List-Unsubscribe"] == (
        f"<{page}>, <mailto:replies@example.com?subject=unsubscribe>"
    )
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'<a href="{page}">Unsubscribe</a>' in message.html
    assert f"Unsubscribe: {page}" in message.text
    assert "1 Main St" in message.text and "1 Main St" in message.html
    assert "ana" not in message.headers["List-Unsubscribe"]


def test_a_page_of_ones_own_gets_the_token_in_place_of_the_address() -> None:
    renderer = Renderer(links=links(page="https://example.com/u?id={email_id}&e={email}"))
    message = renderer.render(make_email(), Content(subject="S", body="Body"))

    page = f"https://example.com/u?id=e1&e={Tokens(SECRET).make('e1')}"
    assert message.headers["List-Unsubscribe"].startswith(f"<{page}>, <mailto:")
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert page.replace("&", "&amp;") in message.html
    assert "%40" not in message.html and "%40" not in message.text


def test_without_an_unsubscribe_url_the_footer_asks_for_a_reply() -> None:
    message = Renderer().render(make_email(), Content(subject="S", body="Body"))
    assert message.headers["List-Unsubscribe"] == "<mailto:replies@example.com?subject=unsubscribe>"
    assert "List-Unsubscribe-Post" not in message.headers


@pytest.mark.parametrize(
    "reply_to",
    [
        "Sam Lee <sam@ledgerly.example.com>",
        "Sam Lée <sam@ledgerly.example.com>",
        '"Lee, Sam" <sam@ledgerly.example.com>, ops@ledgerly.example.com',
        "sam@ledgerly.example.com, Ops <ops@ledgerly.example.com>",
    ],
)
def test_the_mailto_holds_the_first_reply_address_alone(reply_to: str) -> None:
    email = make_email()
    email = replace(email, campaign=replace(email.campaign, reply_to=reply_to))
    renderer = Renderer(msys_unsubscribe=True)
    message = renderer.render(email, Content(subject="S", body="Body"))

    mailto = "mailto:sam@ledgerly.example.com?subject=unsubscribe"
    assert message.headers["List-Unsubscribe"] == f"<{mailto}>"
    assert f'<a href="{mailto}">Unsubscribe</a>' in message.html  # no data-msys on a mailto
    assert f"Unsubscribe: {mailto}" in message.text


def test_sparkpost_may_rewrite_an_http_page_link_only() -> None:
    renderer = Renderer(links=links(page="https://example.com/u/{email_id}"), msys_unsubscribe=True)
    message = renderer.render(make_email(), Content(subject="S", body="Body"))
    assert '<a href="https://example.com/u/e1" data-msys-unsubscribe="1">' in message.html


def test_an_idn_reply_address_is_written_in_a_labels() -> None:
    email = make_email()
    email = replace(email, campaign=replace(email.campaign, reply_to="Büro <info@straße.example>"))
    message = Renderer().render(email, Content(subject="S", body="Body"))
    assert message.headers["List-Unsubscribe"] == (
        "<mailto:info@xn--strae-oqa.example?subject=unsubscribe>"
    )


def test_the_recipient_is_the_normalised_address() -> None:
    message = Renderer().render(
        make_email(to_email="Ana@Straße.Example"), Content(subject="S", body="Body")
    )
    assert message.to_email == "Ana@straße.example"


def test_a_non_ascii_local_part_is_refused_before_any_sender_sees_it() -> None:
    with pytest.raises(RowError, match="non-ASCII local part"):
        Renderer().render(make_email(to_email="jörg@example.org"), Content(subject="S", body="B"))


def test_every_message_names_its_list() -> None:
    message = Renderer().render(
        make_email(campaign_id="7d4c-9e"), Content(subject="S", body="Body")
    )
    assert message.headers["List-Id"] == "<7d4c-9e.send1.example.com>"


def test_paragraphs_become_html_paragraphs() -> None:
    message = Renderer().render(make_email(), Content(subject="S", body="One\nline two\n\nThree"))
    assert "<p>One<br>\nline two</p>" in message.html
    assert "<p>Three</p>" in message.html


def test_a_body_of_megabytes_fails_the_row() -> None:
    email = make_email(body="x" * 3_000_000)
    with pytest.raises(RowError, match="body is 3,000,000 characters"):
        Renderer().render(email, Content(subject="S", body=email.body or ""))
