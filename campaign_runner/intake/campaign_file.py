"""A campaign as a TOML file (`campaign-runner campaign apply FILE.toml`).

The file is the whole campaign: applying it twice changes nothing, and a key
left out of it is cleared in the store. Every problem is one `SpecError` whose
message names the key, found before anything is written. The schedule's keys
are optional one by one: a key left out means the worker's own setting
(`TIMEZONE`, `WORK_DAYS`, `WORK_START_HOUR`, `WORK_END_HOUR`) at launch.

A sequence campaign (issue 17) has `[[steps]]` tables, step 1 first: `delay_days`,
`delay_hours` (after the step before), `subject` and `body` (variant A; a later
step without a subject answers the thread, `Re: ` and step 1's), `subject_b`,
`body_b` and `split` (the percentage of leads that get A) with `ab_testing = true`,
and `ai_prompt` (the generator writes the step from it and the earlier steps).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from ..config import DAY_NAMES, parse_work_days

KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
TOP_KEYS = (
    "key",
    "name",
    "subject",
    "body",
    "ai_prompt",
    "from_name",
    "reply_to",
    "schedule",
    "ab_testing",
    "steps",
)
STEP_KEYS = (
    "delay_days",
    "delay_hours",
    "subject",
    "body",
    "subject_b",
    "body_b",
    "split",
    "ai_prompt",
)
SCHEDULE_KEYS = ("days", "start_hour", "end_hour", "timezone", "daily_limit")

# Only the syntax is checked here, and it is the same in every environment; the
# sandbox and StrictUndefined that apply when a row is written are render.py's.
_syntax = SandboxedEnvironment()

# What may not change once a campaign is launched (scheduled, sending, paused, or
# finished), and why: rows already sent or scheduled were promised these.
FROZEN_ONCE_LAUNCHED: dict[str, str] = {
    "subject": "rows already sent or waiting would get different text",
    "body_template": "rows already sent or waiting would get different text",
    "ai_prompt": "rows already sent or waiting would get different text",
    "from_name": "recipients would see a different sender mid-campaign",
    "reply_to": "replies to the same campaign would go to two places",
    "send_days": "rows are already scheduled by the old schedule and would not move",
    "send_time_start": "rows are already scheduled by the old schedule and would not move",
    "send_time_end": "rows are already scheduled by the old schedule and would not move",
    "timezone": "rows are already scheduled by the old schedule and would not move",
    "daily_limit": "rows are already scheduled by the old schedule and would not move",
}
# The file's spelling of a column, for messages.
FILE_NAME_OF = {
    "body_template": "body",
    "send_days": "schedule.days",
    "send_time_start": "schedule.start_hour",
    "send_time_end": "schedule.end_hour",
    "timezone": "schedule.timezone",
    "daily_limit": "schedule.daily_limit",
}


class SpecError(ValueError):
    """A campaign file that cannot be applied; the message is the one line shown."""


@dataclass(frozen=True)
class CampaignSpec:
    key: str
    name: str
    subject: str | None
    body_template: str | None
    ai_prompt: str | None
    from_name: str | None
    reply_to: str | None
    send_days: tuple[str, ...] | None  # day names in week order, Monday first
    start_hour: int | None
    end_hour: int | None  # exclusive; 24 is midnight at the end of the day
    timezone: str | None
    daily_limit: int | None
    ab_testing: bool = False
    steps: tuple[dict[str, Any], ...] = ()  # campaign_sequences columns, step 1 first

    def columns(self) -> dict[str, Any]:
        """The `campaigns` columns this file sets (None clears one). Hours are kept as
        `time` values ('09:00'), the type a frontend's schedule columns have."""
        return {
            "name": self.name,
            "subject": self.subject,
            "body_template": self.body_template,
            "ai_prompt": self.ai_prompt,
            "from_name": self.from_name,
            "reply_to": self.reply_to,
            "send_days": list(self.send_days) if self.send_days is not None else None,
            "send_time_start": _clock(self.start_hour),
            "send_time_end": _clock(self.end_hour),
            "timezone": self.timezone,
            "daily_limit": self.daily_limit,
        }


def _clock(hour: int | None) -> str | None:
    return None if hour is None else f"{hour:02d}:00"


def refusal(key: str, status: str, fields: list[str]) -> str:
    """Why a launched campaign refused a file: each frozen field it would change."""
    reasons = "; ".join(
        f"{FILE_NAME_OF.get(field, field)}: {FROZEN_ONCE_LAUNCHED[field]}" for field in fields
    )
    return (
        f"campaign {key!r} is {status}, so the file may only change its name ({reasons}). "
        "Give the file a new key to start another campaign."
    )


