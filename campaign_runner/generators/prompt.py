"""The messages sent to the model, from `templates/groq_prompt.j2`.

The campaign's `ai_prompt` is the operator's and goes in as instructions.
The contact's fields are anyone's: only a whitelist of them is passed, each
cut short, JSON-encoded and fenced in `<contact>` tags that the prompt calls
data. `<` and `>` inside the JSON are written as `\\u003c` / `\\u003e` (still
valid JSON), so no field can close the fence and speak as the prompt.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ..models import Email
from ..render import contact_fields
from .guardrails import BODY_MAX_CHARS, BODY_MIN_CHARS, SUBJECT_MAX_CHARS

# The fields a model may see. Not the address (it needs no address to write
# a letter), nor free-text or link fields such as notes or website.
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "name",
    "company",
    "title",
    "role",
    "industry",
    "city",
    "country",
)
FIELD_MAX_CHARS = 100

Messages = list[dict[str, str]]


@cache
def _template() -> jinja2.Template:
    source = (files("campaign_runner") / "templates" / "groq_prompt.j2").read_text("utf-8")
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(source)


def _block(name: str, **context: Any) -> str:
    template = _template()
    return "".join(template.blocks[name](template.new_context(context))).strip()


def _fenced_json(value: Any) -> str:
    return (
        json.dumps(value, ensure_ascii=False, indent=2)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
    )


def contact_data(email: Email) -> dict[str, str]:
    """The whitelisted fields of the contact, each at most `FIELD_MAX_CHARS` long."""
    data = {}
    for key, value in contact_fields(email).items():
        if key in CONTACT_FIELDS and isinstance(value, str | int | float):
            text = " ".join(str(value).split())
            data[key] = text if len(text) <= FIELD_MAX_CHARS else text[: FIELD_MAX_CHARS - 1] + "…"
    return data


def build_messages(email: Email, ai_prompt: str, subject: str | None) -> Messages:
    """The conversation that asks for this contact's email; `subject` is the one the
    campaign fixed (already personalised), or None when the model writes it."""
    context = {
        "ai_prompt": ai_prompt,
        "contact_json": _fenced_json(contact_data(email)),
        "subject_json": _fenced_json(subject) if subject else "",
        "body_min_chars": BODY_MIN_CHARS,
        "body_max_chars": BODY_MAX_CHARS,
        "subject_max_chars": SUBJECT_MAX_CHARS,
    }
    return [
        {"role": "system", "content": _block("system", **context)},
        {"role": "user", "content": _block("user", **context)},
    ]


def correction(answer: str | None, problems: list[str]) -> Messages:
    """What follows a rejected answer: the answer itself (if any), then what to fix."""
    told = [{"role": "user", "content": _block("correction", problems=problems)}]
    return ([{"role": "assistant", "content": answer}] if answer else []) + told


def estimate_tokens(messages: Messages) -> int:
    """A generous guess at the prompt's size (about 3 characters a token, plus framing),
    for reserving tokens before Groq says what it counted."""
    return sum(len(m["content"]) // 3 + 4 for m in messages)
