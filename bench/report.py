"""The figures as a table for the terminal and as docs/benchmarks.md."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .claim_cost import Backlog, ClaimCost
from .footprint import Footprint
from .idle import ASLEEP_LOOK, DISPATCH, RECOVERY, REQUESTS, Idle
from .machine import Machine
from .throughput import Throughput

TEMPLATE = Path(__file__).with_name("benchmarks.md.j2")
# Sections of docs/benchmarks.md written by other benchmarks, kept as they are.
KEPT_SECTIONS = (
    "Groq pacing",
    "Importing contacts",
    "Leases",
    "Events ingest",
    "Claim window gate",
    "Fitting to windows",
)


@dataclass(frozen=True)
class Sizes:
    name: str  # "full" or "smoke"
    rows: int
    concurrency: int
    batch_size: int
    model_latency: float
    send_latency: float
    naive_rows: int
    table_sizes: tuple[int, ...]
    claim_samples: int
    backlog_rows: int
    footprint_emails: int
    idle_seconds: float


@dataclass(frozen=True)
class Figures:
    sizes: Sizes
    machine: Machine
    worker: Throughput
    naive: Throughput
    claims: list[ClaimCost]
    backlog: Backlog
    footprint: Footprint
    idle: Idle


@dataclass(frozen=True)
class Line:
    number: str  # the figure's number on its first line, else ""
    figure: str
    result: str
    goal: str = ""
    met: bool | None = None  # None: no goal

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: ""}[self.met]


def lines(f: Figures) -> list[Line]:
    return [*_throughput(f), *_statements(f), *_claims(f), *_footprint(f), *_idle(f)]


def _throughput(f: Figures) -> list[Line]:
    worker, naive = f.worker, f.naive
    speedup = worker.per_second / naive.per_second
    return [
        Line(
            "1",
            f"throughput, worker ({worker.rows} rows, CONCURRENCY={worker.concurrency}, "
            f"BATCH_SIZE={worker.batch_size})",
            f"{worker.per_second:.2f} emails/s ({worker.sent} sent in {worker.seconds:.1f} s)",
        ),
        Line(
            "",
            f"ratio to the ideal {worker.concurrency} / ({f.sizes.model_latency:g} + "
            f"{f.sizes.send_latency:g}) = {worker.ideal_per_second:.2f}/s",
            f"{worker.ratio_to_ideal:.3f}",
            ">= 0.85",
            worker.ratio_to_ideal >= 0.85,
        ),
        Line(
            "",
            f"throughput, naive loop ({naive.rows} rows, one at a time)",
            f"{naive.per_second:.2f} emails/s ({naive.sent} sent in {naive.seconds:.1f} s)",
        ),
        Line("", "speed-up over the naive loop", f"{speedup:.1f}x", ">= 10x", speedup >= 10),
    ]


def _statements(f: Figures) -> list[Line]:
    per_email = f.worker.statements_per_email
    return [
        Line(
            "2", "database statements per email, worker", f"{per_email:.2f}", "<= 3", per_email <= 3
        ),
        Line(
            "", "database statements per email, naive loop", f"{f.naive.statements_per_email:.2f}"
        ),
    ]


def _claims(f: Figures) -> list[Line]:
    first, last = f.claims[0], f.claims[-1]
    plain = last.plain_median_ms / first.plain_median_ms
    paced = last.paced_median_ms / first.paced_median_ms
    waiting = f.backlog
    behind = waiting.paced_median_ms / first.paced_median_ms
    ratio = f"claim time, {last.table_rows:,} / {first.table_rows:,} rows"
    return [
        *[
            Line(
                "3" if c is first else "",
                f"claim of 50 rows, {c.table_rows:,} rows in email_queue (median of {c.samples})",
                f"{c.plain_median_ms:.2f} ms plain, {c.paced_median_ms:.2f} ms paced",
            )
            for c in f.claims
        ],
        Line("", f"{ratio}, plain", f"{plain:.2f}", "<= 2", plain <= 2),
        Line("", f"{ratio}, paced", f"{paced:.2f}", "<= 2", paced <= 2),
        Line(
            "",
            f"paced claim of 50 rows, {waiting.due_rows:,} due rows waiting "
            f"(median of {waiting.samples})",
            f"{waiting.paced_median_ms:.2f} ms, {behind:.2f} x the claim with 50 due",
        ),
    ]


def _footprint(f: Figures) -> list[Line]:
    foot = f.footprint
    return [
        Line(
            "4",
            f"peak RSS of the worker after {foot.emails:,} emails (SQLite, template, outbox)",
            f"{foot.peak_rss_mb:.1f} MB",
            "<= 120 MB",
            foot.peak_rss_mb <= 120,
        ),
        Line(
            "",
            "CPU per email, whole worker process",
            f"{foot.cpu_ms_per_email:.2f} ms, {foot.system_ms_per_email:.2f} of it in the kernel"
            f" ({foot.cpu_seconds:.1f} s in all)",
            "<= 2 ms",
            foot.cpu_ms_per_email <= 2,
        ),
    ]


def _idle(f: Figures) -> list[Line]:
    idle = f.idle
    claims = idle.statements.get("cr_claim_v2", 0) / max(idle.cycles, 1)
    # The timed duties are counted on their own line below, not as part of a cycle.
    duties = ("cr_claim_v2", RECOVERY, REQUESTS, *DISPATCH)
    others = {k: v for k, v in idle.statements.items() if k not in duties}
    return [
        Line(
            "5",
            "idle, window open: claims per cycle (and any other statement)",
            f"{claims:.2f}" + (f" {others}" if others else ""),
            "1, nothing more",
            claims == 1 and not others,
        ),
        Line(
            "",
            "idle, window open: statements per hour (60 s poll, 900 s lease)",
            f"{idle.per_hour:.0f} ({idle.recoveries_per_hour:.0f} of them looks for "
            f"expired leases, {idle.requests_per_hour:.0f} for a frontend's requests, "
            f"{idle.dispatch_per_hour:.0f} for live sequence campaigns)",
        ),
        Line(
            "",
            "window closed: statements while asleep",
            f"{idle.closed_statements} in {idle.closed_hours} h ({idle.closed_per_hour:.0f} "
            f"per hour), each a look for campaigns whose own window opens first",
            "one at start, one an hour",
            set(idle.closed) <= {ASLEEP_LOOK}
            and idle.closed_statements <= 1 + math.ceil(idle.closed_hours),
        ),
    ]


def table(f: Figures) -> str:
    rows = [("", "figure", "result", "goal", "met")]
    rows += [(ln.number, ln.figure, ln.result, ln.goal, ln.verdict) for ln in lines(f)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    body = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    title = f"campaign-runner benchmarks, {f.sizes.name} run, {f.machine.date}"
    return "\n".join([title, f.machine.describe(), "", *(line.rstrip() for line in body)])


def markdown(f: Figures, command: str, previous: str) -> str:
    """docs/benchmarks.md: these figures, and the sections of `previous` that are kept."""
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    template = environment.from_string(TEMPLATE.read_text("utf-8"))
    steps = f.footprint.steps_ms
    text = template.render(
        f=f,
        lines=lines(f),
        command=command,
        largest_step=max(steps, key=steps.__getitem__),
        kept=[section for name in KEPT_SECTIONS if (section := _section(previous, name))],
    )
    return text.rstrip("\n") + "\n"


def _section(text: str, title: str) -> str:
    """The `## title` section of a markdown text, up to the next `## `, or ''."""
    found = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    return found.group(0).rstrip() + "\n" if found else ""
