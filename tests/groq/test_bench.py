"""The pacing benchmark still runs, so that its figures in docs/benchmarks.md can be redone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_pacing_benchmark_runs_in_smoke_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.groq_pacing", "--smoke", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["sent"] == figures["rows"] == figures["requests"] == 10
    assert figures["refused_429"] == 0
    assert figures["most_in_any_minute"] <= figures["rpm_limit"]
    assert figures["rate_over_limit"] > 0
