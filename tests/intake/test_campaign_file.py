"""Campaign files: what they set, and one message naming the key for each bad one."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from campaign_runner.intake import campaign_file
from campaign_runner.intake.campaign_file import SpecError

EXAMPLE = Path(__file__).parents[2] / "examples" / "campaign.toml"

GOOD = """
key = "autumn-2026"
name = "Autumn outreach"
from_name = "Sam at Ledgerly"
reply_to = "Sam@Ledgerly.example.com"
subject = "{{ company }} and a quicker close"
body = "Hi {{ first_name }},\\n\\nShall we talk?"

[schedule]
days = ["mon", "wed", "fri"]
start_hour = 9
end_hour = 17
timezone = "Europe/Berlin"
daily_limit = 200
"""


def parse(text: str) -> campaign_file.CampaignSpec:
    return campaign_file.parse(tomllib.loads(text))


def test_a_complete_file_gives_the_campaign_columns() -> None:
    spec = parse(GOOD)

    assert spec.key == "autumn-2026"
    assert spec.columns() == {
        "name": "Autumn outreach",
        "subject": "{{ company }} and a quicker close",
        "body_template": "Hi {{ first_name }},\n\nShall we talk?",
        "ai_prompt": None,
        "from_name": "Sam at Ledgerly",
        "reply_to": "Sam@ledgerly.example.com",
        "send_days": ["mon", "wed", "fri"],
        "send_time_start": "09:00",
        "send_time_end": "17:00",
        "timezone": "Europe/Berlin",
        "daily_limit": 200,
    }


def test_the_schedule_is_optional_key_by_key_and_days_read_as_work_days() -> None:
    spec = parse(
        'key = "k"\nname = "n"\nai_prompt = "Write to {{ company }}"\n'
        '[schedule]\ndays = "fri-mon"\n'
    )

    columns = spec.columns()
    assert columns["send_days"] == ["mon", "fri", "sat", "sun"]
    assert columns["send_time_start"] is None and columns["timezone"] is None
    assert columns["body_template"] is None and columns["subject"] is None


def test_the_example_file_in_the_repository_applies() -> None:
    assert campaign_file.load(EXAMPLE).key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "n"\nbody = "b"', "key: missing"),
        ('key = "k"\nbody = "b"', "name: missing"),
        ('key = "k"\nname = "n"', "body: missing"),
        ('key = "Not A Key"\nname = "n"\nbody = "b"', "key = 'Not A Key': expected"),
        ('key = "k"\nname = "n"\nbody = "b"\ncolour = "red"', "colour: unknown key"),
        ('key = "k"\nname = "n"\nbody = "b"\n[schedule]\nhour = 3', "schedule.hour: unknown"),
        ('key = "k"\nname = "n"\nbody = "Hi {{ first_name"', "body: template does not compile"),
        ('key = "k"\nname = "n"\nbody = "b"\nsubject = "{% if %}"', "subject: template"),
        ('key = "k"\nname = "n"\nbody = "b"\n[schedule]\nstart_hour = 25', "start_hour = 25"),
        ('key = "k"\nname = "n"\nbody = "b"\n[schedule]\nend_hour = 0', "end_hour = 0"),
        (
            'key = "k"\nname = "n"\nbody = "b"\n[schedule]\nstart_hour = 17\nend_hour = 9',
            "end_hour = 9: expected an hour after start_hour = 17",
        ),
        ('key = "k"\nname = "n"\nbody = "b"\n[schedule]\nstart_hour = 9.5', "start_hour = 9.5"),
        ('key = "k"\nname = "n"\nbody = "b"\n[schedule]\ndays = "someday"', "schedule.days"),
        (
            'key = "k"\nname = "n"\nbody = "b"\n[schedule]\ntimezone = "Mars/Olympus"',
            "schedule.timezone = 'Mars/Olympus'",
        ),
        ('key = "k"\nname = "n"\nbody = "b"\n[schedule]\ndaily_limit = 0', "daily_limit = 0"),
        ('key = "k"\nname = "n"\nbody = "b"\nreply_to = "nobody"', "reply_to = 'nobody'"),
        ('key = "k"\nname = 3\nbody = "b"', "name = 3: expected a string"),
        ('key = "k"\nname = "n"\nbody = "b"\nschedule = 3', "schedule: expected a table"),
    ],
)
def test_a_bad_file_is_one_message_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse(text)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_file_that_is_not_toml_or_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('key = "k"\nname = \n')
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'key = "k"\nname = "Caf\xe9"\n')

    with pytest.raises(SpecError, match=r"broken.toml: not valid TOML: .*line 2"):
        campaign_file.load(broken)
    with pytest.raises(SpecError, match=r"latin.toml: line 2: not UTF-8"):
        campaign_file.load(latin)
    with pytest.raises(SpecError, match=r"missing.toml: cannot read"):
        campaign_file.load(tmp_path / "missing.toml")


def test_a_refusal_says_which_fields_and_why() -> None:
    message = campaign_file.refusal("autumn", "sending", ["body_template", "timezone"])

    assert message.startswith("campaign 'autumn' is sending")
    assert "body: rows already sent or waiting would get different text" in message
    assert "schedule.timezone: rows are already scheduled by the old schedule" in message
