"""`python -m bench` still runs, so that the figures in docs/benchmarks.md can be redone.

The smoke run measures nothing worth keeping (tiny sizes, short latencies), so
its speeds are not judged here. What it counts is: the statements it sees on
the wire, the rows it settles, the claims of an idle worker, the silence of a
sleeping one.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GROQ_PACING = "## Groq pacing"

Smoke = tuple[dict[str, Any], str]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Smoke:
    """The figures of one smoke run, and the markdown it wrote over a copy of the docs."""
    output = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    shutil.copy(ROOT / "docs" / "benchmarks.md", output)
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), output.read_text()


def test_every_row_is_sent_by_the_worker_and_by_the_naive_loop(smoke: Smoke) -> None:
    figures, _ = smoke
    for design in ("worker", "naive"):
        assert figures[design]["sent"] == figures[design]["rows"] > 0
        assert figures[design]["per_second"] > 0


def test_an_email_costs_the_worker_two_statements_and_its_share_of_the_cycle(smoke: Smoke) -> None:
    figures, _ = smoke
    worker, rows = figures["worker"], figures["worker"]["rows"]
    assert worker["statements"]["cr_start_send"] == worker["statements"]["cr_finish_v2"] == rows
    assert worker["statements_per_email"] <= 3
    # The naive loop: claim, start_send, finish per row, and the claim that finds none.
    naive = figures["naive"]
    assert naive["statements"] == {
        "cr_claim_v2": naive["rows"] + 1,
        "cr_start_send": naive["rows"],
        "cr_finish_v2": naive["rows"],
    }


def test_claims_are_timed_at_every_table_size(smoke: Smoke) -> None:
    figures, _ = smoke
    sizes = [claim["table_rows"] for claim in figures["claims"]]
    assert sizes == list(figures["sizes"]["table_sizes"])
    assert all(c["plain_median_ms"] > 0 and c["paced_median_ms"] > 0 for c in figures["claims"])
    assert figures["backlog"]["due_rows"] == figures["sizes"]["backlog_rows"]
    assert figures["backlog"]["paced_median_ms"] > 0


def test_the_embedded_worker_is_measured_by_the_kernel(smoke: Smoke) -> None:
    foot = smoke[0]["footprint"]
    assert foot["sent"] == foot["emails"]
    assert foot["peak_rss_mb"] > 0 and foot["cpu_seconds"] > 0
    assert set(foot["steps_ms"]) >= {"content (template)", "render", "send (outbox)"}


def test_an_idle_worker_claims_once_a_cycle_and_a_sleeping_one_looks_once_an_hour(
    smoke: Smoke,
) -> None:
    idle = smoke[0]["idle"]
    assert idle["cycles"] > 0
    # A stop signal between a cycle's look for expired leases and its claim ends the
    # cycle before the claim: the last cycle may have none.
    assert idle["cycles"] - 1 <= idle["statements"]["cr_claim_v2"] <= idle["cycles"]
    # The timed duties: recovery, a frontend's requests, and the sequence dispatcher's look
    # for live sequence campaigns (one call each SEQUENCE_DISPATCH_SECONDS; none is live).
    assert set(idle["statements"]) <= {
        "cr_claim_v2",
        "cr_recover_stale",
        "cr_requested_work",
        "cr_sequence_schedules",
    }
    # Asleep: a look at start, then one an hour, for a campaign whose own window opens
    # before the worker's (none here).
    assert set(idle["closed"]) <= {"cr_sequence_schedules"}
    assert idle["closed_statements"] <= 1 + math.ceil(idle["closed_hours"])


def test_the_markdown_has_the_table_and_keeps_the_groq_pacing_section(smoke: Smoke) -> None:
    _, written = smoke
    kept = (ROOT / "docs" / "benchmarks.md").read_text()
    assert "| 1 | throughput, worker" in written
    assert "(smoke run)" in written
    assert written[written.index(GROQ_PACING) :] == kept[kept.index(GROQ_PACING) :]
