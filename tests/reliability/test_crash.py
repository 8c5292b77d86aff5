"""SIGKILL at the dangerous moments of a cycle, again and again, then a clean drain:
no email is ever posted twice, and every row ends where the promise says.

Each round starts a worker and arms one hold on a proxy (see `tests/fakes/tcp_proxy.py`)
at a seeded kill point, `skip` matches in; when the worker's traffic reaches it,
the worker is waiting right there, and is killed with SIGKILL. Held bytes are then
dropped with the connection, as a dead process's would be. The kill points:

- generating: its request to Groq is out, no answer yet;
- starting_send: its write of `send_started_at` has not reached Postgres;
- before_post: `send_started_at` is written, the POST never reaches SparkPost;
- during_post: SparkPost accepted the POST, its answer never reaches the worker;
- after_post: the answer arrived, the write-back of `sent` never reaches Postgres.

Then a worker started as `python -m campaign_runner` runs until nothing is queued or
processing, and the SparkPost server's record of POSTs per `email_id` is held
against the database.
"""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter
from dataclasses import dataclass

from tests.fakes.sparkpost_server import FakeSparkPost
from tests.fakes.tcp_proxy import DOWN, UP

from .conftest import Rig

SEED = 20261123
KILLS = 22
ROWS = 120
UUID = rb"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
AMBIGUOUS_CRASH = "ambiguous: interrupted during send"


@dataclass(frozen=True)
class KillPoint:
    name: str
    service: str  # whose proxy holds the traffic
    direction: str
    starts: bytes  # where the hold begins: nothing from here on reaches the other side
    names: bytes  # in the held bytes, its group names the row (an id, a contact, a transmission)


POINTS = (
    KillPoint("generating", "groq", UP, rb"POST /openai/v1/chat/completions", rb"Contact(\d{3})"),
    KillPoint("starting_send", "postgres", UP, rb"cr_start_send", rb"cr_start_send.*?" + UUID),
    KillPoint(
        "before_post", "sparkpost", UP, rb"POST /api/v1/transmissions", rb'"email_id": "' + UUID
    ),
    KillPoint("during_post", "sparkpost", DOWN, rb"HTTP/1.1 200", rb'"id": "(\d+)"'),
    KillPoint("after_post", "postgres", UP, rb"cr_finish", rb"cr_finish.*?" + UUID),
)


@dataclass(frozen=True)
class Kill:
    seed: int
    point: KillPoint
    skip: int  # matches let through first: where in the worker's run the kill lands
    named: str = ""  # what the hold's pattern caught


def plan() -> list[Kill]:
    """Every kill point at least KILLS // len(POINTS) times, in a seeded order; each
    kill's own seed decides how far into its worker's run it lands."""
    points = [POINTS[n % len(POINTS)] for n in range(KILLS)]
    random.Random(SEED).shuffle(points)
    return [Kill(n, point, random.Random(n).randrange(3)) for n, point in enumerate(points)]


def kill_at(rig: Rig, settings: dict[str, str], kill: Kill) -> Kill:
    reached = threading.Event()
    proxy = rig.proxies[kill.point.service]
    hold = proxy.hold(kill.point.starts, kill.point.direction, skip=kill.skip, also=reached)
    try:
        with rig.spawn(**settings) as worker:
            worker.notify_on_exit(reached)
            assert reached.wait(30), f"{kill} never reached:\n{worker.log.tail()}"
            assert hold.reached.is_set(), f"exit {worker.code} before {kill}:\n{worker.log.tail()}"
            named = hold.find(kill.point.names).group(1).decode()
            assert worker.kill() == -signal.SIGKILL
    finally:
        for each in rig.proxies.values():
            each.clear_holds()
            each.cut()  # what a hold kept dies with the connection, as the process did
    return Kill(kill.seed, kill.point, kill.skip, named)


