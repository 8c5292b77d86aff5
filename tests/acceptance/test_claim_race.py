"""Two worker processes on one SQLite file never claim the same row."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path

from campaign_runner.ports import Pacing
from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.embedded import campaign, email_row

ROWS = 1000


def claim_until_empty(path: str, worker: str, start: multiprocessing.Event, out) -> None:
    store = SqliteStore(Path(path))
    start.wait()
    claimed: list[str] = []
    while batch := store.claim(worker, 5, datetime.now(UTC), Pacing()):
        claimed.extend(e.id for e in batch)
        time.sleep(0.001)  # give the other process its turn, so the two really interleave
    out.put((worker, claimed))
    store.close()


def test_two_processes_claim_disjoint_rows(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "queue.db")
    store.stage(campaign(), [email_row(to_email=f"p{i}@example.org") for i in range(ROWS)])
    store.close()

    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [
        context.Process(
            target=claim_until_empty, args=(str(tmp_path / "queue.db"), f"w{i}", start, out)
        )
        for i in range(2)
    ]
    for process in workers:
        process.start()
    start.set()
    results = dict(out.get(timeout=60) for _ in workers)
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0

    first, second = results["w0"], results["w1"]
    assert first and second, "both workers should have won some rows"
    assert not set(first) & set(second)
    assert len(first) + len(second) == ROWS

    store = SqliteStore(tmp_path / "queue.db")
    (camp,) = store.status(datetime.now(UTC))
    owners = {r["id"]: r for r in store.campaign_rows(camp.campaign_id)}
    store.close()
    assert all(r["status"] == "processing" for r in owners.values())
