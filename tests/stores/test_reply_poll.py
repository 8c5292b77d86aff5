"""The reply poll against a real IMAP server (the local dovecot) and every store:
replies stop their leads, auto-replies do not, a permanent delivery report bounces
one; nothing is read twice or marked read; a refused login leaves the rest."""

from __future__ import annotations

from datetime import timedelta

import structlog

from campaign_runner.sequences.replies import ReplyPoller, mailbox
from tests.fixtures.imap import USER, ImapServer
from tests.sequences.messages import auto_reply, delivery_report, reply

from .kits import T0, Kit
from .sequence_seed import lead, lead_row, mark_sent, sequence_campaign
from .test_sequences import dispatch


def test_replies_auto_replies_and_bounces_from_a_mailbox(
    kit: Kit, imap_server: ImapServer, imap_folder: str
) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}], from_email=USER)
    leads = [lead(kit.seed, campaign, n) for n in range(5)]
    dispatch(kit, T0)
    first = [lead_row(kit.seed, i)["rows"][0] for i in leads]
    for row in first:
        mark_sent(kit.seed, row["id"], T0)
    ids = [row["message_id_header"] for row in first]
    imap_server.append(imap_folder, reply("lead0@example.org", ids[0], message_id="<r0@x>"))
    imap_server.append(imap_folder, auto_reply("lead1@example.org", ids[1], message_id="<a1@x>"))
    imap_server.append(
        imap_folder, delivery_report(ids[2], "lead2@example.org", message_id="<d2@x>")
    )
    imap_server.append(imap_folder, reply("LEAD3@example.org", None, message_id="<r3@x>"))
    imap_server.append(imap_folder, b"\xff\xfe garbage without headers\r\n")
    now = T0 + timedelta(hours=1)
    good = imap_server.url(imap_folder)
    refused = imap_server.url(imap_folder, password="wrong")
    poller = ReplyPoller(kit.store, (refused, good), lambda: now)  # type: ignore[arg-type]

    with structlog.testing.capture_logs() as logs:
        counts = poller.run()

    assert counts == {"reply": 3, "auto_reply": 1, "bounce": 1, "unmatched": 1, "stopped": 3}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "reply_mailbox_login_refused"
    ]
    statuses = [lead_row(kit.seed, i)["status"] for i in leads]
    assert statuses == ["replied", "active", "bounced", "replied", "active"]
    assert imap_server.seen(imap_folder) == []  # nothing marked read
    assert poller.run() == {}  # nothing read twice
    state = kit.store.reply_mailbox(mailbox(good).name)  # type: ignore[attr-defined]
    assert state is not None and state.last_uid == 5

    imap_server.append(imap_folder, reply("lead4@example.org", ids[4], message_id="<r4@x>"))
    assert poller.run() == {"reply": 1, "stopped": 1}
    assert lead_row(kit.seed, leads[4])["status"] == "replied"


def test_a_new_uidvalidity_reads_again_and_counts_nothing_twice(
    kit: Kit, imap_server: ImapServer, imap_folder: str
) -> None:
    campaign = sequence_campaign(kit.seed, [{}, {}], from_email=USER)
    one, two = lead(kit.seed, campaign, 1), lead(kit.seed, campaign, 2)
    dispatch(kit, T0)
    ids = [lead_row(kit.seed, i)["rows"][0]["message_id_header"] for i in (one, two)]
    first = reply("lead1@example.org", ids[0], message_id="<r1@x>")
    imap_server.append(imap_folder, first)
    poller = ReplyPoller(kit.store, (imap_server.url(imap_folder),), lambda: T0)  # type: ignore[arg-type]
    assert poller.run() == {"reply": 1, "stopped": 1}

    with imap_server.client() as client:  # the folder made again: a new UIDVALIDITY
        client.delete_folder(imap_folder)
        client.create_folder(imap_folder)
    imap_server.append(imap_folder, first)
    imap_server.append(imap_folder, reply("lead2@example.org", ids[1], message_id="<r2@x>"))

    assert poller.run() == {"reply": 1, "stopped": 1}
    assert lead_row(kit.seed, two)["status"] == "replied"
