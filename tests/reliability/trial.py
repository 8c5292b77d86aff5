"""The lease trial (issue 14): four real workers with a short lease, their database
stopped with `pg_ctl -m immediate` and held down several leases long, again and
again, and SparkPost answering slower than the lease, slower than its timeout, and
killed mid-run. Then every row is judged against what SparkPost recorded.

What must hold, run after run:
- no row is posted twice (the loopback SparkPost counts the POSTs per row);
- none is lost or left `processing`: every row ends `sent` or `failed`;
- every acceptance that reached a worker ends `sent`, with SparkPost's id; every
  refusal that reached one ends `failed` with it; no row ends with stale
  recovery's "interrupted during send" (no worker died: each kept renewing, or
  settled late what recovery guessed while the database was away);
- a row may end `ambiguous:` only by its own worker's verdict, when SparkPost's
  answer never reached it (slower than SPARKPOST_TIMEOUT_SECONDS, or cut when
  SparkPost was killed).

The database is a cluster of the trial's own (`tests.fixtures.postgres.Cluster`),
since it is stopped and started; SparkPost is the loopback fake behind a
`TcpProxy`, which "kills" it by cutting every connection and refusing new ones.
`run` is shared by the suite's single trial (tests/reliability/test_lease_trial.py)
and the repeated one (`python -m bench.lease_trial`).
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from campaign_runner import migrate
from tests.fakes.sparkpost_server import FakeSparkPost, Reply
from tests.fakes.tcp_proxy import TcpProxy
from tests.fixtures.embedded import ALWAYS_OPEN
from tests.fixtures.postgres import Cluster, binaries, choice
from tests.stores.postgres_kit import PostgresSeeder

from . import db
from .workers import ForkServer, Worker

KEY = "sp-lease-trial-key-0123456789"
RECOVERY_GUESS = "ambiguous: interrupted during send"
TOO_SLOW_ID = "7777"  # the transmission ids of answers slower than the client's timeout
# The worker's own verdict when SparkPost's answer never reached it (timed out, or cut).
NO_ANSWER = "ambiguous: SparkPost connection failed after the request went out"


@dataclass(frozen=True)
class Plan:
    lease_seconds: int
    outages: int  # Postgres stopped and started again this many times
    outage_seconds: float  # each held down this long
    rows: int
    spacing_seconds: float  # rows fall due one after the other, this far apart
    reply_seconds: float  # an ordinary answer's delay
    slow_seconds: float  # every `slow_every`th answer: longer than the lease
    too_slow_seconds: float  # every `too_slow_every`th: longer than the timeout
    timeout_seconds: float  # SPARKPOST_TIMEOUT_SECONDS
    sparkpost_down_seconds: float  # SparkPost killed once, between the outages
    slow_every: int = 5
    too_slow_every: int = 17
    refused_every: int = 11  # SparkPost refuses the recipient
    workers: int = 4

    @classmethod
    def suite(cls) -> Plan:
        """One run in the suite: under a minute on a shared machine."""
        return cls(
            lease_seconds=5,
            outages=2,
            outage_seconds=15,
            rows=60,
            spacing_seconds=0.6,
            reply_seconds=0.8,
            slow_seconds=6.5,
            too_slow_seconds=9.5,
            timeout_seconds=8,
            sparkpost_down_seconds=3,
        )

    @classmethod
    def full(cls) -> Plan:
        """The issue's trial: 20 s outages, three of them, with a 5 s lease."""
        return cls(
            lease_seconds=5,
            outages=3,
            outage_seconds=20,
            rows=120,
            spacing_seconds=0.7,
            reply_seconds=0.8,
            slow_seconds=6.5,
            too_slow_seconds=9.5,
            timeout_seconds=8,
            sparkpost_down_seconds=4,
        )

    def reply(self, n: int) -> Reply:
        """The answer to the n-th transmission SparkPost takes."""
        if n % self.too_slow_every == self.too_slow_every - 1:
            accepted = {
                "total_rejected_recipients": 0,
                "total_accepted_recipients": 1,
                "id": f"{TOO_SLOW_ID}{n:013d}",
            }
            return Reply(200, {"results": accepted}, delay=self.too_slow_seconds)
        if n % self.refused_every == self.refused_every - 1:
            return Reply.recipient_refused(f"550 5.1.1 mailbox {n} unavailable")
        if n % self.slow_every == self.slow_every - 1:
            return Reply.slow(self.slow_seconds)
        return Reply.slow(self.reply_seconds)


