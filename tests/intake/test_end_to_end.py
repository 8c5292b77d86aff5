"""From a fresh store to every contact sent, through the real command line, on SQLite
and on Postgres: the README's quick start ("Your own campaign, from a file"), read
from README.md itself and run as typed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.embedded import embedded_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QUICK_START = re.compile(r"### Your own campaign, from a file\n.*?```sh\n(.*?)```", re.DOTALL)
SENT_TO = ["ana.ruiz@example.org", "ben@example.net", "chloe@example.com", "dev@example.org"]


class Cli:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            **embedded_env(tmp_path, SENDER="outbox", **env),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaign_runner", *args],
            env=self.env,
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout


def quick_start() -> tuple[dict[str, str], list[list[str]]]:
    """The README's block: the settings its `export` line sets, and each command's
    arguments (paths made absolute, since the test runs elsewhere)."""
    found = QUICK_START.search((ROOT / "README.md").read_text("utf-8"))
    assert found, "README.md has no quick start block"
    env: dict[str, str] = {}
    commands = []
    for line in found.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            env.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
            continue
        assert words[0] == ".venv/bin/campaign-runner", line
        commands.append([str(ROOT / w) if w.startswith("examples/") else w for w in words[1:]])
    return env, commands


@pytest.fixture(params=["sqlite", "postgres"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    if request.param == "sqlite":
        yield Cli(tmp_path)
        return
    dsn = request.getfixturevalue("pg_fresh_dsn")
    run = Cli(tmp_path, DATABASE_URL=dsn)
    run.ok("migrate")
    yield run


def test_apply_import_stage_launch_test_send_then_the_worker_sends_and_rows_tell(
    cli: Cli, tmp_path: Path
) -> None:
    env, commands = quick_start()
    cli.env.update(env)
    done = {" ".join(args[:2]): cli(*args) for args in commands}
    assert all(d.returncode == 0 for d in done.values()), {k: d.stderr for k, d in done.items()}
    again = cli.ok("campaign", "apply", str(EXAMPLES / "campaign.toml"))
    after = json.loads(cli.ok("rows", "autumn-outreach", "--json"))
    created = done["campaign apply"].stdout
    imported = done[f"import {EXAMPLES / 'contacts.csv'}"]
    staged = done["stage autumn-outreach"].stdout
    launched = done["launch autumn-outreach"].stdout
    tested = done["test-send autumn-outreach"].stdout
    table = done["rows autumn-outreach"].stdout

    assert created.startswith("created campaign 'autumn-outreach'")
    assert "nothing to do" in again
    assert imported.returncode == 0
    assert imported.stdout.startswith("imported 4 contacts into 'Autumn outreach'")
    assert "1 line refused" in imported.stdout
    assert imported.stderr.splitlines() == [
        f"{EXAMPLES / 'contacts.csv'}: line 6: 'not-an-address' is not a valid address: "
        "An email address must have an @-sign."
    ]
    assert staged.startswith("staged 4 rows")
    assert launched.startswith("queued 4 rows") and "the campaign is scheduled" in launched
    assert "to you@example.com" in tested and "Subject: [TEST] Ruiz & Co" in tested
    assert "Hi Ana," in tested
    assert after["campaign"]["status"] == "completed"
    assert sorted(r["to_email"] for r in after["rows"]) == SENT_TO
    assert {r["status"] for r in after["rows"]} == {"sent"}
    assert {r["from_email"] for r in after["rows"]} == {
        "sam@send1.ledgerly.example.com",
        "sam@send2.ledgerly.example.com",
    }
    outbox = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(outbox) == 5
    [test_name] = set(outbox) - {f"{r['id']}.eml" for r in after["rows"]}
    assert f"outbox/{test_name}" in tested  # the test names its own file
    test_file = (tmp_path / "outbox" / test_name).read_text()
    assert "To: you@example.com" in test_file and "Subject: [TEST] " in test_file
    assert all(address in table for address in SENT_TO) and "4 rows" in table
