"""`status` shows a campaign's last error on one line of reasonable length, however
long the error a worker, a migration or a frontend wrote; `status --json` has it whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.embedded import campaign, email_row, embedded_env

from .test_operations_cli import ROOT, plant_failed

# What a provider may send back: a long description, over several lines.
LONG = (
    "SparkPost refused the transmission (422): invalid data format/type: "
    + " ".join(f"substitution_data.field{n}" for n in range(150))
    + "\n    at recipients[0]\n    at content.html"
)
WIDEST = 300  # a terminal's line, with room for the table's own columns


def status(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign_runner", "status", *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **embedded_env(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_long_last_error_is_shortened_in_the_table_and_whole_in_json(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "queue.db")
    try:
        camp = campaign(name="Spring", status="sending")
        store.stage(camp, [email_row()])
        plant_failed(store, camp["id"], LONG, "ana@example.org", datetime.now(UTC))
    finally:
        store.close()

    table = status(tmp_path)
    assert table.returncode == 0, table.stderr
    (shown,) = [line for line in table.stdout.splitlines() if "last error" in line]
    assert LONG[:60] in shown  # where it starts, which says what it is
    assert "at content.html" not in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= WIDEST, table.stdout

    document = status(tmp_path, "--json")
    assert document.returncode == 0, document.stderr
    (entry,) = json.loads(document.stdout)["campaigns"]
    assert entry["last_error"] == LONG
