"""`python -m bench.claim_gate`: what 0011's window gate (`send_before`, and
`p_bound_only` outside the worker's window) costs the claim, against the claim of
before it (0005's `cr_claim`, loaded beside it from that migration's own text as
`cr_claim_0005`), side by side in one run on one database.

`backlog` due rows over 50 sending domains, on a table of `history` sent rows: each
sample claims 50 rows with one function and puts them back, the two functions
taking turns; plain (pacing off) and paced (`DOMAIN_MIN_INTERVAL_SECONDS=210`). The
figure is each median and their ratio. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import psycopg

from . import postgres

CLAIM = 50
INTERVAL = 210
OLD = "cr_claim_0005"
NEW = "cr_claim_v2"


@dataclass(frozen=True)
class Gate:
    history_rows: int
    backlog_rows: int
    samples: int
    medians_ms: dict[str, float]  # "<function> <plain|paced>" -> median
    ratios: dict[str, float]  # plain, paced: cr_claim_v2 / cr_claim_0005


def old_claim() -> str:
    """0005's cr_claim, as that migration wrote it, renamed."""
    text = (files("campaign_runner.sql") / "migrations" / "0005_failure_kinds.sql").read_text()
    start = text.index("create or replace function cr_claim(")
    end = text.index("$$;", start) + 3
    return text[start:end].replace("function cr_claim(", f"function {OLD}(", 1)


def run(history: int, backlog: int, samples: int) -> Gate:
    with postgres.database() as dsn:
        start = datetime.now(UTC)
        sent = postgres.campaign(dsn, status="completed", name="Sent history")
        postgres.rows(dsn, sent, history, start, status="sent")
        live = postgres.campaign(dsn, status="sending", name="Claim gate", body_template="Hi")
        postgres.rows(dsn, live, backlog, start - timedelta(hours=1), domains=CLAIM)
        postgres.execute(dsn, "vacuum")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(old_claim())  # type: ignore[arg-type]  # our own migration's text
            moments = (start + timedelta(seconds=(INTERVAL + 1) * n) for n in itertools.count(1))
            timings: dict[str, list[float]] = {}
            for sample in range(samples + 1):  # the first round warms up and is not counted
                for interval, function in itertools.product((0, INTERVAL), (OLD, NEW)):
                    elapsed = _claim(conn, function, next(moments), interval)
                    if sample:
                        name = f"{function} {'paced' if interval else 'plain'}"
                        timings.setdefault(name, []).append(elapsed)
    medians = {name: round(statistics.median(t) * 1000, 3) for name, t in timings.items()}
    ratios = {
        kind: round(medians[f"{NEW} {kind}"] / medians[f"{OLD} {kind}"], 3)
        for kind in ("plain", "paced")
    }
    return Gate(history, backlog, samples, medians, ratios)


def _claim(conn: psycopg.Connection, function: str, now: datetime, interval: int) -> float:
    extra = ", false" if function == NEW else ""
    query = f"select {function}('bench', {CLAIM}, %s, %s, 0, %s{extra})"
    began = time.perf_counter()
    (claimed,) = conn.execute(query, (now, interval, now)).fetchone()  # type: ignore[misc]
    elapsed = time.perf_counter() - began
    if len(claimed) != CLAIM:
        raise RuntimeError(f"{function} took {len(claimed)} rows instead of {CLAIM}")
    conn.execute((postgres.SQL / "requeue.sql").read_text())  # type: ignore[arg-type]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=41)
    args = parser.parse_args()
    print(json.dumps(asdict(run(args.history, args.backlog, args.samples)), indent=2))


if __name__ == "__main__":
    main()
