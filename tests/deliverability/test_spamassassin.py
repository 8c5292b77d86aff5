"""Spam scores as a test: what the worker writes, scored by SpamAssassin's local rules.

Debian's `spamassassin` with the rules it ships (/usr/share/spamassassin), `-L`
(no network tests: no DNS blocklists, Razor or Pyzor) and Bayes off, so a score
depends on the message alone and on nothing learnt before. The messages have no
Received header yet (NO_RECEIVED, NO_RELAYS: informational, 0 points); the
sending MTA adds those and the DKIM signature.
"""

from __future__ import annotations

import email
import os
import shutil
import statistics
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign_runner import demo
from campaign_runner.adapters import build_pipeline
from campaign_runner.config import Config
from campaign_runner.ports import Pacing
from campaign_runner.stores.sqlite import SqliteStore
from tests.fakes.groq_server import answer, running
from tests.fixtures.embedded import campaign, email_row

from .conftest import BASE_URL, SECRET

RULES = Path("/usr/share/spamassassin")
SPAMASSASSIN = shutil.which("spamassassin")
if SPAMASSASSIN is None and os.environ.get("CI") != "true":
    pytest.skip(
        "spamassassin is not installed (apt-get install spamassassin)", allow_module_level=True
    )

AI_PROMPT = (
    "Write a short, friendly note from Sam at Ledgerly offering a 15-minute call about "
    "closing the books faster. Point to https://ledgerly.example.com/demo for a demo."
)
# What a model writes for AI_PROMPT, in the range of lengths and tones seen from it.
AI_WRITTEN = [
    answer(
        "A faster month-end close for Ruiz & Co",
        "Hi Ana,\n\nI noticed Ruiz & Co has been hiring in Lisbon. Congratulations on the "
        "growth.\n\nWe work with finance teams of your size to close the books in three to "
        "five days instead of two weeks, mostly by taking the reconciliation work off their "
        "plate.\n\nIf it is useful, there is a short demo at https://ledgerly.example.com/demo, "
        "or I would be glad to walk you through it on a 15-minute call next week.\n\nBest,\nSam",
    ),
    answer(
        "Quick question about your month-end",
        "Hi Ben,\n\nHow long does month-end take at Okafor Labs these days?\n\nMost teams we "
        "talk to spend a week or more matching transactions by hand. Ledgerly does that part "
        "for them, so the close takes days.\n\nWould you be open to a 15-minute call on "
        "Tuesday or Thursday?\n\nThanks,\nSam",
    ),
    answer(
        "Closing the books at Atelier Martin",
        "Hello Chloé,\n\nI help finance teams close the month faster, and Atelier Martin came "
        "up as a company that might find that useful.\n\nA two-minute demo is here: "
        "https://ledgerly.example.com/demo. If it looks relevant, I am happy to answer "
        "questions on a short call.\n\nKind regards,\nSam",
    ),
    answer(
        "Ruiz & Co and the month-end close",
        "Hi Dana,\n\nShort note: Ledgerly automates the reconciliations that make month-end "
        "slow. Teams like yours usually close in days after switching.\n\nWorth a 15-minute "
        "conversation next week?\n\nSam",
    ),
    answer(
        "An idea for your finance team",
        "Hi Eli,\n\nI saw that your team is growing, and with it, probably the time month-end "
        "takes.\n\nWe built Ledgerly so that finance teams stop matching bank lines and "
        "invoices by hand. Customers tell us it gives them back about a week every month.\n\n"
        "If you would like to see how it works, the demo is at "
        "https://ledgerly.example.com/demo, and I would be happy to set up a 15-minute call "
        "at a time that suits you.\n\nAll the best,\nSam\nLedgerly",
    ),
]


def score(message: Path, home: Path) -> tuple[float, str]:
    """SpamAssassin's score of one message and the rules that fired."""
    assert SPAMASSASSIN is not None
    done = subprocess.run(
        [
            SPAMASSASSIN,
            "--local",
            f"--configpath={RULES}",
            f"--prefspath={home / 'user_prefs'}",
            "--cf=use_bayes 0",
            "--cf=bayes_auto_learn 0",
        ],
        input=message.read_bytes(),
        capture_output=True,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
        timeout=120,
        check=True,
    )
    status = email.message_from_bytes(done.stdout)["X-Spam-Status"]
    assert status is not None, done.stderr.decode()[-2000:]
    status = " ".join(status.split())
    return float(status.split("score=")[1].split()[0]), status


def outbox_of(config: Config, store: SqliteStore) -> list[Path]:
    pipeline = build_pipeline(config, store)
    try:
        report = pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()
    assert report.outcomes["sent"] >= 4
    return sorted(config.outbox_dir.glob("*.eml"))


@pytest.fixture
def scored(tmp_path: Path) -> Callable[[list[Path]], list[tuple[float, str]]]:
    home = tmp_path / "sa-home"
    home.mkdir()
    return lambda messages: [score(message, home) for message in messages]


def assert_clean(results: list[tuple[float, str]]) -> None:
    report = "\n".join(f"{points:5.1f}  {status}" for points, status in results)
    assert statistics.median(points for points, _ in results) < 1.0, report
    assert max(points for points, _ in results) < 3.0, report


@pytest.mark.parametrize(
    "settings",
    [{}, {"UNSUBSCRIBE_BASE_URL": BASE_URL, "UNSUBSCRIBE_SECRET": SECRET}],
    ids=["mailto-only", "one-click"],
)
def test_the_demo_emails_score_low(
    make_config: Callable[..., Config],
    sqlite_store: SqliteStore,
    scored: Callable[[list[Path]], list[tuple[float, str]]],
    settings: dict[str, str],
) -> None:
    demo.seed(sqlite_store, datetime.now(UTC))

    assert_clean(scored(outbox_of(make_config(**settings), sqlite_store)))


def test_ai_written_emails_score_low(
    make_config: Callable[..., Config],
    sqlite_store: SqliteStore,
    scored: Callable[[list[Path]], list[tuple[float, str]]],
) -> None:
    camp = campaign(
        subject=None,
        body_template=None,
        ai_prompt=AI_PROMPT,
        from_name="Sam at Ledgerly",
        reply_to="Sam Lee <sam@ledgerly.example.com>",
    )
    contacts = ["Ana", "Ben", "Chloé", "Dana", "Eli"]
    sqlite_store.stage(
        camp,
        [
            email_row(
                to_email=f"{name[:3].lower().replace('é', 'e')}@example.org",
                to_name=f"{name} Doe",
                from_email="sam@send1.ledgerly.example.com",
                metadata={"first_name": name, "company": "Ruiz & Co"},
            )
            for name in contacts
        ],
    )
    with running() as fake:
        fake.script(*AI_WRITTEN)
        config = make_config(
            GENERATOR="groq",
            GROQ_API_KEY=fake.api_key,
            GROQ_BASE_URL=fake.url,
            GROQ_RPM="10000",  # no pacing between the five
            UNSUBSCRIBE_BASE_URL=BASE_URL,
            UNSUBSCRIBE_SECRET=SECRET,
            SENDER_ADDRESS="Ledgerly, 1 Main Street, Springfield",
        )
        messages = outbox_of(config, sqlite_store)

    assert len(messages) == len(contacts)
    assert_clean(scored(messages))
