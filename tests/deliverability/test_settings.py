"""The unsubscribe settings: what they refuse, and what `check` says of them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from campaign_runner.check import unsubscribe_finding
from campaign_runner.cli import NEEDS
from campaign_runner.config import Config, ConfigError, load

SECRET = "a-secret-of-16-chars-or-more"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"UNSUBSCRIBE_BASE_URL": "https://u.example.com"}, "UNSUBSCRIBE_SECRET is empty"),
        ({"UNSUBSCRIBE_URL": "https://x.example/u?e={email}"}, "UNSUBSCRIBE_SECRET is empty"),
        ({"UNSUBSCRIBE_BASE_URL": "http://u.example.com", "UNSUBSCRIBE_SECRET": SECRET}, "https"),
        ({"UNSUBSCRIBE_SECRET": "short"}, "at least 16"),
        ({"HTTP_LISTEN": "8080"}, "host:port"),
        (
            {
                "UNSUBSCRIBE_BASE_URL": "https://u.example.com",
                "UNSUBSCRIBE_URL": "https://x.example/u/{token}",
                "UNSUBSCRIBE_SECRET": SECRET,
            },
            "both set",
        ),
    ],
)
def test_unusable_unsubscribe_settings_are_refused(
    make_config: Callable[..., Config], settings: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        make_config(**settings)


def test_commands_that_send_nothing_are_not_refused_for_them() -> None:
    """`migrate` and `status` read no unsubscribe setting, so a missing secret is the
    worker's problem only."""
    environ = {"UNSUBSCRIBE_BASE_URL": "https://u.example.com"}
    cfg = load(environ=environ, env_file=None, needs=NEEDS["migrate"])
    assert cfg.store == "sqlite"
    with pytest.raises(ConfigError, match="UNSUBSCRIBE_SECRET is empty"):
        load(environ=environ, env_file=None)


def test_the_secret_is_never_shown(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(UNSUBSCRIBE_SECRET="short-secret")
    assert "short-secret" not in str(caught.value)
    assert SECRET in make_config(UNSUBSCRIBE_SECRET=SECRET).secrets


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({}, "warning: mailto: only, no one-click"),
        ({"SENDER": "sparkpost", "SPARKPOST_API_KEY": "k"}, "warning: no one-click of ours"),
        (
            {"UNSUBSCRIBE_BASE_URL": "https://u.example.com", "UNSUBSCRIBE_SECRET": SECRET},
            "warning: HTTP_LISTEN is empty",
        ),
    ],
)
def test_check_warns_when_one_click_is_missing(
    make_config: Callable[..., Config], settings: dict[str, str], words: str
) -> None:
    finding = unsubscribe_finding(make_config(**settings))
    assert finding.ok  # a warning: the mail still goes out
    assert words in finding.text


def test_check_is_quiet_with_one_click_served(make_config: Callable[..., Config]) -> None:
    finding = unsubscribe_finding(
        make_config(
            UNSUBSCRIBE_BASE_URL="https://u.example.com",
            UNSUBSCRIBE_SECRET=SECRET,
            HTTP_LISTEN="127.0.0.1:0",
        )
    )
    assert "warning" not in finding.text
    assert "one-click (RFC 8058) at https://u.example.com/u/<token>" in finding.text
