"""`python -m bench.claim_gate` still runs on a small table: both claims take their
50 rows in every sample (it checks), and it reports a ratio for each kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_claim_gate_bench_measures_both_claims_side_by_side() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.claim_gate",
            "--history",
            "1000",
            "--backlog",
            "200",
            "--samples",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures["medians_ms"]) == {
        f"{function} {kind}"
        for function in ("cr_claim_0005", "cr_claim_v2")
        for kind in ("plain", "paced")
    }
    assert all(ms > 0 for ms in figures["medians_ms"].values())
    assert set(figures["ratios"]) == {"plain", "paced"}
