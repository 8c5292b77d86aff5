"""Leases renewed while held, and the provider's answer winning over recovery's guess,
on the embedded store with an in-process twin of the Sender port (as test_pipeline.py):
the send can then do, while it is out, what another worker would do meanwhile."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from campaign_runner.adapters import build_pipeline
from campaign_runner.errors import RowError, StoreUnavailable, TransientError
from campaign_runner.leases import Leases
from campaign_runner.models import Message
from campaign_runner.pipeline import Pipeline
from campaign_runner.ports import Pacing
from campaign_runner.stores.sqlite import SqliteStore
from tests.fixtures.embedded import campaign, email_row

OTHER = "worker-other"


class DuringSend:
    """A sender that runs `meanwhile(message)` while the message is out, then accepts it
    (or raises what `meanwhile` returned)."""

    def __init__(self, meanwhile: Callable[[Message], Exception | None]) -> None:
        self.meanwhile = meanwhile
        self.sent: list[str] = []

    def send(self, message: Message) -> str:
        error = self.meanwhile(message)
        if error is not None:
            raise error
        self.sent.append(message.email_id)
        return f"pm-{message.email_id}"

    def close(self) -> None:
        pass


@pytest.fixture
def pipeline_with(make_config, sqlite_store):
    made: list[Pipeline] = []

    def make(meanwhile: Callable[[Message], Exception | None], **settings: str) -> Pipeline:
        pipeline = build_pipeline(make_config(**settings), sqlite_store)
        pipeline.sender = DuringSend(meanwhile)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.leases.close()


def recovered_by_another_worker(store: SqliteStore, lease_seconds: int) -> Counter[str]:
    """What another worker's stale recovery does, its clock a lease and more ahead."""
    later = datetime.now(UTC) + timedelta(seconds=lease_seconds + 60)
    return store.recover_stale(lease_seconds, 3, later)


def test_an_acceptance_that_comes_after_recovery_failed_the_row_is_recorded_sent(
    pipeline_with, sqlite_store
) -> None:
    camp, row = campaign(), email_row()
    sqlite_store.stage(camp, [row])
    recovered: list[Counter[str]] = []
    pipeline = pipeline_with(
        lambda m: recovered.append(recovered_by_another_worker(sqlite_store, 900))
    )

    report = pipeline.run_cycle(Pacing())

    assert recovered == [Counter({"failed": 1})]  # the guess was made while the email was out
    assert report.outcomes == Counter({"sent": 1})
    (stored,) = sqlite_store.campaign_rows(camp["id"])
    assert (stored["status"], stored["provider_message_id"]) == ("sent", f"pm-{row['id']}")
    assert stored["error"].startswith("settled late: ")
    assert stored["locked_by"] == pipeline.config.worker_id


def test_a_refusal_that_comes_after_recovery_failed_the_row_replaces_the_guess(
    pipeline_with, sqlite_store
) -> None:
    camp, row = campaign(), email_row()
    sqlite_store.stage(camp, [row])

    def refused(message: Message) -> Exception:
        recovered_by_another_worker(sqlite_store, 900)
        return RowError("SparkPost refused the message: 422 invalid recipient")

    pipeline_with(refused).run_cycle(Pacing())

    (stored,) = sqlite_store.campaign_rows(camp["id"])
    assert stored["status"] == "failed"
    assert stored["error"].startswith("SparkPost refused the message: 422 invalid recipient (")
    assert "settled late" in stored["error"]


def test_a_send_the_provider_put_off_after_recovery_failed_the_row_is_queued_again(
    pipeline_with, sqlite_store
) -> None:
    camp, row = campaign(), email_row()
    sqlite_store.stage(camp, [row])

    def busy(message: Message) -> Exception:
        recovered_by_another_worker(sqlite_store, 900)
        return TransientError("SparkPost busy (503)")

    pipeline_with(busy).run_cycle(Pacing())

    (stored,) = sqlite_store.campaign_rows(camp["id"])
    assert (stored["status"], stored["send_started_at"], stored["locked_by"]) == (
        "queued",
        None,
        None,
    )
    assert stored["error"].startswith("SparkPost busy (503) (settled late: ")


def test_a_send_slower_than_the_lease_keeps_its_lease(pipeline_with, sqlite_store) -> None:
    camp, row = campaign(), email_row()
    sqlite_store.stage(camp, [row])
    seen: list[Counter[str]] = []

    def slow(message: Message) -> None:
        for _ in range(3):  # three leases long, another worker looking every lease
            threading.Event().wait(1.0)
            seen.append(sqlite_store.recover_stale(1, 3, datetime.now(UTC)))
        return None

    pipeline = pipeline_with(slow, LEASE_SECONDS="1")
    pipeline.run_cycle(Pacing())

    assert seen == [Counter()] * 3
    (stored,) = sqlite_store.campaign_rows(camp["id"])
    assert (stored["status"], stored["error"]) == ("sent", None)


class Flaky:
    """The store's renewal, down while `down` is set; every call recorded."""

    def __init__(self) -> None:
        self.down = False
        self.calls: list[list[str]] = []

    def renew_leases(self, worker_id: str, ids: list[str], now: datetime) -> int:
        self.calls.append(ids)
        if self.down:
            raise StoreUnavailable("Postgres at x: connection refused")
        return len(ids)


def test_renewal_is_one_call_for_all_held_rows_and_none_for_nothing() -> None:
    store = Flaky()
    leases = Leases(store, "w", 3600, lambda: datetime.now(UTC))

    assert leases.renew() and store.calls == []  # holding nothing: not a word
    leases.hold(["b", "a"])
    leases.hold(["c"])
    leases.release("b")
    assert leases.renew()
    assert store.calls == [["a", "c"]]
    leases.close()


def test_a_failed_renewal_stops_new_sends_until_one_succeeds() -> None:
    store = Flaky()
    leases = Leases(store, "w", 3600, lambda: datetime.now(UTC))
    leases.hold(["a"])

    store.down = True
    assert not leases.renew()
    assert not leases.can_send and "connection refused" in leases.why_not
    assert not leases.renew()
    store.down = False
    assert leases.renew()
    assert leases.can_send
    leases.close()


def test_a_cycle_claims_nothing_while_its_leases_cannot_be_renewed(
    pipeline_with, sqlite_store
) -> None:
    camp = campaign()
    sqlite_store.stage(camp, [email_row()])
    pipeline = pipeline_with(lambda m: None)
    store = Flaky()
    store.down = True
    pipeline.leases.store = store
    pipeline.leases.hold(["held-before"])
    pipeline.leases.renew()

    report = pipeline.run_cycle(Pacing())

    assert report.claimed == 0 and report.systemic.startswith("cannot renew leases: ")
    store.down = False
    assert pipeline.run_cycle(Pacing()).claimed == 1  # renewed at the cycle's start
