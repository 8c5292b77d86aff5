"""Store contract: leases renewed while held, and the known outcome that wins late."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from campaign_runner.models import Content, Email, Outcome
from campaign_runner.ports import Pacing

from .kits import T0, Kit

WORKER = "worker-a"
LEASE = 60


def test_renewal_moves_the_lease_of_every_row_held_and_none_other(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for _ in range(4):
        kit.seed.email(campaign)
    mine = kit.store.claim(WORKER, 3, T0, Pacing())
    (theirs,) = kit.store.claim("worker-b", 1, T0, Pacing())
    kit.store.finish(mine[2], WORKER, Outcome("sent", provider_message_id="1"), T0)
    later = T0 + timedelta(seconds=40)
    updated = kit.seed.email_row(mine[0].id)["updated_at"]

    ids = [email.id for email in mine] + [theirs.id]
    assert kit.store.renew_leases(WORKER, ids, later) == 2

    locked = {email.id: kit.seed.email_row(email.id)["locked_at"] for email in [*mine, theirs]}
    assert locked == {mine[0].id: later, mine[1].id: later, mine[2].id: T0, theirs.id: T0}
    assert kit.seed.email_row(mine[0].id)["updated_at"] == updated  # its data did not change


def test_a_renewed_lease_is_not_stale_and_one_left_to_run_out_is(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    kit.seed.email(campaign)
    kept, dropped = kit.store.claim(WORKER, 2, T0, Pacing())
    kit.store.start_send(kept, WORKER, Content("s", "b"), T0)
    kit.store.start_send(dropped, WORKER, Content("s", "b"), T0)
    for n in range(1, 4):  # renewed every LEASE / 3, for a whole lease and more
        kit.store.renew_leases(WORKER, [kept.id], T0 + timedelta(seconds=n * LEASE / 3))

    recovered = kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1))

    assert recovered == Counter({"failed": 1})
    assert kit.seed.email_row(kept.id)["status"] == "processing"
    assert kit.seed.email_row(dropped.id)["error"].startswith("ambiguous: interrupted")


def test_starting_the_send_renews_the_lease(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    started = T0 + timedelta(seconds=LEASE - 1)  # it waited nearly a lease for its content

    kit.store.start_send(email, WORKER, Content("s", "b"), started)

    assert kit.seed.email_row(email.id)["locked_at"] == started
    assert kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1)) == Counter()


def test_renewing_nothing_held_anymore_renews_nothing(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1))

    assert kit.store.renew_leases(WORKER, [email.id], T0 + timedelta(seconds=LEASE + 2)) == 0
    assert kit.seed.email_row(email.id)["status"] == "queued"


def recovered_while_sending(kit: Kit) -> tuple[Email, datetime, datetime]:
    """A row whose send started at T0 + 1 s and whose lease then ran out: stale recovery
    has failed it as ambiguous. The row, its send's start, a moment after recovery."""
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    started = T0 + timedelta(seconds=1)
    kit.store.start_send(email, WORKER, Content("s", "b"), started)
    assert kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 2)) == Counter(
        {"failed": 1}
    )
    kit.store.roll_up(T0 + timedelta(seconds=LEASE + 2))
    return email, started, T0 + timedelta(seconds=LEASE + 3)


def test_the_provider_acceptance_replaces_recoverys_guess_and_is_counted(kit: Kit) -> None:
    email, started, later = recovered_while_sending(kit)
    assert kit.seed.campaign_row(email.campaign_id)["status"] == "completed"
    sent = Outcome("sent", provider_message_id="pm-7", error="settled late: note")

    assert not kit.store.finish(email, WORKER, sent, later)  # the row is not processing
    assert kit.store.settle_late(email, WORKER, sent, started, later)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["provider_message_id"], row["sent_at"]) == ("sent", "pm-7", later)
    assert row["error"] == "settled late: note"
    campaign = kit.seed.campaign_row(email.campaign_id)
    assert (campaign["sent_count"], campaign["failed_count"]) == (1, 0)
    # A final state stays final: the same answer again, or another, changes nothing.
    assert not kit.store.settle_late(email, WORKER, sent, started, later)
    refused = Outcome("failed", error="rejected: no such user")
    assert not kit.store.settle_late(email, WORKER, refused, started, later)
    assert kit.seed.email_row(email.id)["status"] == "sent"


def test_the_provider_refusal_replaces_recoverys_guess(kit: Kit) -> None:
    email, started, later = recovered_while_sending(kit)
    refused = Outcome(
        "failed", error="rejected: 550 no such user (settled late: note)", failure_kind="rejected"
    )

    assert kit.store.settle_late(email, WORKER, refused, started, later)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["error"]) == ("failed", refused.error)
    assert row["failure_kind"] == "rejected"
    campaign = kit.seed.campaign_row(email.campaign_id)
    assert (campaign["sent_count"], campaign["failed_count"]) == (0, 1)


def test_a_send_the_provider_did_not_take_goes_back_to_the_queue(kit: Kit) -> None:
    email, started, later = recovered_while_sending(kit)
    retry_at = later + timedelta(minutes=5)
    not_now = Outcome(
        "queued", error="SparkPost busy (503) (settled late: note)", retry_at=retry_at
    )

    assert kit.store.settle_late(email, WORKER, not_now, started, later)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["scheduled_for"], row["send_started_at"]) == (
        "queued",
        retry_at,
        None,
    )
    assert (row["locked_by"], row["attempts"]) == (None, 1)  # a refusal counts the attempt
    campaign = kit.seed.campaign_row(email.campaign_id)
    assert (campaign["status"], campaign["failed_count"]) == ("sending", 0)


@pytest.mark.parametrize(
    "who, when, outcome",
    [
        ("worker-b", None, Outcome("sent", provider_message_id="x")),  # not the holder
        (
            WORKER,
            timedelta(microseconds=1),
            Outcome("sent", provider_message_id="x"),
        ),  # not that send
        (WORKER, None, Outcome("processing")),  # not an outcome
    ],
)
def test_only_the_holders_answer_for_that_send_replaces_the_guess(
    kit: Kit, who: str, when: timedelta | None, outcome: Outcome
) -> None:
    email, started, later = recovered_while_sending(kit)
    before = kit.seed.email_row(email.id)

    assert not kit.store.settle_late(email, who, outcome, started + (when or timedelta()), later)

    assert kit.seed.email_row(email.id) == before


def test_no_other_final_state_is_ever_overwritten(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for _ in range(3):
        kit.seed.email(campaign)
    sent, refused, worn_out = kit.store.claim(WORKER, 3, T0, Pacing())
    for email in (sent, refused):
        kit.store.start_send(email, WORKER, Content("s", "b"), T0)
    kit.store.finish(sent, WORKER, Outcome("sent", provider_message_id="1"), T0)
    own_verdict = Outcome("failed", error="ambiguous: timed out", failure_kind="ambiguous")
    kit.store.finish(refused, WORKER, own_verdict, T0)
    kit.store.recover_stale(LEASE, 1, T0 + timedelta(seconds=LEASE + 1))  # never started
    before = {email.id: kit.seed.email_row(email.id) for email in (sent, refused, worn_out)}

    answer = Outcome("sent", provider_message_id="2")
    for email in (sent, refused, worn_out):
        assert not kit.store.settle_late(email, WORKER, answer, T0, T0 + timedelta(hours=1))

    assert {row_id: kit.seed.email_row(row_id) for row_id in before} == before
