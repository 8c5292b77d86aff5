"""Issue 17's done-when: a three-step A/B sequence over 200 leads, run by the
real dispatcher, pipeline (outbox sender) and reply poll (the local dovecot) on a
simulated clock, an hour a tick for up to three weeks. Replies, auto-replies and
bounces arrive after step 1 for some leads. Then: replied and bounced leads got no
later step, auto-replied ones got all three; the split is within binomial bounds; no
lead got a step twice, early, or outside its campaign's days and hours, even those
its sending domain's daily cap held back past the end of a day; the daily limit and
the domain's cap held; the counters match the rows."""

from __future__ import annotations

import email
import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

from campaign_runner import adapters, config
from campaign_runner.pipeline import Pipeline
from campaign_runner.sequences.dispatch import Dispatcher
from campaign_runner.sequences.replies import ReplyPoller
from campaign_runner.stores.postgres import PostgresStore
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.stores.supabase import SupabaseStore
from campaign_runner.window import SendingWindow
from tests.fixtures.imap import USER, ImapServer
from tests.sequences.messages import auto_reply, delivery_report, reply

from .kits import Kit
from .sequence_seed import lead, lead_row, sequence_campaign, step_row
from .supabase_kit import SERVICE_ROLE_KEY

NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # Monday 08:00 in New York
# Leads and the tick per store: the Supabase store posts every call over HTTP, so
# it runs a smaller lapse with coarser ticks (each tick is six or more calls).
SCALE = {"sqlite": (200, 1), "postgres": (200, 1), "supabase": (60, 2)}
DAILY_LIMIT = 100
# The sending domain's own cap, per UTC day (the worker's TIMEZONE): below the daily
# limit, so steps the dispatcher queued wait for their domain, some past the end of
# the campaign's day; they must then wait for its next day, not go out at midnight UTC.
DOMAIN_CAP = 60
SPLIT = 40
DELAYS = [timedelta(0), timedelta(days=2), timedelta(days=1, hours=12)]
STEPS = [
    {
        "variant_a_subject": "Quick question, {{ first_name }}",
        "variant_a_body": "[s1A] Hi {{ first_name }}",
        "variant_b_subject": "An idea for {{ first_name }}",
        "variant_b_body": "[s1B] Hello {{ first_name }}",
        "variant_split": SPLIT,
    },
    {
        "delay_days": 2,
        "variant_a_subject": None,
        "variant_a_body": "[s2A] Following up, {{ first_name }}",
        "variant_b_body": "[s2B] Any thoughts, {{ first_name }}?",
    },
    {
        "delay_days": 1,
        "delay_hours": 12,
        "variant_a_subject": None,
        "variant_a_body": "[s3A] Last note",
        "variant_b_body": "[s3B] Closing the loop",
    },
]


def fate(n: int) -> str:
    """What lead n does after step 1."""
    return {0: "reply", 1: "auto_reply", 2: "bounce"}.get(n % 10, "silent")


@dataclass
class Worker:
    dispatcher: Dispatcher
    pipeline: Pipeline
    replies: ReplyPoller

    def tick(self) -> None:
        self.replies.run()
        self.dispatcher.run()
        self.pipeline.run_cycle(more=lambda: True)


def worker(store: object, outbox: Path, clock: Callable[[], datetime], mailbox: str) -> Worker:
    cfg = config.load(
        {
            "SENDER": "outbox",
            "OUTBOX_DIR": str(outbox),
            "GENERATOR": "template",
            "DOMAIN_MIN_INTERVAL_SECONDS": "0",
            "DOMAIN_DAILY_CAP": str(DOMAIN_CAP),
            "BATCH_SIZE": "100",
            "WORK_DAYS": "all",
            "WORK_START_HOUR": "0",
            "WORK_END_HOUR": "24",
            "TIMEZONE": "UTC",
            "LOG_LEVEL": "warning",
        },
        env_file=None,
    )
    pipeline = adapters.build_pipeline(cfg, store, clock)  # type: ignore[arg-type]
    window = SendingWindow(ZoneInfo("UTC"), 0, 24, frozenset(range(7)))  # the campaign's decides
    dispatcher = Dispatcher(store, pipeline.generator, window, clock, 500)  # type: ignore[arg-type]
    return Worker(dispatcher, pipeline, ReplyPoller(store, (mailbox,), clock))  # type: ignore[arg-type]


def second_store(kit: Kit) -> object:
    if isinstance(kit.store, SqliteStore):
        return SqliteStore(kit.store.path)
    if isinstance(kit.store, PostgresStore):
        return PostgresStore(kit.store.transport.dsn)  # type: ignore[attr-defined]
    assert isinstance(kit.store, SupabaseStore)
    return SupabaseStore(kit.store.url, SERVICE_ROLE_KEY)