@dataclass
class Result:
    rows: int
    statuses: dict[str, int]
    posts: int
    posted_twice: list[str]
    accepted: int  # POSTs SparkPost answered 200 with a transmission id
    accepted_known: int  # of them, answers that reached a worker (its log names the id)
    accepted_not_sent: list[dict[str, Any]]  # known acceptances not recorded `sent`
    # Acceptances not recorded `sent` for a reason other than the answer never reaching
    # the worker: judged on SparkPost's record and the rows alone, not on the logs.
    accepted_otherwise: list[dict[str, Any]]
    accepted_failed: int  # acceptances recorded `failed` in all (too slow, cut, or else)
    refused_not_failed: list[dict[str, Any]]
    recovery_guesses: list[dict[str, Any]]  # rows left with stale recovery's ambiguous
    unexplained_ambiguous: list[dict[str, Any]]  # ambiguous, SparkPost's answer reached it
    left: list[dict[str, Any]]  # queued or processing at the end
    settled_late: int
    lease_lost: int
    renewal_failures: int
    exits: list[int | None]
    seconds: float
    events: Counter[str] = field(default_factory=Counter)
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    lost: list[dict[str, Any]] = field(default_factory=list)  # the lease_lost lines

    @property
    def failures(self) -> list[str]:
        """What broke a promise, one line each; empty when the trial held."""
        problems = {
            "posted twice": self.posted_twice,
            "acceptances known to a worker and not recorded sent": self.accepted_not_sent,
            "acceptances neither sent nor unanswered": self.accepted_otherwise,
            "refusals known to a worker and not recorded failed": self.refused_not_failed,
            "rows left with stale recovery's guess": self.recovery_guesses,
            "ambiguous rows whose answer reached their worker": self.unexplained_ambiguous,
            "rows left queued or processing": self.left,
        }
        lines = [f"{what}: {found}" for what, found in problems.items() if found]
        if self.exits != [0] * len(self.exits):
            lines.append(f"worker exit codes: {self.exits}")
        return lines

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "statuses": self.statuses,
            "posts": self.posts,
            "posted_twice": len(self.posted_twice),
            "accepted": self.accepted,
            "accepted_reached_worker": self.accepted_known,
            "accepted_not_sent": len(self.accepted_not_sent),
            "accepted_failed": self.accepted_failed,
            "accepted_otherwise": len(self.accepted_otherwise),
            "recovery_guesses_left": len(self.recovery_guesses),
            "settled_late": self.settled_late,
            "lease_lost": self.lease_lost,
            "renewal_failures": self.renewal_failures,
            "seconds": round(self.seconds, 1),
            "failed_by_reason": dict(self.failed_by_reason),
        }


class Restartable:
    """Stops a `Cluster`'s server as a crash would (`pg_ctl -m immediate`) and starts it
    again on the same port, with the options it was started with (`postmaster.opts`),
    as the user that owns its folder."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        # `postgres "-D" "<data>" "-p" "<port>" ...`: all but the program and its -D.
        words = shlex.split((cluster.data / "postmaster.opts").read_text())[1:]
        at = words.index("-D")
        self._options = shlex.join(words[:at] + words[at + 2 :])
        owner = pwd.getpwuid(cluster.data.stat().st_uid).pw_name
        self._as = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 and owner != "root" else []

    def _pg_ctl(self, *args: str) -> None:
        command = [*self._as, str(self.cluster.bin / "pg_ctl"), "-D", str(self.cluster.data), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.cluster.root / "log"), "-w", "-o", self._options, "start")


@contextmanager
def database() -> Iterator[tuple[Restartable, str]]:
    """A cluster of the trial's own with a migrated database in it."""
    cluster = Cluster(binaries(choice()))
    try:
        with cluster.server.database() as dsn:
            migrate.apply(dsn)
            yield Restartable(cluster), dsn
    finally:
        cluster.stop()


