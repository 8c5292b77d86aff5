"""Store contract: a claimed row from start_send to its end, stale leases, roll-up."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from campaign_runner.errors import LeaseLost
from campaign_runner.models import Content, Email, Outcome
from campaign_runner.ports import Pacing

from .kits import T0, Kit

WORKER = "worker-a"
LATER = T0 + timedelta(seconds=30)
LEASE = 900


def claim_one(kit: Kit, campaign: str | None = None) -> Email:
    campaign = campaign or kit.seed.campaign()
    kit.seed.email(campaign, subject="Stored subject", body="Stored body")
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    return email


def test_start_send_records_the_moment_and_keeps_stored_content(kit: Kit) -> None:
    email = claim_one(kit)

    kit.store.start_send(email, WORKER, Content("Ignored", "Ignored"), LATER)

    row = kit.seed.email_row(email.id)
    assert row["send_started_at"] == LATER
    assert (row["subject"], row["body"]) == ("Stored subject", "Stored body")
    assert row["generated_at"] is None and row["generation_model"] is None


def test_start_send_saves_generated_content_with_its_model_and_usage(kit: Kit) -> None:
    email = claim_one(kit)
    content = Content(
        "Written", "Written body", model="m-1", usage={"prompt_tokens": 11, "completion_tokens": 7}
    )

    kit.store.start_send(email, WORKER, content, LATER)

    row = kit.seed.email_row(email.id)
    assert (row["subject"], row["body"]) == ("Written", "Written body")
    assert (row["generation_model"], row["generated_at"]) == ("m-1", LATER)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (11, 7)


def test_start_send_by_a_worker_that_lost_the_lease_raises_and_changes_nothing(kit: Kit) -> None:
    email = claim_one(kit)

    with pytest.raises(LeaseLost):
        kit.store.start_send(email, "worker-b", Content("s", "b", model="m"), LATER)

    assert kit.store.finish(email, WORKER, Outcome("failed", error="bad address"), LATER)
    with pytest.raises(LeaseLost):
        kit.store.start_send(email, WORKER, Content("s", "b"), LATER)
    row = kit.seed.email_row(email.id)
    assert row["send_started_at"] is None and row["subject"] == "Stored subject"


def test_finish_sent_records_the_provider_id_and_time(kit: Kit) -> None:
    email = claim_one(kit)
    kit.store.start_send(email, WORKER, Content("s", "b"), LATER)

    assert kit.store.finish(email, WORKER, Outcome("sent", provider_message_id="pm-1"), LATER)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["provider_message_id"], row["sent_at"]) == ("sent", "pm-1", LATER)
    assert row["error"] is None and row["attempts"] == 1


def test_finish_failed_records_the_reason(kit: Kit) -> None:
    email = claim_one(kit)

    assert kit.store.finish(email, WORKER, Outcome("failed", error="suppressed"), LATER)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["error"], row["sent_at"]) == ("failed", "suppressed", None)


def test_finish_is_refused_to_another_worker_and_after_the_row_ended(kit: Kit) -> None:
    email = claim_one(kit)

    assert not kit.store.finish(email, "worker-b", Outcome("sent", provider_message_id="x"), LATER)
    assert kit.store.finish(email, WORKER, Outcome("failed", error="first"), LATER)
    assert not kit.store.finish(email, WORKER, Outcome("sent", provider_message_id="x"), LATER)
    row = kit.seed.email_row(email.id)
    assert (row["status"], row["error"], row["provider_message_id"]) == ("failed", "first", None)


def test_requeue_counts_the_attempt_and_reschedules(kit: Kit) -> None:
    email = claim_one(kit)
    kit.store.start_send(email, WORKER, Content("s", "b"), LATER)
    retry_at = T0 + timedelta(minutes=5)

    assert kit.store.finish(email, WORKER, Outcome("queued", error="429", retry_at=retry_at), LATER)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["attempts"], row["scheduled_for"]) == ("queued", 1, retry_at)
    assert (row["locked_by"], row["locked_at"], row["send_started_at"]) == (None, None, None)
    assert row["error"] == "429"
    assert kit.store.claim(WORKER, 1, retry_at - timedelta(seconds=1), Pacing()) == []
    (again,) = kit.store.claim(WORKER, 1, retry_at, Pacing())
    assert again.attempts == 2


def test_requeue_after_a_system_fault_gives_the_attempt_back(kit: Kit) -> None:
    email = claim_one(kit)
    outcome = Outcome("queued", error="system: bad key", count_attempt=False)

    assert kit.store.finish(email, WORKER, outcome, LATER)

    row = kit.seed.email_row(email.id)
    assert (row["status"], row["attempts"], row["scheduled_for"]) == (
        "queued",
        0,
        email.scheduled_for,
    )


def test_recover_stale_settles_only_expired_leases_each_by_what_it_knows(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for _ in range(3):
        kit.seed.email(campaign)
    not_started, started, worn_out = kit.store.claim(WORKER, 3, T0, Pacing())
    kit.store.start_send(started, WORKER, Content("s", "b"), T0)
    for _ in range(2):  # worn_out comes back and is claimed twice more: attempts 3
        assert kit.store.finish(worn_out, WORKER, Outcome("queued", error="t"), T0)
        kit.store.claim(WORKER, 1, T0, Pacing())

    assert kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE - 1)) == Counter()
    recovered = kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1))

    assert recovered == Counter({"queued": 1, "failed": 2})
    row = kit.seed.email_row(not_started.id)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("queued", 1, None)
    assert row["error"] == f"recovered: worker {WORKER} stopped before sending"
    row = kit.seed.email_row(started.id)
    assert row["status"] == "failed"
    assert row["error"].startswith(f"ambiguous: interrupted during send (worker {WORKER}")
    row = kit.seed.email_row(worn_out.id)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["error"] == "worker stopped while processing this row 3 times"
    assert kit.store.recover_stale(LEASE, 3, T0 + timedelta(hours=1)) == Counter()


def test_a_recovered_row_is_lost_to_its_old_worker(kit: Kit) -> None:
    email = claim_one(kit)
    kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1))
    kit.store.claim("worker-b", 1, T0 + timedelta(seconds=LEASE + 2), Pacing())

    with pytest.raises(LeaseLost):
        kit.store.start_send(email, WORKER, Content("s", "b"), LATER)
    assert not kit.store.finish(email, WORKER, Outcome("sent", provider_message_id="x"), LATER)
    assert kit.seed.email_row(email.id)["locked_by"] == "worker-b"


def test_roll_up_counts_and_completes_a_campaign_with_nothing_left(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for _ in range(3):
        kit.seed.email(campaign)
    a, b, c = kit.store.claim(WORKER, 3, T0, Pacing())
    kit.store.finish(a, WORKER, Outcome("sent", provider_message_id="1"), LATER)
    kit.store.finish(b, WORKER, Outcome("failed", error="bad"), LATER)

    kit.store.roll_up(LATER)
    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["sent_count"], row["failed_count"]) == ("sending", 1, 1)
    assert row["completed_at"] is None

    kit.store.finish(c, WORKER, Outcome("sent", provider_message_id="3"), LATER)
    done = LATER + timedelta(seconds=1)
    kit.store.roll_up(done)
    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["sent_count"], row["failed_count"]) == ("completed", 2, 1)
    assert row["completed_at"] == done


def test_roll_up_keeps_a_campaign_sending_while_rows_are_queued(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    kit.seed.email(campaign, scheduled_for=T0 + timedelta(days=1))
    (email,) = kit.store.claim(WORKER, 5, T0, Pacing())
    kit.store.finish(email, WORKER, Outcome("sent", provider_message_id="1"), LATER)

    kit.store.roll_up(LATER)

    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["sent_count"]) == ("sending", 1)


def test_roll_up_recounts_paused_campaigns_but_never_completes_them(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    kit.seed.set_campaign_status(campaign, "paused")
    kit.store.finish(email, WORKER, Outcome("sent", provider_message_id="1"), LATER)
    untouched = kit.seed.campaign("scheduled")

    kit.store.roll_up(LATER)

    row = kit.seed.campaign_row(campaign)
    assert (row["status"], row["sent_count"], row["completed_at"]) == ("paused", 1, None)
    assert kit.seed.campaign_row(untouched)["status"] == "scheduled"


def test_status_counts_rows_per_campaign_and_status(kit: Kit) -> None:
    first = kit.seed.campaign(name="Alpha")
    second = kit.seed.campaign(name="Beta", status="paused")
    kit.seed.email(first)
    kit.seed.email(first)
    kit.seed.email(first, status="staged")
    kit.seed.email(second)
    kit.store.claim(WORKER, 1, T0, Pacing())

    campaigns = kit.store.status(T0)

    assert [(c.campaign_id, c.campaign_name, c.campaign_status, c.rows) for c in campaigns] == [
        (first, "Alpha", "sending", {"processing": 1, "queued": 1, "staged": 1}),
        (second, "Beta", "paused", {"queued": 1}),
    ]