def run_time_lapse(
    kit: Kit, imap: ImapServer, folder: str, tmp_path: Path, workers: int = 1
) -> None:
    campaign = sequence_campaign(
        kit.seed,
        STEPS,
        ab_testing_enabled=True,
        from_email=USER,
        send_days=["mon", "tue", "wed", "thu", "fri"],
        send_time_start="09:00",
        send_time_end="17:00",
        timezone="America/New_York",
        daily_limit=DAILY_LIMIT,
    )
    count, hours = SCALE[kit.name]
    count //= workers  # the second worker's run is about the race, not the numbers
    leads = {lead(kit.seed, campaign, n, created_at=START): n for n in range(count)}
    now = [START]
    clock = lambda: now[0]  # noqa: E731
    outbox = tmp_path / "outbox"
    stores = [kit.store] + [second_store(kit) for _ in range(workers - 1)]
    crew = [worker(store, outbox, clock, imap.url(folder)) for store in stores]
    answered: set[str] = set()
    while now[0] < START + timedelta(days=21):
        if workers == 1:
            crew[0].tick()
        else:
            threads = [threading.Thread(target=w.tick) for w in crew]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for path in outbox.glob("*.eml"):  # what step 1 sent this hour is answered
            if path.name in answered:
                continue
            answered.add(path.name)
            sent = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            to = sent["To"].addresses[0].addr_spec
            n = int(to.split("@")[0].removeprefix("lead"))
            if "[s1" not in sent.get_body(("plain",)).get_content():  # type: ignore[union-attr]
                continue
            msgid = str(sent["Message-ID"])
            if fate(n) == "reply":
                imap.append(folder, reply(to, msgid, message_id=f"<r{n}@x>"))
            elif fate(n) == "auto_reply":
                imap.append(folder, auto_reply(to, msgid, message_id=f"<a{n}@x>"))
            elif fate(n) == "bounce":
                imap.append(folder, delivery_report(msgid, to, message_id=f"<d{n}@x>"))
        now[0] += timedelta(hours=hours)
        if now[0].hour < hours:  # once a simulated day: done when no lead has a step to come
            (shown,) = kit.store.sequence_status()  # type: ignore[attr-defined]
            if not shown.leads.get("active"):
                break
    for store in stores[1:]:
        store.close()  # type: ignore[attr-defined]

    rows = {lead_id: lead_row(kit.seed, lead_id) for lead_id in leads}
    per_day: Counter[object] = Counter()
    per_utc_day: Counter[object] = Counter()
    variants: Counter[str] = Counter()
    for lead_id, n in leads.items():
        got = rows[lead_id]
        sent = [r for r in got["rows"] if r["status"] == "sent"]
        steps = [r["step_number"] for r in got["rows"]]
        assert len(steps) == len(set(steps)), f"lead {n} got a step twice"
        expected = {"reply": ("replied", 1), "bounce": ("bounced", 1)}.get(
            fate(n), ("completed", 3)
        )
        assert (got["status"], len(sent)) == expected, (n, got["status"], got["error"])
        variants[got["assigned_variant"]] += 1
        times = [_time(r["sent_at"]) for r in sent]
        for k in range(1, len(times)):
            assert times[k] - times[k - 1] >= DELAYS[k], f"lead {n} step {k + 1} early"
        for r, moment in zip(sent, times, strict=True):
            local = moment.astimezone(NEW_YORK)
            assert local.weekday() < 5 and 9 <= local.hour < 17, f"lead {n}: {local}"
            assert r["variant"] == got["assigned_variant"]
            assert r["from_email"] == USER
            per_day[local.date()] += 1
            per_utc_day[moment.date()] += 1
    assert max(per_day.values()) <= DAILY_LIMIT
    assert max(per_utc_day.values()) <= DOMAIN_CAP
    a = variants["A"]
    deviation = 3 * math.sqrt(count * SPLIT / 100 * (1 - SPLIT / 100))
    assert abs(a - count * SPLIT / 100) <= deviation, variants

    for number in (1, 2, 3):
        counted = step_row(kit.seed, campaign, number)
        for variant in ("A", "B"):
            sent_here = sum(
                1
                for got in rows.values()
                for r in got["rows"]
                if r["step_number"] == number and r["variant"] == variant and r["status"] == "sent"
            )
            replied_here = sum(
                1
                for got in rows.values()
                if got["status"] == "replied"
                and got["stopped_step"] == number
                and got["assigned_variant"] == variant
            )
            bounced_here = sum(
                1
                for got in rows.values()
                if got["status"] == "bounced"
                and got["stopped_step"] == number
                and got["assigned_variant"] == variant
            )
            v = variant.lower()
            assert counted[f"variant_{v}_sent"] == sent_here
            assert counted[f"variant_{v}_replied"] == replied_here
            assert counted[f"variant_{v}_bounced"] == bounced_here
    assert len(list(outbox.glob("*.eml"))) == sum(
        1 for got in rows.values() for r in got["rows"] if r["status"] == "sent"
    )


def test_a_three_step_ab_sequence_over_three_weeks(
    kit: Kit, imap_server: ImapServer, imap_folder: str, tmp_path: Path
) -> None:
    run_time_lapse(kit, imap_server, imap_folder, tmp_path)


def test_the_same_with_two_workers(
    kit: Kit, imap_server: ImapServer, imap_folder: str, tmp_path: Path
) -> None:
    run_time_lapse(kit, imap_server, imap_folder, tmp_path, workers=2)


def _time(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)