def stage(dsn: str, plan: Plan) -> list[str]:
    """One sending campaign whose rows fall due one by one from now on."""
    seed = PostgresSeeder(dsn)
    start = datetime.now(UTC)
    try:
        campaign_id = seed.campaign()
        return [
            seed.email(
                campaign_id,
                scheduled_for=start + timedelta(seconds=n * plan.spacing_seconds),
                to_email=f"person{n}@example.org",
                metadata={"first_name": f"P{n}"},
            )
            for n in range(plan.rows)
        ]
    finally:
        seed.close()


def unsettled(dsn: str) -> int | None:
    """Rows still queued or processing; None while the database is down."""
    try:
        return db.unsettled(dsn)
    except psycopg.OperationalError:
        return None


def env(plan: Plan, dsn: str, sparkpost_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": dsn,
        "SENDER": "sparkpost",
        "SPARKPOST_API_KEY": KEY,
        "SPARKPOST_API_URL": sparkpost_url,
        "SPARKPOST_TIMEOUT_SECONDS": str(plan.timeout_seconds),
        "GENERATOR": "template",
        **ALWAYS_OPEN,
        "DOMAIN_MIN_INTERVAL_SECONDS": "0",
        "BOUNCE_PAUSE_RATE": "1",  # the refusals are scripted: the guard is not on trial
        "LEASE_SECONDS": str(plan.lease_seconds),
        "POLL_INTERVAL_SECONDS": "0.2",
        "MAX_BACKOFF_SECONDS": "1",
        "BATCH_SIZE": "2",
        "CONCURRENCY": "2",
        # A row claimed, not yet started, when the database went away is recovered as
        # "stopped before sending" once back, at the cost of an attempt: several outages
        # must not use a row's attempts up.
        "MAX_ATTEMPTS": "10",
        "SHUTDOWN_TIMEOUT_SECONDS": "30",
        "LOG_FORMAT": "json",
    }


def run(plan: Plan, forkserver: ForkServer, cwd: Path, say: Callable[[str], None]) -> Result:
    started = time.monotonic()
    with ExitStack() as stack:
        postgres, dsn = stack.enter_context(database())
        sparkpost = stack.enter_context(FakeSparkPost(KEY))
        sparkpost.script(*(plan.reply(n) for n in range(plan.rows)))
        host, port = sparkpost.url.split("//")[1].split("/")[0].split(":")
        proxy = stack.enter_context(TcpProxy((host, int(port))))
        ids = stage(dsn, plan)
        settings = env(plan, dsn, proxy.url(sparkpost.url))
        workers = [
            stack.enter_context(forkserver.spawn({**settings, "WORKER_ID": f"trial-{n}"}, cwd))
            for n in range(plan.workers)
        ]
        _mayhem(plan, postgres, sparkpost, proxy, workers, say)
        deadline = time.monotonic() + 120
        while unsettled(dsn) != 0:
            assert time.monotonic() < deadline, "the queue did not drain:\n" + "\n".join(
                w.log.tail(10) for w in workers
            )
            assert all(w.alive for w in workers), [w.log.tail() for w in workers]
            time.sleep(0.5)
        exits = [worker.stop() for worker in workers]
        return judge(dsn, ids, sparkpost, workers, exits, time.monotonic() - started)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def _mayhem(
    plan: Plan,
    postgres: Restartable,
    sparkpost: FakeSparkPost,
    proxy: TcpProxy,
    workers: list[Worker],
    say: Callable[[str], None],
) -> None:
    """Outage after outage while the rows fall due: each one starts while sends are
    out (so that answers arrive with the database away) and lasts several leases."""
    deadline = time.monotonic() + 30
    while not sparkpost.posts:
        assert time.monotonic() < deadline, "no worker got going:\n" + workers[0].log.tail()
        time.sleep(0.1)
    for n in range(plan.outages):
        time.sleep(2.0)  # sends go out, some of them slow
        say(f"outage {n + 1}: Postgres stopped (-m immediate) for {plan.outage_seconds:g} s")
        postgres.stop()
        time.sleep(plan.outage_seconds)
        postgres.start()
        say("Postgres started again")
        if n == 0:
            time.sleep(2.0)
            say(f"SparkPost killed for {plan.sparkpost_down_seconds:g} s")
            proxy.refuse()
            time.sleep(plan.sparkpost_down_seconds)
            proxy.restore()
            say("SparkPost back")


