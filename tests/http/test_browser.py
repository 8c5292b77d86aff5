"""A person unsubscribes in a real browser (Debian's chromium, headless, driven by
Playwright without a browser download of its own), and the next claim sees it."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from campaign_runner.adapters import build_pipeline
from campaign_runner.ports import Pacing
from tests.deliverability import rfc_reader
from tests.fixtures.embedded import campaign, email_row

from .conftest import BASE_URL, Face

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps calling out of this closed network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def test_the_page_unsubscribes_with_one_click_and_the_next_claim_sees_it(
    serve: Callable[..., Face], tmp_path: Path
) -> None:
    face = serve()
    pipeline = build_pipeline(face.config, face.store)
    try:
        pipeline.run_cycle(Pacing())  # the staged row goes out, with its link
        (sent,) = (tmp_path / "outbox").glob("*.eml")
        data = sent.read_bytes()
        email.message_from_bytes(data, policy=email.policy.strict)
        link = rfc_reader.uris(rfc_reader.header(data, "List-Unsubscribe"))[0]
        assert link.startswith(f"{BASE_URL}/u/")
        local = face.server.url + link.removeprefix(BASE_URL)  # what the operator's proxy does

        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=FLAGS,
                java_script_enabled=False,  # the page must work without it
            )
            try:
                page = browser.new_page()
                page.goto(local)
                assert "A•••@E•••.org" in page.inner_text("body")
                assert face.suppressions() == []  # the GET alone did nothing
                page.click("button[type=submit]")
                page.wait_for_selector("#done")
                assert "is unsubscribed" in page.inner_text("#done")
            finally:
                browser.close()

        assert [row["email"] for row in face.suppressions()] == ["ana.ruiz@example.org"]
        later = campaign()
        face.store.stage(later, [email_row(to_email="Ana.Ruiz@example.org")])
        pipeline.run_cycle(Pacing())
    finally:
        pipeline.close()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)

    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1  # nothing more went out
    (row,) = face.store.campaign_rows(later["id"])
    assert row["status"] == "failed"
    assert "on the suppression list" in row["error"]