def held_row(kill: Kill, ids: list[str], sparkpost: FakeSparkPost) -> str:
    """The row each kill caught in the act."""
    if kill.point.name == "generating":
        return ids[int(kill.named)]
    if kill.point.name == "during_post":
        (post,) = [
            p
            for p in sparkpost.posts
            if (p.answer or {}).get("results", {}).get("id") == kill.named
        ]
        assert post.email_id is not None
        return post.email_id
    return kill.named


def test_sigkill_anywhere_in_a_cycle_never_sends_twice_nor_loses_a_row(rig: Rig) -> None:
    rng = random.Random(SEED)
    needs_content = [rng.random() < 0.5 for _ in range(ROWS)]
    ids = rig.stage(needs_content)
    settings = {"BATCH_SIZE": "3", "CONCURRENCY": "2", "MAX_ATTEMPTS": "10"}

    kills = [kill_at(rig, settings, kill) for kill in plan()]

    with rig.start(**settings) as drainer:
        drainer.log.wait_for(lambda e: e["event"] == "cycle" and rig.unsettled() == 0, 60)
        assert drainer.stop() == 0, drainer.log.tail()

    rows, sparkpost = rig.rows(), rig.sparkpost
    # A worker killed while writing a POST leaves SparkPost a truncated request, which it
    # refuses: no transmission, and no row to count it against.
    truncated = [post for post in sparkpost.posts if post.email_id is None]
    assert all(post.status != 200 for post in truncated), truncated
    posts = Counter(post.email_id for post in sparkpost.posts if post.email_id is not None)
    accepted = {post.email_id: post for post in sparkpost.posts if post.status == 200}
    assert set(rows) == set(ids), "no row lost, none made up"
    assert set(posts) <= set(ids)

    # At most once: no row was posted twice, whatever the kills.
    assert max(posts.values()) == 1, [i for i, n in posts.items() if n > 1]

    # Every row settled, none left `processing` (the queue was drained, so none `queued`).
    statuses = Counter(row["status"] for row in rows.values())
    assert set(statuses) <= {"sent", "failed"}, statuses

    for row_id, generated in zip(ids, needs_content, strict=True):
        row = rows[row_id]
        if row["status"] == "sent":
            # Sent means SparkPost took it, once, and the row holds SparkPost's id for it,
            # and the content Groq wrote for it.
            assert accepted[row_id].answer["results"]["id"] == row["provider_message_id"]
            assert (row["generation_model"] is not None) == generated, row
        else:
            assert row["error"], row
            if row["send_started_at"] is not None or row_id in posts:
                # It may have left: flagged for a person, never sent again.
                assert row["error"].startswith(AMBIGUOUS_CRASH), row
            else:
                assert row["error"].startswith("worker stopped while processing"), row
    # Everything SparkPost accepted is `sent`, or `failed` as ambiguous: never queued again.
    for row_id in accepted:
        row = rows[row_id]
        assert row["status"] == "sent" or row["error"].startswith("ambiguous:"), row

    # Each kill landed where it was meant to, and its row ended as that moment requires.
    kills_at = Counter(kill.point.name for kill in kills)
    assert set(kills_at) == {point.name for point in POINTS}
    for kill in kills:
        row_id = held_row(kill, ids, sparkpost)
        row = rows[row_id]
        if kill.point.name in ("generating", "starting_send"):
            # Nothing had left: recovered to `queued`, claimed again later.
            assert row["attempts"] >= 2, (kill, row)
        else:
            assert row["status"] == "failed" and row["error"].startswith(AMBIGUOUS_CRASH), (
                kill,
                row,
            )
            expected_posts = 0 if kill.point.name == "before_post" else 1
            assert posts[row_id] == expected_posts, (kill, row)
    caught_before_sending = {
        held_row(kill, ids, sparkpost)
        for kill in kills
        if kill.point.name in ("generating", "starting_send")
    }
    assert any(rows[row_id]["status"] == "sent" for row_id in caught_before_sending)
    assert statuses["sent"] >= ROWS - 2 * KILLS