def judge(
    dsn: str,
    ids: list[str],
    sparkpost: FakeSparkPost,
    workers: list[Worker],
    exits: list[int | None],
    seconds: float,
) -> Result:
    stored = db.rows(dsn)
    events = [event for worker in workers for event in worker.log.events]
    # What the workers knew: every outcome a log line names (those reported together
    # at exit, by `outcomes_not_recorded`, included).
    outcomes = [
        {**e, "error": e.get("outcome_error", e.get("error"))} for e in events if "email_id" in e
    ] + [kept for e in events for kept in e.get("emails", [])]
    known = {e["provider_message_id"] for e in outcomes if e.get("provider_message_id")}
    refusals = {e["email_id"] for e in outcomes if "rejected" in str(e.get("error") or "")}
    posts = Counter(post.email_id for post in sparkpost.posts if post.email_id)
    accepted = {
        post.email_id: post.answer["results"]["id"]
        for post in sparkpost.posts
        if post.status == 200
        and post.email_id
        and not (post.answer.get("results") or {}).get("rcpt_to_errors")
    }
    refused = {
        post.email_id
        for post in sparkpost.posts
        if post.email_id and (post.answer.get("results") or {}).get("rcpt_to_errors")
    }
    known_accepted = {row: pm for row, pm in accepted.items() if pm in known}

    def brief(row_id: str) -> dict[str, Any]:
        row = stored[row_id]
        return {k: row[k] for k in ("id", "status", "error", "provider_message_id", "locked_by")}

    ambiguous = [r for r in stored.values() if (r["error"] or "").startswith("ambiguous:")]
    return Result(
        rows=len(stored),
        statuses=dict(Counter(row["status"] for row in stored.values())),
        posts=sum(posts.values()),
        posted_twice=[row for row, n in posts.items() if n > 1],
        accepted=len(accepted),
        accepted_known=len(known_accepted),
        accepted_not_sent=[
            brief(row)
            for row, pm in known_accepted.items()
            if (stored[row]["status"], stored[row]["provider_message_id"]) != ("sent", pm)
        ],
        accepted_otherwise=[
            brief(row)
            for row, pm in accepted.items()
            if stored[row]["status"] != "sent"
            and not (
                pm.startswith(TOO_SLOW_ID) or (stored[row]["error"] or "").startswith(NO_ANSWER)
            )
        ],
        accepted_failed=sum(stored[row]["status"] == "failed" for row in accepted),
        refused_not_failed=[
            brief(row)
            for row in refused & refusals
            if stored[row]["status"] != "failed" or "rejected" not in stored[row]["error"]
        ],
        recovery_guesses=[
            brief(r["id"]) for r in ambiguous if r["error"].startswith(RECOVERY_GUESS)
        ],
        unexplained_ambiguous=[
            brief(r["id"]) for r in ambiguous if r["id"] in known_accepted or r["id"] in refusals
        ],
        left=[brief(r["id"]) for r in stored.values() if r["status"] not in ("sent", "failed")]
        + [{"id": i, "status": "missing"} for i in set(ids) - set(stored)],
        settled_late=sum(e["event"] == "settled_late" for e in events),
        lease_lost=sum(e["event"] == "lease_lost" for e in events),
        renewal_failures=sum(e["event"] == "lease_renewal_failed" for e in events),
        exits=exits,
        seconds=seconds,
        events=Counter(e["event"] for e in events),
        failed_by_reason=Counter(
            (r["error"] or "")[:60] for r in stored.values() if r["status"] == "failed"
        ),
        lost=[e for e in events if e["event"] == "lease_lost"],
    )


def dump(result: Result) -> str:
    return json.dumps(result.summary(), sort_keys=True)
