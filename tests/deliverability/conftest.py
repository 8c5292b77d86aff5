"""Mail as it leaves both senders, read back by two independent readers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from campaign_runner.unsubscribe import Tokens
from tests.fakes.sparkpost_server import FakeSparkPost

from . import rfc_reader

SECRET = "deliverability-test-secret"
BASE_URL = "https://unsubscribe.ledgerly.example.com"
API_KEY = "sp-deliverability-0123456789"


@pytest.fixture
def sparkpost() -> Iterator[FakeSparkPost]:
    with FakeSparkPost(API_KEY) as server:
        yield server


def assert_one_click(headers: Mapping[str, str], email_id: str) -> None:
    """RFC 8058 3.1: an https URI in List-Unsubscribe and the exact List-Unsubscribe-Post.
    (Its DKIM requirement is the signing MTA's: SparkPost signs, the outbox does not send.)"""
    uris = rfc_reader.uris(headers["List-Unsubscribe"])
    assert uris[0] == f"{BASE_URL}/u/{Tokens(SECRET).make(email_id)}"
    assert all(uri.startswith(("https://", "mailto:")) for uri in uris)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
