"""What a cycle counts into the `Metrics` that `/metrics` serves: one email per outcome
written, by status and failure kind; the claim, the cycle, and the time of each
generation and send."""

from __future__ import annotations

from datetime import UTC, datetime

from campaign_runner.adapters import build_pipeline
from campaign_runner.errors import RowError, TransientError
from campaign_runner.metrics import Metrics
from campaign_runner.models import CONTENT, SUPPRESSED, TRANSIENT, Message
from campaign_runner.ports import Pacing
from tests.fixtures.embedded import campaign, email_row


class SenderByRecipient:
    """Accepts, or raises the error scripted for the message's recipient."""

    def __init__(self, errors: dict[str, Exception]) -> None:
        self.errors = errors

    def send(self, message: Message) -> str:
        if message.to_email in self.errors:
            raise self.errors[message.to_email]
        return f"id-{message.email_id}"

    def close(self) -> None:
        pass


def test_a_cycle_counts_each_outcome_once_and_times_each_step(make_config, sqlite_store) -> None:
    rows = [email_row(to_email=f"{who}@example.org") for who in ("ok", "bad", "later", "gone")]
    sqlite_store.stage(campaign(), rows)
    sqlite_store.suppress_recipient_of(rows[3]["id"], "unsubscribed", "test", datetime.now(UTC))
    metrics = Metrics()
    pipeline = build_pipeline(make_config(), sqlite_store, metrics=metrics)
    pipeline.sender = SenderByRecipient(
        {"bad@example.org": RowError("refused"), "later@example.org": TransientError("busy")}
    )
    try:
        report = pipeline.run_cycle(pacing=Pacing())
    finally:
        pipeline.close()

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert report.claimed == 4
    for outcome, kind in (
        ("sent", ""),
        ("failed", CONTENT),  # the provider refused the message as it was
        ("queued", TRANSIENT),
        ("failed", SUPPRESSED),
    ):
        assert sample("campaign_runner_emails_total", outcome=outcome, failure_kind=kind) == 1
    assert sample("campaign_runner_claims_total") == 1
    assert sample("campaign_runner_claimed_rows_total") == 4
    assert sample("campaign_runner_cycle_duration_seconds_count") == 1
    # Every row had an empty body, so the template generator wrote each that was not
    # suppressed, and each of those was sent.
    assert sample("campaign_runner_generation_seconds_count", generator="template") == 3
    assert sample("campaign_runner_send_seconds_count", sender="outbox") == 3
