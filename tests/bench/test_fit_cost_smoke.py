"""`python -m bench.fit_cost` still runs on small campaigns, on Postgres and SQLite: the
first run moves the night half of the leads, and a run that moves nothing is timed."""

from __future__ import annotations

from .run import figures as bench_figures


def test_the_fit_bench_moves_the_night_half_then_times_idle_runs() -> None:
    figures = bench_figures("bench.fit_cost", "--leads", "20", "40", "--samples", "3")
    assert [(f["store"], f["leads"], f["moved"]) for f in figures["fits"]] == [
        ("postgres", 20, 10),
        ("postgres", 40, 20),
        ("sqlite", 20, 10),
        ("sqlite", 40, 20),
    ]
    assert all(f["idle_median_ms"] > 0 for f in figures["fits"])
    assert set(figures["idle_ratio_largest_to_smallest"]) == {"postgres", "sqlite"}
