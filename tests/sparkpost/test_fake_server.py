"""The loopback SparkPost refuses what SparkPost refuses, so a sender passing it means something."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fakes.sparkpost_server import FakeSparkPost

from .conftest import API_KEY

VALID: dict[str, Any] = {
    "campaign_id": "spring-outreach",
    "options": {"open_tracking": False, "click_tracking": False, "transactional": False},
    "recipients": [
        {
            "address": {"email": "ana@example.org", "name": "Ana Ruiz"},
            "metadata": {"email_id": "e-1", "campaign_id": "c-1"},
        }
    ],
    "content": {
        "from": {"email": "outreach@send1.example.com", "name": "Fund Team"},
        "subject": "Hello",
        "text": "Hi",
        "html": "<p>Hi</p>",
        "reply_to": "replies@example.com",
        "headers": {"X-Campaign": "c-1"},
    },
}


def post(server: FakeSparkPost, body: Any, authorization: str = API_KEY) -> httpx.Response:
    return httpx.post(
        f"{server.url}/transmissions", json=body, headers={"Authorization": authorization}
    )


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    change(body)
    return body


def test_a_well_formed_transmission_is_accepted(sparkpost: FakeSparkPost) -> None:
    answer = post(sparkpost, VALID)

    assert answer.status_code == 200
    assert answer.json()["results"]["total_accepted_recipients"] == 1
    assert sparkpost.posts[0].email_id == "e-1"


def test_a_bearer_token_is_not_the_raw_key(sparkpost: FakeSparkPost) -> None:
    answer = post(sparkpost, VALID, authorization=f"Bearer {API_KEY}")

    assert answer.status_code == 401
    assert answer.json() == {"errors": [{"message": "Unauthorized."}]}


@pytest.mark.parametrize(
    ("change", "description"),
    [
        (lambda b: b.pop("recipients"), "recipients or list_id required"),
        (
            lambda b: b["recipients"][0].update(address={"name": "x"}),
            "address.email is required for each recipient",
        ),
        (
            lambda b: b["recipients"][0].update(metadata="e-1"),
            "metadata : is not of type json_object",
        ),
        (lambda b: b.update(campaign_id="c" * 65), "but needs to be of max length '64'"),
        (lambda b: b["options"].update(transactional="no"), "options.transactional must be"),
        (lambda b: b["content"].pop("subject"), "field 'subject' is required"),
        (lambda b: b["content"].pop("from"), "field 'from' is required"),
        (
            lambda b: [b["content"].pop(part) for part in ("html", "text")],
            "No valid fields exist in the 'content' object",
        ),
        (
            lambda b: b["content"]["headers"].update({"Content-Type": "text/html"}),
            "Header 'Content-Type' is not allowed in content.headers",
        ),
        (
            lambda b: b["content"]["headers"].update({"reply-to": "x@example.com"}),
            "Header 'reply-to' is not allowed in content.headers",
        ),
    ],
)
def test_a_malformed_transmission_gets_sparkposts_422(
    sparkpost: FakeSparkPost, change: Callable[[dict[str, Any]], None], description: str
) -> None:
    answer = post(sparkpost, changed(change))

    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["message"] == "invalid data format/type"
    assert error["code"] == "1300"
    assert description in error["description"]
    assert len(sparkpost.posts) == 1


def test_an_unverified_sending_domain_gets_code_7001(sparkpost: FakeSparkPost) -> None:
    sparkpost.verified_domains = {"other.example.com"}

    answer = post(sparkpost, VALID)

    assert answer.status_code == 400
    assert answer.json()["errors"][0] == {
        "message": "Invalid domain",
        "description": "Unconfigured Sending Domain <send1.example.com>",
        "code": "7001",
    }
