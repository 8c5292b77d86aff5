"""The worker's clock on the store's view of waiting rows: the sending window and the
day the daily cap counts are the worker's, so `operations.judged` applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from campaign_runner.operations import describe_waiting, judged
from campaign_runner.ports import CampaignStatus, Pacing, Waiting
from campaign_runner.window import SendingWindow

LA = ZoneInfo("America/Los_Angeles")
WEEKDAYS = SendingWindow(LA, 9, 17, frozenset(range(5)))
MONDAY_NOON = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 12:00 in California
MONDAY_NIGHT = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 22:00 in California
MIDNIGHT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 00:00 in California
PACING = Pacing(min_interval_seconds=210, daily_cap=100, day_start=MIDNIGHT)


def shown(due_now: int, **waiting: Waiting) -> CampaignStatus:
    return CampaignStatus(
        campaign_id="c1",
        campaign_name="Spring",
        campaign_status="sending",
        rows={"queued": due_now + sum(w.rows for w in waiting.values())},
        due_now=due_now,
        next_scheduled_for=None,
        ambiguous=0,
        rejected=0,
        last_error=None,
        last_error_at=None,
        paused_reason=None,
        waiting=waiting,
    )


def test_in_the_window_due_rows_stay_due_and_the_cap_lifts_at_local_midnight() -> None:
    store_view = shown(2, daily_cap=Waiting(5, None))

    (campaign,) = judged([store_view], MONDAY_NOON, WEEKDAYS, PACING)

    assert campaign.due_now == 2
    assert campaign.waiting == {"daily_cap": Waiting(5, datetime(2026, 11, 24, 8, tzinfo=UTC))}


def test_with_the_window_closed_nothing_is_due_and_everything_waits_at_least_for_it() -> None:
    paced = Waiting(1, datetime(2026, 11, 24, 6, 3, 30, tzinfo=UTC))
    store_view = shown(3, domain_paced=paced, suppressed=Waiting(1, None))

    (campaign,) = judged([store_view], MONDAY_NIGHT, WEEKDAYS, PACING)

    opens = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # Tuesday 09:00 in California
    assert campaign.due_now == 0
    assert campaign.waiting == {
        "window_closed": Waiting(2, opens),  # the suppressed one is counted as such
        "domain_paced": Waiting(1, opens),
        "suppressed": Waiting(1, None),
    }


def test_each_reason_reads_as_a_sentence_with_its_time() -> None:
    opens = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert describe_waiting("window_closed", Waiting(2, opens)) == (
        "2 rows wait for the sending window, closed until 2026-11-24 17:00:00 UTC"
    )
    assert describe_waiting("campaign_draft", Waiting(1, None)) == (
        "1 row waits for the campaign, which is draft (sent once it is scheduled or sending)"
    )
