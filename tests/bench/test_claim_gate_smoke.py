"""`python -m bench.claim_gate` still runs on a small table: both claims take their
50 rows in every sample (it checks), and it reports a ratio for each kind."""

from __future__ import annotations

from .run import figures as bench_figures


def test_the_claim_gate_bench_measures_both_claims_side_by_side() -> None:
    figures = bench_figures(
        "bench.claim_gate", "--history", "1000", "--backlog", "200", "--samples", "3"
    )
    assert set(figures["medians_ms"]) == {
        f"{function} {kind}"
        for function in ("cr_claim_0005", "cr_claim_v2")
        for kind in ("plain", "paced")
    }
    assert all(ms > 0 for ms in figures["medians_ms"].values())
    assert set(figures["ratios"]) == {"plain", "paced"}
