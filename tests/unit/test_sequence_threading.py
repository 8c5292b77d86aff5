"""A sequence step goes out in the lead's thread: our Message-ID, In-Reply-To and
References to the earlier steps, a per-lead reply address; and a campaign's own
window decides when it may go."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from zoneinfo import ZoneInfo

import pytest

from campaign_runner.models import Content
from campaign_runner.render import Renderer
from campaign_runner.schedule import ScheduleError, campaign_window, local_day
from campaign_runner.senders import mime
from campaign_runner.sequences.content import thread_subject
from campaign_runner.sequences.model import Earlier
from campaign_runner.window import SendingWindow

from .test_render import make_email

STEP1 = "<7d1c0c9e-0001@send1.example.com>"
STEP2 = "<7d1c0c9e-0002@send1.example.com>"
STEP3 = "<7d1c0c9e-0003@send1.example.com>"
WORKER = SendingWindow(ZoneInfo("America/Los_Angeles"), 9, 17, frozenset(range(5)))


def test_a_follow_up_names_the_earlier_steps_and_keeps_its_own_message_id() -> None:
    row = make_email(
        message_id_header=STEP3, references_header=f"{STEP1} {STEP2}", reply_token="tok3n"
    )
    message = Renderer(reply_address="replies@example.com").render(row, Content("Re: Hi", "Body"))

    parsed = email.message_from_bytes(mime.build(message, "<ignored@x>"), policy=policy.default)
    assert parsed.get_all("Message-ID") == [STEP3]
    assert parsed["In-Reply-To"] == STEP2
    assert parsed["References"].split() == [STEP1, STEP2]
    assert parsed["Reply-To"] == "replies+tok3n@example.com"


def test_a_single_email_is_as_before() -> None:
    message = Renderer().render(make_email(), Content("Hi", "Body"))

    assert "Message-ID" not in message.headers and "References" not in message.headers
    assert message.reply_to == "replies@example.com"  # the campaign's


def test_a_step_without_a_subject_answers_the_first_one() -> None:
    earlier = (Earlier(1, "Re: Quick question", "b"), Earlier(2, "Other", "b"))
    assert thread_subject(earlier) == "Re: Quick question"
    assert thread_subject(()) is None


def test_a_campaigns_window_is_its_own_and_the_workers_where_it_says_nothing() -> None:
    window = campaign_window(
        {"send_days": ["tue", "thu"], "send_time_start": "10:30:00", "timezone": "Europe/Berlin"},
        WORKER,
    )
    assert (window.start_hour, window.end_hour, window.days) == (11, 17, frozenset({1, 3}))
    assert window.tz == ZoneInfo("Europe/Berlin")
    assert campaign_window({}, WORKER) == WORKER
    tuesday_noon_berlin = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert window.is_open(tuesday_noon_berlin)
    start, end = local_day(tuesday_noon_berlin, window)
    assert (start, end) == (
        datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 23, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "row, words",
    [
        ({"send_days": ["someday"]}, "names no day"),
        ({"send_time_start": "18:00", "send_time_end": "09:00"}, "is empty"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a known"),
        ({"send_time_start": "9am"}, "send time '9am' is not HH:MM"),
    ],
)
def test_a_schedule_that_cannot_send_is_refused_with_the_reason(row: dict, words: str) -> None:
    with pytest.raises(ScheduleError, match=words):
        campaign_window(row, WORKER)
