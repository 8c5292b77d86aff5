"""`python -m bench.events_ingest` still runs; what it counts on the wire holds: one
statement per page of events, and a poll that finds nothing is one request to
SparkPost and four statements (lease, the empty page, settling, letting go)."""

from __future__ import annotations

from .run import figures as bench_figures


def test_the_events_bench_counts_one_statement_per_page_and_four_per_empty_poll() -> None:
    figures = bench_figures("bench.events_ingest", "--smoke", "--json")

    pages = -(-figures["events"] // figures["per_page"])
    assert figures["events"] == 3 * figures["rows"]
    assert figures["statements"] == {
        "cr_events_claim_poll": 1,
        "cr_ingest_events": pages,
        "cr_events_release_poll": 1,
    }
    assert figures["empty_poll_requests"] == 1
    assert figures["empty_poll_statements"] == {
        "cr_events_claim_poll": 1,
        "cr_ingest_events": 1,
        "cr_events_settle_unseen": 1,
        "cr_events_release_poll": 1,
    }
    assert figures["new_per_second"] > 0 and figures["duplicate_per_second"] > 0
