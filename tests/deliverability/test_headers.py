"""Headers that both readers read back exactly, and one-click on every message.

Readers: the standard library's strict parser (`email.policy.strict`, the header
registry) and `rfc_reader`, written from RFC 5322/2047 alone (see its docstring
for why a second reader and why not a PyPI one that wraps the standard library).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.models import Content
from campaign_runner.ports import Pacing
from campaign_runner.render import Renderer
from campaign_runner.senders import mime
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.unsubscribe import links_for
from tests.fakes.sparkpost_server import FakeSparkPost
from tests.fixtures.embedded import campaign, email_row
from tests.unit.test_render import make_email

from . import rfc_reader
from .conftest import API_KEY, BASE_URL, SECRET, assert_one_click

LONG_WORD = "Supercalifragilistic" * 60  # 1,200 characters, not one space
REPLY_TOS = {
    "display name": (
        "Sam Lee <sam@ledgerly.example.com>",
        [("Sam Lee", "sam@ledgerly.example.com")],
    ),
    "non-ASCII display name": (
        "Sam Lée <sam@ledgerly.example.com>",
        [("Sam Lée", "sam@ledgerly.example.com")],
    ),
    "two addresses": (
        '"Lee, Sam" <sam@ledgerly.example.com>, ops@straße.example',
        [("Lee, Sam", "sam@ledgerly.example.com"), ("", "ops@xn--strae-oqa.example")],
    ),
}
SUBJECTS = {
    "plain": "A quicker month-end close",
    "one long word": LONG_WORD,
    "long word among words": f"Re: {LONG_WORD} and more",
    "long non-ASCII word": "Überweisung" + "ä" * 700,
}
RECIPIENTS = {
    "ascii": ("ana@example.org", "ana@example.org"),
    "IDN with ß (IDNA 2008)": ("Ana@Straße.Example", "Ana@xn--strae-oqa.example"),
    "IDN with umlaut": ("ben@bücher.example", "ben@xn--bcher-kva.example"),
}


def renderer() -> Renderer:
    return Renderer(links=links_for(BASE_URL, "", SECRET))


@pytest.mark.parametrize("reply_case", REPLY_TOS)
@pytest.mark.parametrize("subject_case", SUBJECTS)
@pytest.mark.parametrize("recipient_case", RECIPIENTS)
def test_both_readers_read_the_headers_back_exactly(
    reply_case: str, subject_case: str, recipient_case: str
) -> None:
    reply_to, reply_addresses = REPLY_TOS[reply_case]
    subject = SUBJECTS[subject_case]
    to_email, to_wire = RECIPIENTS[recipient_case]
    row = make_email(to_email=to_email)
    row = type(row)(
        **{
            **row.__dict__,
            "campaign": row.campaign.__class__(**{**row.campaign.__dict__, "reply_to": reply_to}),
        }
    )
    message = renderer().render(row, Content(subject=subject, body="Hi Ana,\n\nA note."))
    data = mime.build(message, "<id.1@send1.example.com>")

    strict = email.message_from_bytes(data, policy=email.policy.strict)
    assert strict["Subject"] == subject
    assert not strict["Subject"].defects
    assert [(a.display_name, a.addr_spec) for a in strict["Reply-To"].addresses] == reply_addresses
    assert [a.addr_spec for a in strict["To"].addresses] == [to_wire]
    assert strict["List-Id"] == "<c1.send1.example.com>"

    assert rfc_reader.decode_text(rfc_reader.header(data, "Subject")) == subject
    assert rfc_reader.addresses(rfc_reader.header(data, "Reply-To")) == reply_addresses
    assert rfc_reader.addresses(rfc_reader.header(data, "To")) == [("Ana Ruiz", to_wire)]
    unsubscribe = rfc_reader.uris(rfc_reader.header(data, "List-Unsubscribe"))
    assert unsubscribe[1] == "mailto:sam@ledgerly.example.com?subject=unsubscribe"
    assert_one_click(dict(rfc_reader.headers(data)), "e1")


TRICKY_ROWS: list[dict[str, Any]] = [
    {"to_email": "Ana@Straße.Example", "subject": LONG_WORD, "body": "Hi Ana,\n\nA note."},
    {"to_email": "ben@bücher.example"},
    {"to_email": "chloe@example.com", "to_name": "Chloé Martin"},
]


def stage(store: SqliteStore) -> dict[str, Any]:
    camp = campaign(reply_to='"Lee, Sam" <sam@ledgerly.example.com>, ops@ledgerly.example.com')
    store.stage(camp, [email_row(**fields) for fields in TRICKY_ROWS])
    return camp


def test_every_outbox_message_is_one_click(
    make_config: Callable[..., Config], sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    camp = stage(sqlite_store)
    pipeline = build_pipeline(
        make_config(UNSUBSCRIBE_BASE_URL=BASE_URL, UNSUBSCRIBE_SECRET=SECRET), sqlite_store
    )
    try:
        pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()

    rows = sqlite_store.campaign_rows(camp["id"])
    assert [row["status"] for row in rows] == ["sent"] * len(TRICKY_ROWS)
    for row in rows:
        data = (tmp_path / "outbox" / f"{row['id']}.eml").read_bytes()
        email.message_from_bytes(data, policy=email.policy.strict)
        assert_one_click(dict(rfc_reader.headers(data)), row["id"])


def test_every_sparkpost_transmission_is_one_click_and_transactional(
    make_config: Callable[..., Config], sqlite_store: SqliteStore, sparkpost: FakeSparkPost
) -> None:
    stage(sqlite_store)
    config = make_config(
        SENDER="sparkpost",
        SPARKPOST_API_KEY=API_KEY,
        SPARKPOST_API_URL=sparkpost.url,
        UNSUBSCRIBE_BASE_URL=BASE_URL,
        UNSUBSCRIBE_SECRET=SECRET,
    )
    pipeline = build_pipeline(config, sqlite_store)
    try:
        pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()

    assert len(sparkpost.posts) == len(TRICKY_ROWS)
    for post in sparkpost.posts:
        assert post.body["options"]["transactional"] is True  # else SparkPost overwrites ours
        assert_one_click(post.body["content"]["headers"], post.email_id)
    recipients = sorted(p.body["recipients"][0]["address"]["email"] for p in sparkpost.posts)
    assert recipients == [
        "Ana@xn--strae-oqa.example",
        "ben@xn--bcher-kva.example",
        "chloe@example.com",
    ]
    (long_one,) = [p for p in sparkpost.posts if "xn--strae" in str(p.body["recipients"])]
    assert long_one.body["content"]["subject"] == LONG_WORD
