"""`campaign-runner --once` reads the reply mailboxes before it dispatches: a lead
that replied to step 1 gets no step 2, the others do (a real process, SQLite)."""

from __future__ import annotations

import email
import subprocess
import sys
from email import policy
from pathlib import Path

from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.imap import USER, ImapServer
from tests.reliability.workers import ROOT
from tests.stores.kits import T0
from tests.stores.sequence_seed import lead, lead_row, sequence_campaign
from tests.stores.sqlite_kit import SqliteSeeder

from .messages import reply


def test_once_stops_the_lead_that_replied_before_its_next_step(
    imap_server: ImapServer, imap_folder: str, tmp_path: Path
) -> None:
    path = tmp_path / "queue.db"
    SqliteStore(path).close()
    seed = SqliteSeeder(path)
    campaign = sequence_campaign(seed, [{}, {}], from_email=USER)
    replier, other = lead(seed, campaign, 1, created_at=T0), lead(seed, campaign, 2, created_at=T0)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{path}",
        "SENDER": "outbox",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "GENERATOR": "template",
        "WORK_DAYS": "all",
        "WORK_START_HOUR": "0",
        "WORK_END_HOUR": "24",
        "DOMAIN_MIN_INTERVAL_SECONDS": "0",
        "REPLY_IMAP_URL": imap_server.url(imap_folder),
        "HEARTBEAT_FILE": str(tmp_path / "beat"),
        "LOCK_FILE": str(tmp_path / "lock"),
    }

    def once() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "campaign_runner", "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    once()  # step 1 to both
    sent = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in (tmp_path / "outbox").glob("*.eml")
    ]
    to_replier = next(m for m in sent if "lead1@" in str(m["To"]))
    imap_server.append(
        imap_folder, reply("lead1@example.org", str(to_replier["Message-ID"]), message_id="<r@x>")
    )
    once()  # reads the reply, then progress and dispatch: step 2 to the other only

    assert lead_row(seed, replier)["status"] == "replied"
    assert [r["step_number"] for r in lead_row(seed, replier)["rows"]] == [1]
    assert [r["status"] for r in lead_row(seed, other)["rows"]] == ["sent", "sent"]
    seed.close()
