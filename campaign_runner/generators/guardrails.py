"""Checks on every answer the model gives, before it can become an email.

The model reads contact data that anyone could have typed, so its answer is
judged on what it is, not on what it was asked for: a JSON object with a
plain-text body of sensible length, no template leftovers, no HTML, and no
link the campaign's own instructions did not contain. Each problem is
described in words the model can act on (it is sent back as a correction)
and an operator can read (it becomes the row's error).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

BODY_MIN_CHARS = 40
BODY_MAX_CHARS = 3000
SUBJECT_MAX_CHARS = 150
_SHOWN = 3  # examples quoted per problem

_PLACEHOLDERS = re.compile(
    r"\{\{.{0,80}?\}\}|\{%.{0,80}?%\}"  # Jinja or Handlebars: {{ first_name }}
    r"|\{[A-Za-z_][\w ]{0,40}\}"  # {first_name}, ${name}
    r"|\[[A-Z][A-Za-z .'/-]{0,40}\]"  # [First Name], [Your Company]
    r"|%[A-Z][A-Z_]{1,40}%"  # %FIRST_NAME%
    r"|<[A-Za-z_][\w ]{0,40}>",  # <name>, <First Name> (HTML tag names are left to _HTML)
    re.DOTALL,
)
_HTML_TAG_NAME = re.compile(
    r"a|abbr|b|big|blockquote|body|br|center|code|div|em|font|h[1-6]|head|hr|html|i|img|li|link"
    r"|meta|ol|p|pre|s|script|small|span|strong|style|sub|sup|table|tbody|td|th|thead|title|tr|u|ul",
    re.IGNORECASE,
)
_HTML = re.compile(
    r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>"  # tags, with or without attributes
    r"|<!--|<!doctype"  # comments, doctypes
    r"|&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});",  # entities: &nbsp; &#160;
    re.IGNORECASE,
)
# Anything a mail client would turn into something clickable: URLs, addresses, and bare
# host names (clients link `example.com` on their own). Matched in that order, each
# removed before the next, so a URL's host is not reported a second time.
_LINKS = (
    re.compile(r"(?:\b[a-z][a-z0-9+.-]{0,30}://|www\.|mailto:)[^\s<>\"'()\[\]{}]+", re.IGNORECASE),
    re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+"),
    re.compile(
        r"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,8}[a-z]{2,24}\b(?:/[^\s<>\"']*)?",
        re.IGNORECASE,
    ),
)
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Rules:
    """What an answer must satisfy for one campaign."""

    needs_subject: bool  # the campaign has no subject of its own
    allowed_links: str = ""  # the campaign's ai_prompt: links it contains may appear


@dataclass(frozen=True)
class Draft:
    subject: str  # empty when the campaign supplies the subject
    body: str


class BadAnswer(Exception):
    """The answer cannot be sent; `problems` say why, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check(answer: str | None, rules: Rules) -> Draft:
    """The draft in `answer`, or `BadAnswer` listing everything wrong with it."""
    try:
        data = json.loads(answer or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadAnswer(
            [
                'the answer was not a JSON object {"subject": ..., "body": ...}',
                *_content_problems("the answer", answer or "", rules),
            ]
        )
    subject, body = data.get("subject"), data.get("body")
    problems: list[str] = []
    if not isinstance(body, str) or not body.strip():
        problems.append('"body" is missing or empty')
        body = ""
    body = body.replace("\r\n", "\n").strip()
    if body and len(body) < BODY_MIN_CHARS:
        problems.append(f'"body" is too short ({len(body)} characters, at least {BODY_MIN_CHARS})')
    if len(body) > BODY_MAX_CHARS:
        problems.append(f'"body" is too long ({len(body)} characters, at most {BODY_MAX_CHARS})')
    problems += _content_problems('"body"', body, rules)
    if not rules.needs_subject:
        subject = ""
    elif not isinstance(subject, str) or not subject.strip():
        problems.append('"subject" is missing or empty, and the campaign has no subject')
        subject = ""
    else:
        subject = subject.strip()
        if "\n" in subject or len(subject) > SUBJECT_MAX_CHARS:
            problems.append(f'"subject" must be one line of at most {SUBJECT_MAX_CHARS} characters')
        problems += _content_problems('"subject"', subject, rules)
    if problems:
        raise BadAnswer(problems)
    return Draft(subject=subject, body=body)


def _content_problems(field: str, text: str, rules: Rules) -> list[str]:
    placeholders = [
        m for m in _PLACEHOLDERS.findall(text) if not _HTML_TAG_NAME.fullmatch(m.strip("<>"))
    ]
    problems = []
    if placeholders:
        problems.append(f"{field} has unfilled placeholders: {_quote(placeholders)}")
    if html := [m for m in _HTML.findall(text) if m not in placeholders]:
        problems.append(f"{field} has HTML, but must be plain text: {_quote(html)}")
    if links := _foreign_links(text, rules.allowed_links.lower()):
        problems.append(
            f"{field} has links that are not in the campaign instructions: {_quote(links)}"
        )
    return problems


def _foreign_links(text: str, allowed: str) -> list[str]:
    found = []
    for pattern in _LINKS:
        found += [m.rstrip(_TRAILING) for m in pattern.findall(text)]
        text = pattern.sub(" ", text)
    return [link for link in found if link and link.lower() not in allowed]


def _quote(items: list[str]) -> str:
    unique = list(dict.fromkeys(item if len(item) <= 60 else item[:57] + "..." for item in items))
    shown = ", ".join(repr(item) for item in unique[:_SHOWN])
    return shown + (f" and {len(unique) - _SHOWN} more" if len(unique) > _SHOWN else "")