def load(path: Path) -> CampaignSpec:
    """Read and check a campaign file; `SpecError` names the first problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(f"{path}: line {line}: not UTF-8; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def parse(data: dict[str, Any]) -> CampaignSpec:
    _no_unknown(data, TOP_KEYS, "")
    key = _text(data, "key", required=True)
    assert key is not None
    if not KEY.match(key):
        raise SpecError(
            f"key = {key!r}: expected 1 to 64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    name = _text(data, "name", required=True)
    assert name is not None
    subject = _template(data, "subject")
    body = _template(data, "body")
    ai_prompt = _text(data, "ai_prompt")
    steps = _steps(data)
    if body is None and ai_prompt is None and not steps:
        raise SpecError("body: missing; give the campaign a body template, an ai_prompt, or both")
    reply_to = _text(data, "reply_to")
    if reply_to is not None:
        try:
            reply_to = validate_email(reply_to, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise SpecError(f"reply_to = {reply_to!r}: not a valid address: {exc}") from None
    schedule = data.get("schedule", {})
    if not isinstance(schedule, dict):
        raise SpecError("schedule: expected a table ([schedule] with days, start_hour, ...)")
    _no_unknown(schedule, SCHEDULE_KEYS, "schedule.")
    start = _whole(schedule, "start_hour", 0, 23)
    end = _whole(schedule, "end_hour", 1, 24)
    if start is not None and end is not None and end <= start:
        raise SpecError(
            f"schedule.end_hour = {end}: expected an hour after start_hour = {start} "
            "(windows do not cross midnight)"
        )
    return CampaignSpec(
        key=key,
        name=name,
        subject=subject,
        body_template=body,
        ai_prompt=ai_prompt,
        from_name=_text(data, "from_name"),
        reply_to=reply_to,
        send_days=_days(schedule),
        start_hour=start,
        end_hour=end,
        timezone=_zone(schedule),
        daily_limit=_whole(schedule, "daily_limit", 1, None, prefix="schedule."),
        ab_testing=_flag(data, "ab_testing"),
        steps=steps,
    )


def _flag(table: dict[str, Any], key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(f"{key} = {value!r}: expected true or false")
    return value


def _steps(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    raw = data.get("steps", [])
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise SpecError("steps: expected [[steps]] tables")
    steps = []
    for number, step in enumerate(raw, start=1):
        prefix = f"steps[{number}]."
        _no_unknown(step, STEP_KEYS, prefix)
        try:
            body, ai = _template(step, "body"), _text(step, "ai_prompt")
            subject = _template(step, "subject")
            columns = {
                "step_number": number,
                "delay_days": _whole(step, "delay_days", 0, 365, prefix=prefix) or 0,
                "delay_hours": _whole(step, "delay_hours", 0, 23, prefix=prefix) or 0,
                "variant_a_subject": subject,
                "variant_a_body": body,
                "variant_b_subject": _template(step, "subject_b"),
                "variant_b_body": _template(step, "body_b"),
                "variant_split": _whole(step, "split", 0, 100, prefix=prefix),
                "use_ai_generation": ai is not None,
                "ai_prompt_context": ai,
            }
        except SpecError as exc:
            message = str(exc)
            raise SpecError(message if message.startswith(prefix) else prefix + message) from None
        if body is None and ai is None:
            raise SpecError(f"{prefix}body: missing; give the step a body, an ai_prompt, or both")
        if number == 1 and subject is None and ai is None:
            raise SpecError(f"{prefix}subject: missing (only a later step may answer the thread)")
        if columns["variant_split"] is None:
            columns["variant_split"] = 50
        steps.append(columns)
    return tuple(steps)


def _no_unknown(table: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for name in table:
        if name not in known:
            raise SpecError(
                f"{prefix}{name}: unknown key; expected {', '.join(prefix + k for k in known)}"
            )


def _text(table: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise SpecError(f"{key}: missing")
        return None
    if not isinstance(value, str):
        raise SpecError(f"{key} = {value!r}: expected a string")
    value = value.strip()
    if not value:
        if required:
            raise SpecError(f"{key}: empty")
        return None
    return value


def _template(table: dict[str, Any], key: str) -> str | None:
    source = _text(table, key)
    if source is not None:
        try:
            _syntax.parse(source)
        except TemplateSyntaxError as exc:
            raise SpecError(
                f"{key}: template does not compile, line {exc.lineno}: {exc.message}"
            ) from None
    return source


def _whole(
    table: dict[str, Any], key: str, low: int, high: int | None, prefix: str = "schedule."
) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        accepts = f"from {low} to {high}" if high is not None else f"from {low} up"
        raise SpecError(f"{prefix}{key} = {value!r}: expected a whole number {accepts}")
    return value


def _days(schedule: dict[str, Any]) -> tuple[str, ...] | None:
    value = schedule.get("days")
    if value is None:
        return None
    text = (
        ",".join(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value)
        else value
    )
    try:
        if not isinstance(text, str):
            raise ValueError
        days = parse_work_days(text)  # WORK_DAYS's own syntax: one rule for both
    except (ValueError, IndexError):
        raise SpecError(
            f"schedule.days = {value!r}: expected day names like mon-fri, mon,wed,fri or all "
            '(a string, or a list like ["mon", "wed"])'
        ) from None
    return tuple(DAY_NAMES[d] for d in sorted(days))


def _zone(schedule: dict[str, Any]) -> str | None:
    value = schedule.get("timezone")
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError(
            f"schedule.timezone = {value!r}: expected an IANA time zone name like "
            "America/Los_Angeles or Europe/Berlin"
        ) from None
    return value.strip()
