"""The outbox's MIME writer, read back by the standard library's parser as a mail client would."""

from __future__ import annotations

import email
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from campaign_runner.models import Message
from campaign_runner.senders import mime

TEXT = "Hi Ana,\n\nA line of exactly the kind people write.\n\nBest,\nSam\n"
HTML = "<p>Hi Ana,</p>\n<p>Best,<br>\nSam</p>\n"


def make(**fields: object) -> Message:
    values: dict = {
        "email_id": "e1",
        "campaign_id": "c1",
        "from_email": "sam@send1.example.com",
        "from_name": "Sam at Ledgerly",
        "to_email": "ana@example.org",
        "to_name": "Ana Ruiz",
        "reply_to": "replies@example.com",
        "subject": "A quicker month-end close",
        "text": TEXT,
        "html": HTML,
        "headers": {"X-Email-Id": "e1", "List-Unsubscribe": "<mailto:u@example.com>"},
    }
    values.update(fields)
    return Message(**values)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=default_policy)  # type: ignore[return-value]


def display_name(raw: str) -> str:
    """The display name of a raw `Name <addr>` header as RFC 2047 6.2 reads it: the
    whitespace between adjacent encoded-words is not part of the text. The standard
    library's own parser keeps it inside display names (its own output included),
    so it is asked only about names that fit one encoded-word."""
    name = raw.replace("\r\n", "").replace("\n", "")
    name = name[: name.rindex(" <")]
    if name.startswith('"'):
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return str(make_header(decode_header(name)))


def read_back(message: Message) -> tuple[bytes, EmailMessage]:
    data = mime.build(message, "<id.1@send1.example.com>")
    parsed = parse(data)
    assert not parsed.defects
    assert all(not part.defects for part in parsed.walk())
    return data, parsed


def test_a_plain_message_reads_back_field_for_field() -> None:
    data, parsed = read_back(make())

    assert parsed["From"].addresses[0].display_name == "Sam at Ledgerly"
    assert parsed["From"].addresses[0].addr_spec == "sam@send1.example.com"
    assert parsed["To"].addresses[0].addr_spec == "ana@example.org"
    assert parsed["Reply-To"].addresses[0].addr_spec == "replies@example.com"
    assert parsed["Subject"] == "A quicker month-end close"
    assert parsed["Message-ID"] == "<id.1@send1.example.com>"
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsed["X-Email-Id"] == "e1"
    assert parsed["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.iter_parts()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML
    # CRLF everywhere, and nothing a transport would have to rewrap.
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ångström-Łukasiewicz",
        'Ana "The Closer" Ruiz, CFO',
        "Two  spaces",
        "back\\slash (comment) <fake@evil.example>",
        "=?utf-8?b?SGFja2Vk?=",
        "日本語の名前" * 12,
        "Émile " * 30,
    ],
)
def test_display_names_read_back_exactly(name: str) -> None:
    data, parsed = read_back(make(to_name=name, from_name=name))

    raw = email.message_from_bytes(data)  # compat32: the headers as written
    for header in ("From", "To"):
        assert display_name(raw[header]) == name
        if len(name.encode()) <= mime.ENCODED_BYTES:  # one encoded-word at most: see below
            assert parsed[header].addresses[0].display_name == name
    assert parsed["To"].addresses[0].addr_spec == "ana@example.org"
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "subject",
    [
        "Plain",
        "Ünïcödé and emoji 🚀 in a subject",
        "A subject that goes on " + "and on " * 40 + "until it must fold",
        "=?utf-8?q?looks_encoded?=",
        "doubled  spaces,  kept",
        "x" * 200,
        "x" * 2000,  # one word longer than a line may be: encoded-words, folded
        "Re: " + "Ünïcödé" * 300,
    ],
)
def test_subjects_read_back_exactly(subject: str) -> None:
    data, parsed = read_back(make(subject=subject))

    assert parsed["Subject"] == subject
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_bodies_survive_long_lines_trailing_spaces_and_lone_carriage_returns() -> None:
    text = "é" * 300 + "\n" + "trailing spaces   \nequals = sign\n.\nFrom the top\rlone CR\n"
    html = "<p>" + "word " * 200 + "</p>"

    data, parsed = read_back(make(text=text, html=html))

    plain, rich = parsed.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == text.replace("\r", "\n")
    assert rich.get_content() == html
    assert max(len(line) for line in data.split(b"\r\n")) <= 76 + 2


def test_the_boundary_cannot_occur_in_the_encoded_parts() -> None:
    data, parsed = read_back(make(text="--=_ and =_ and ==_ everywhere\n" * 5))

    boundary = parsed.get_boundary()
    assert boundary is not None and boundary.startswith("=_")
    assert data.count(boundary.encode()) == 4  # the header, two parts opened, one close


def test_an_internationalised_domain_is_written_in_its_ascii_form() -> None:
    _, parsed = read_back(make(to_email="ana@bücher.example"))

    assert parsed["To"].addresses[0].addr_spec == "ana@xn--bcher-kva.example"


def test_domains_are_converted_by_idna_2008_not_2003() -> None:
    """IDNA 2003 (Python's "idna" codec) maps ß to ss: strasse.example, another domain."""
    _, parsed = read_back(make(to_email="ana@straße.example", reply_to="Büro <b@straße.example>"))

    assert parsed["To"].addresses[0].addr_spec == "ana@xn--strae-oqa.example"
    assert parsed["Reply-To"].addresses[0].addr_spec == "b@xn--strae-oqa.example"


def test_a_long_word_in_a_subject_stays_under_the_line_limits() -> None:
    data, _ = read_back(make(subject="y" * 5000))

    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_several_reply_addresses_are_kept() -> None:
    _, parsed = read_back(make(reply_to='Sales <sales@example.com>, "Ops, Team" <ops@example.com>'))

    assert [(a.display_name, a.addr_spec) for a in parsed["Reply-To"].addresses] == [
        ("Sales", "sales@example.com"),
        ("Ops, Team", "ops@example.com"),
    ]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"to_email": "ñoño@example.org"}, "non-ASCII local part"),
        ({"to_email": "no-at-sign"}, "is not an address"),
        ({"reply_to": "not an address at all"}, "Reply-To"),
        ({"headers": {"List-Unsubscribe": "<https://u.example/" + "a" * 1200 + ">"}}, "over 998"),
        ({"headers": {"List-Unsubscribe": "<mailto:ü@example.com>"}}, "printable ASCII"),
    ],
)
def test_what_cannot_be_written_correctly_is_refused(fields: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        mime.build(make(**fields), "<id.1@send1.example.com>")
