"""Sequences against every store (issue 17): the dispatcher puts one row per lead and
step, leads advance, complete and stop, replies and bounces stop them, the split and
the schedules hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from campaign_runner.models import Content, Email
from campaign_runner.ports import Pacing
from campaign_runner.sequences.dispatch import Dispatcher, DispatchReport
from campaign_runner.sequences.model import Inbound, MailboxState, lead_bucket
from campaign_runner.window import SendingWindow

from .kits import T0, Kit
from .sequence_seed import (
    lead,
    lead_row,
    mark_failed,
    mark_sent,
    sending_domain,
    sequence_campaign,
    step_row,
)

ALWAYS = SendingWindow(ZoneInfo("UTC"), 0, 24, frozenset(range(7)))
THREE_STEPS = [{}, {"delay_days": 2, "variant_a_subject": None}, {"delay_hours": 5}]


class EchoGenerator:
    """A generator for AI steps that shows what it was asked (our own port)."""

    def generate(self, email: Email) -> Content:
        assert email.campaign is not None
        return Content("generated", f"AI: {email.campaign.ai_prompt}", model="echo")


def dispatch(kit: Kit, now: datetime, limit: int = 500) -> DispatchReport:
    return Dispatcher(kit.store, EchoGenerator(), ALWAYS, lambda: now, limit).run()  # type: ignore[arg-type]


def test_each_step_is_queued_once_then_the_lead_advances_and_completes(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, THREE_STEPS)
    leads = [lead(kit.seed, campaign, n) for n in range(3)]

    assert dispatch(kit, T0).dispatched == {"queued": 3}
    assert dispatch(kit, T0 + timedelta(minutes=1)).dispatched == {}  # queued once only

    first = lead_row(kit.seed, leads[0])
    (row,) = first["rows"]
    assert row["step_number"] == 1 and row["status"] == "queued" and row["variant"] == "A"
    assert row["subject"] == "Step 1 A for L0" and row["body"] == "Body 1 A, L0"
    assert row["from_email"] == "news@acme.test" and first["from_email"] == "news@acme.test"
    assert row["message_id_header"].startswith("<") and row["message_id_header"].endswith(
        "@acme.test>"
    )
    assert row["references_header"] is None
    claimed = {e.id: e for e in kit.store.claim("w1", 10, T0, Pacing())}
    assert claimed[row["id"]].message_id_header == row["message_id_header"]
    assert claimed[row["id"]].reply_token == first["reply_token"]

    mark_sent(kit.seed, row["id"], T0 + timedelta(minutes=3))
    assert dispatch(kit, T0 + timedelta(hours=1)).progress == {"advanced": 1}
    advanced = lead_row(kit.seed, leads[0])
    assert advanced["current_step"] == 1 and advanced["status"] == "active"
    assert _time(advanced["next_email_at"]) == T0 + timedelta(days=2, minutes=3)
    assert dispatch(kit, T0 + timedelta(days=2)).dispatched == {}  # not due yet

    assert dispatch(kit, T0 + timedelta(days=2, minutes=3)).dispatched == {"queued": 1}
    second = lead_row(kit.seed, leads[0])["rows"][1]
    assert second["subject"] == "Re: Step 1 A for L0"  # no subject of its own: the thread's
    assert second["references_header"] == row["message_id_header"]
    assert second["from_email"] == row["from_email"]

    mark_sent(kit.seed, second["id"], T0 + timedelta(days=2, minutes=5))
    dispatch(kit, T0 + timedelta(days=2, hours=5, minutes=5))
    third = lead_row(kit.seed, leads[0])["rows"][2]
    assert third["references_header"] == f"{row['message_id_header']} {second['message_id_header']}"
    mark_sent(kit.seed, third["id"], T0 + timedelta(days=3))
    dispatch(kit, T0 + timedelta(days=3, hours=1))
    done = lead_row(kit.seed, leads[0])
    assert done["status"] == "completed" and done["current_step"] == 3
    assert step_row(kit.seed, campaign, 1)["variant_a_sent"] == 1
    assert step_row(kit.seed, campaign, 3)["variant_a_sent"] == 1


def test_the_split_is_reproducible_and_fixed_at_the_first_step(kit: Kit) -> None:
    campaign = sequence_campaign(
        kit.seed,
        [{"variant_split": 30, "variant_b_body": "B body", "variant_b_subject": "B"}],
        ab_testing_enabled=True,
    )
    leads = [lead(kit.seed, campaign, n) for n in range(200)]

    dispatch(kit, T0)

    variants = {i: lead_row(kit.seed, i)["assigned_variant"] for i in leads}
    assert all((v == "A") == (lead_bucket(i) < 30) for i, v in variants.items())
    a = sum(v == "A" for v in variants.values())
    assert 60 - 3 * 6.5 < a < 60 + 3 * 6.5  # 200 * 0.3, within three standard deviations
    b_row = next(lead_row(kit.seed, i)["rows"][0] for i, v in variants.items() if v == "B")
    assert (b_row["subject"], b_row["body"], b_row["variant"]) == ("B", "B body", "B")


def test_sending_addresses_go_round_robin_at_the_first_step(kit: Kit) -> None:
    for index, address in enumerate(["a@one.test", "b@two.test", "c@off.test"]):
        sending_domain(kit.seed, index, address, active=address != "c@off.test")
    campaign = sequence_campaign(kit.seed, [{}, {}], from_email=None)
    leads = [lead(kit.seed, campaign, n, created_at=T0 + timedelta(seconds=n)) for n in range(4)]
    own = lead(kit.seed, campaign, 9, from_email="me@mine.test")

    dispatch(kit, T0 + timedelta(minutes=1))

    senders = [lead_row(kit.seed, i)["rows"][0]["from_email"] for i in leads]
    assert senders == ["a@one.test", "b@two.test", "a@one.test", "b@two.test"]
    assert lead_row(kit.seed, own)["rows"][0]["from_email"] == "me@mine.test"


def test_the_campaigns_days_hours_and_daily_limit_hold(kit: Kit) -> None:
    # T0 is Monday 17:00 UTC, 09:00 in Los Angeles.
    closed = sequence_campaign(kit.seed, [{}], send_days=["tue"])
    lead(kit.seed, closed, 1)
    late = sequence_campaign(
        kit.seed,
        [{}],
        send_time_start="10:00",
        send_time_end="16:00",
        timezone="America/Los_Angeles",
    )
    lead(kit.seed, late, 2)
    limited = sequence_campaign(kit.seed, [{}], daily_limit=3, timezone="America/Los_Angeles")
    for n in range(5):
        lead(kit.seed, limited, 10 + n)

    assert dispatch(kit, T0).dispatched == {"queued": 3}  # the limited campaign's day
    assert dispatch(kit, T0 + timedelta(hours=2)).dispatched == {"queued": 1}  # 10:00 LA
    assert dispatch(kit, T0 + timedelta(hours=6)).dispatched == {}  # the limit, same day
    assert dispatch(kit, T0 + timedelta(hours=24)).dispatched == {"queued": 3}  # tue: 2 + 1


def test_a_reply_stops_the_lead_and_its_queued_step_is_never_sent(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}, {}])
    replier, auto, bounced, other = (lead(kit.seed, campaign, n) for n in range(4))
    dispatch(kit, T0)
    first = {i: lead_row(kit.seed, i)["rows"][0] for i in (replier, auto, bounced, other)}
    for row in first.values():
        mark_sent(kit.seed, row["id"], T0)
    dispatch(kit, T0 + timedelta(minutes=1))  # advanced, step 2 queued at once (no delay)
    assert all(len(lead_row(kit.seed, i)["rows"]) == 2 for i in first)

    messages = [
        Inbound(1, "<r1@mail.test>", "reply", references=(first[replier]["message_id_header"],)),
        Inbound(2, "<a1@mail.test>", "auto_reply", references=(first[auto]["message_id_header"],)),
        Inbound(
            3,
            "<b1@mail.test>",
            "bounce",
            references=(first[bounced]["message_id_header"],),
            detail="5.1.1 user unknown",
        ),
        Inbound(4, "<x1@mail.test>", "reply", sender="stranger@example.org"),
    ]
    state = MailboxState(uidvalidity=7, last_uid=4)
    now = T0 + timedelta(minutes=2)
    counts = kit.store.record_inbound("u@imap.test/INBOX", "news@acme.test", state, messages, now)  # type: ignore[attr-defined]
    assert counts == {"reply": 2, "auto_reply": 1, "bounce": 1, "unmatched": 1, "stopped": 2}
    again = kit.store.record_inbound("u@imap.test/INBOX", "news@acme.test", state, messages, now)  # type: ignore[attr-defined]
    assert again == {}  # kept once: nothing counted twice
    assert kit.store.reply_mailbox("u@imap.test/INBOX") == state  # type: ignore[attr-defined]

    stopped = lead_row(kit.seed, replier)
    assert stopped["status"] == "replied" and stopped["stopped_step"] == 1
    assert _time(stopped["replied_at"]) == now
    assert stopped["rows"][1]["status"] == "failed"
    assert stopped["rows"][1]["failure_kind"] == "stopped"
    assert lead_row(kit.seed, bounced)["status"] == "bounced"
    assert lead_row(kit.seed, bounced)["error"] == "5.1.1 user unknown"
    assert lead_row(kit.seed, auto)["status"] == "active"
    assert lead_row(kit.seed, auto)["rows"][1]["status"] == "queued"
    dispatch(kit, T0 + timedelta(minutes=3))
    assert step_row(kit.seed, campaign, 1)["variant_a_replied"] == 1
    assert step_row(kit.seed, campaign, 1)["variant_a_bounced"] == 1


def test_the_sender_and_the_token_match_a_reply_too(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}])
    by_sender, by_token = lead(kit.seed, campaign, 1), lead(kit.seed, campaign, 2)
    dispatch(kit, T0)
    token = lead_row(kit.seed, by_token)["reply_token"]
    messages = [
        Inbound(1, "<s@mail.test>", "reply", sender="LEAD1@example.org"),
        Inbound(2, "<t@mail.test>", "reply", tokens=(token,)),
    ]
    counts = kit.store.record_inbound(  # type: ignore[attr-defined]
        "box", "news@acme.test", MailboxState(1, 2), messages, T0
    )
    assert counts == {"reply": 2, "stopped": 2}
    assert lead_row(kit.seed, by_sender)["status"] == "replied"
    assert lead_row(kit.seed, by_token)["status"] == "replied"


def test_failures_suppressions_and_bad_steps_stop_leads_with_a_reason(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}])
    failing, rejected, suppressed = (lead(kit.seed, campaign, n) for n in range(3))
    broken = sequence_campaign(kit.seed, [{"variant_a_body": "Hi {{ nickname }}"}])
    undefined = lead(kit.seed, broken, 5)
    invalid = lead(kit.seed, campaign, 6, to_email="not an address")
    gap = sequence_campaign(kit.seed, [{}])
    gapped = lead(kit.seed, gap, 7)
    kit.seed.execute(
        "insert_step",
        {
            "campaign_id": gap,
            "step_number": 3,
            "delay_days": 0,
            "delay_hours": 0,
            "variant_a_subject": "s",
            "variant_a_body": "b",
            "variant_b_subject": None,
            "variant_b_body": None,
            "variant_split": 50,
            "use_ai_generation": False,
            "ai_prompt_context": None,
        },
    )
    dispatch(kit, T0)
    assert "nickname" in lead_row(kit.seed, undefined)["error"]
    assert lead_row(kit.seed, undefined)["status"] == "paused"
    assert "not a valid address" in lead_row(kit.seed, invalid)["error"]
    mark_failed(kit.seed, lead_row(kit.seed, failing)["rows"][0]["id"], "bad body", "content")
    mark_failed(kit.seed, lead_row(kit.seed, rejected)["rows"][0]["id"], "rejected: no", "rejected")
    mark_sent(kit.seed, lead_row(kit.seed, gapped)["rows"][0]["id"], T0)
    kit.seed.suppress("lead2@example.org")

    report = dispatch(kit, T0 + timedelta(minutes=1))

    assert report.progress == {"suppressed": 1, "advanced": 1, "bounced": 1, "paused": 1}
    assert lead_row(kit.seed, failing)["error"] == "step 1 failed: bad body"
    assert lead_row(kit.seed, rejected)["status"] == "bounced"
    assert lead_row(kit.seed, rejected)["stopped_step"] == 1
    stopped = lead_row(kit.seed, suppressed)
    assert stopped["status"] == "unsubscribed"
    assert stopped["rows"][0]["failure_kind"] == "stopped"
    assert lead_row(kit.seed, gapped)["status"] == "paused"
    assert "no step 2" in lead_row(kit.seed, gapped)["error"]


def test_an_ai_step_is_written_from_its_context_and_the_earlier_steps(kit: Kit) -> None:
    campaign = sequence_campaign(
        kit.seed,
        [
            {},
            {
                "use_ai_generation": True,
                "ai_prompt_context": "Nudge politely.",
                "variant_a_subject": None,
                "variant_a_body": None,
            },
        ],
    )
    one = lead(kit.seed, campaign, 1)
    dispatch(kit, T0)
    mark_sent(kit.seed, lead_row(kit.seed, one)["rows"][0]["id"], T0)
    dispatch(kit, T0 + timedelta(minutes=1))

    row = lead_row(kit.seed, one)["rows"][1]
    assert row["subject"] == "Re: Step 1 A for L1"
    assert row["body"].startswith("AI: Nudge politely.")
    assert "Body 1 A, L1" in row["body"]  # the earlier step, as context


def test_the_lead_bucket_is_the_same_in_python_and_in_postgres(kit: Kit) -> None:
    if kit.name != "postgres":
        return
    ids = [lead(kit.seed, sequence_campaign(kit.seed, [{}]), n) for n in range(1)]
    from .postgres_kit import PostgresSeeder

    assert isinstance(kit.seed, PostgresSeeder)
    row = kit.seed._conn.execute("select cr_lead_bucket(%s::uuid) as b", (ids[0],)).fetchone()
    assert row is not None and row["b"] == lead_bucket(ids[0])


def _time(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)


def test_a_paused_campaign_waits_and_resumes_with_delays_from_the_last_send(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {"delay_days": 1}])
    one = lead(kit.seed, campaign, 1)
    dispatch(kit, T0)
    mark_sent(kit.seed, lead_row(kit.seed, one)["rows"][0]["id"], T0)
    kit.seed.set_campaign_status(campaign, "paused")

    assert dispatch(kit, T0 + timedelta(days=3)).dispatched == {}  # due, but paused
    assert lead_row(kit.seed, one)["current_step"] == 1  # progress still counts the send
    kit.seed.set_campaign_status(campaign, "sending")

    assert dispatch(kit, T0 + timedelta(days=3, minutes=1)).dispatched == {"queued": 1}
    resumed = lead_row(kit.seed, one)
    assert _time(resumed["next_email_at"]) == T0 + timedelta(days=1)  # from the last send


def test_status_shows_leads_by_status_and_each_step_and_variant(kit: Kit) -> None:
    campaign = sequence_campaign(
        kit.seed,
        [{"variant_b_body": "B", "variant_b_subject": "B"}, {}],
        ab_testing_enabled=True,
    )
    leads = [lead(kit.seed, campaign, n) for n in range(6)]
    dispatch(kit, T0)
    rows = {i: lead_row(kit.seed, i)["rows"][0] for i in leads}
    for row in rows.values():
        mark_sent(kit.seed, row["id"], T0)
    replied = leads[0]
    kit.store.record_inbound(  # type: ignore[attr-defined]
        "box",
        "",
        MailboxState(1, 1),
        [Inbound(1, "<r@x>", "reply", references=(rows[replied]["message_id_header"],))],
        T0,
    )
    dispatch(kit, T0 + timedelta(minutes=1))

    (shown,) = kit.store.sequence_status()  # type: ignore[attr-defined]
    assert shown.campaign_id == campaign
    assert shown.leads == {"active": 5, "replied": 1}
    first = shown.steps[0]
    assert first.counts["A"]["sent"] + first.counts["B"]["sent"] == 6
    variant = lead_row(kit.seed, replied)["assigned_variant"]
    assert first.counts[variant]["replied"] == 1
    assert shown.steps[1].counts["A"]["sent"] == 0


def test_the_events_facts_and_their_suppressions_reach_the_steps_and_leads(kit: Kit) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}])
    opened, bounced = lead(kit.seed, campaign, 1), lead(kit.seed, campaign, 2)
    dispatch(kit, T0)
    for one in (opened, bounced):
        mark_sent(kit.seed, lead_row(kit.seed, one)["rows"][0]["id"], T0)
    row = lead_row(kit.seed, opened)["rows"][0]["id"]
    kit.seed.execute("mark_opened", {"id": row, "at": T0.isoformat()})
    kit.seed.execute(  # as the events poll suppresses an out-of-band bounce (0006)
        "suppress_as", {"email": "lead2@example.org", "source": "sparkpost out_of_band"}
    )

    dispatch(kit, T0 + timedelta(minutes=1))

    first = step_row(kit.seed, campaign, 1)
    assert (first["variant_a_delivered"], first["variant_a_opened"]) == (1, 1)
    assert first["variant_a_clicked"] == 1 and first["variant_a_bounced"] == 1
    assert lead_row(kit.seed, bounced)["status"] == "bounced"
