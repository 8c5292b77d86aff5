"""Telling a person's reply from an auto-reply and a delivery report, whatever the
headers look like."""

from __future__ import annotations

import pytest

from campaign_runner.sequences.classify import classify, needs_body

from .messages import delivery_report, reply

OURS = "<step1.4f2a@acme.test>"


def test_a_reply_names_our_message_its_sender_and_its_token() -> None:
    found = classify(
        1, reply("Ana@Example.org", OURS, message_id="<r@x>", to="replies+ab12cd@acme.test")
    )
    assert (found.kind, found.message_id, found.sender) == ("reply", "<r@x>", "ana@example.org")
    assert found.references == (OURS,) and found.tokens == ("ab12cd",)


@pytest.mark.parametrize(
    "extra, subject",
    [
        ("Auto-Submitted: auto-replied\r\n", "Re: Step 1"),
        ("Auto-Submitted: auto-generated\r\n", "Re: Step 1"),
        ("X-Autorespond: yes\r\n", "Re: Step 1"),
        ("Precedence: bulk\r\n", "Re: Step 1"),
        ("X-Precedence: auto_reply\r\n", "Re: Step 1"),
        ("", "Out of Office: Step 1"),
        ("", "Automatic reply: Step 1"),
        ("", "=?utf-8?q?R=C3=A9ponse_automatique?="),
    ],
)
def test_auto_replies_are_not_replies(extra: str, subject: str) -> None:
    message = reply("a@example.org", OURS, message_id="<a@x>", subject=subject, extra=extra)
    assert classify(1, message).kind == "auto_reply"


def test_auto_submitted_no_is_a_person() -> None:
    message = reply("a@example.org", OURS, message_id="<a@x>", extra="Auto-Submitted: no\r\n")
    assert classify(1, message).kind == "reply"


def test_a_permanent_delivery_report_is_a_bounce_of_the_original() -> None:
    raw = delivery_report(OURS, "gone@example.org", message_id="<dsn@mx>")
    assert needs_body(raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    found = classify(3, raw)
    assert found.kind == "bounce" and OURS in found.references
    assert (
        found.detail is not None and "5.1.1" in found.detail and "gone@example.org" in found.detail
    )
    delayed = classify(
        4, delivery_report(OURS, "slow@example.org", message_id="<d@mx>", status="4.4.1")
    )
    assert delayed.kind == "delay"


def test_malformed_headers_and_unknown_charsets_are_read_as_far_as_they_go() -> None:
    raw = (
        b"From: =?x-unknown?q?Wh=FFo?= <who@example.org\r\n"
        b"Subject: =?klingon?b?////?=\r\nIn-Reply-To: garbage <" + OURS.encode()[1:] + b"\r\n"
        b"\xff\xfe: nonsense\r\n\r\nbody\r\n"
    )
    found = classify(5, raw)
    assert found.kind == "reply" and found.message_id is None
