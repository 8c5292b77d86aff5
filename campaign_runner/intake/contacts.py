"""Contacts from a CSV file (`campaign-runner import CSV --campaign KEY`).

A header row names the columns: `email` is required, every other column becomes a
template field of the contact (headers are lower-cased and other characters turned
into `_`, so "First Name" is `{{ first_name }}`). `to_name` is the `name` column, or
`first_name` and `last_name` joined.

The file is read whole and checked before anything is written: a file this cannot
read at all (not UTF-8, no `email` column, two columns of one name) raises
`FileRefused` naming the line; a line that cannot be a contact is refused with its
line number and reason, and the others go on. A file with a byte order mark, `;`
or tab separators, or values with newlines inside quotes reads as expected.
"""

from __future__ import annotations

import csv
import io
import re
from _csv import Reader
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

SEPARATORS = (",", ";", "\t", "|")
# Far above any real contact field; a longer value is a broken line (an unclosed
# quote swallowing the rest of the file), not a name.
MAX_VALUE_CHARS = 10_000
PROGRESS_EVERY = 2_000  # lines between progress reports
_NOT_NAME = re.compile(r"[^0-9a-z]+")


class FileRefused(ValueError):
    """The file as a whole cannot be imported; the message is the one line shown."""


@dataclass(frozen=True)
class Contact:
    line: int  # where the contact's line starts in the file
    email: str  # normalised by email-validator
    to_name: str | None
    fields: dict[str, str]  # every other non-empty column


@dataclass
class ContactFile:
    columns: list[str]  # the template fields the file gives, in file order
    contacts: list[Contact] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    duplicates: int = 0  # lines whose address came earlier in the file
    lines: int = 0  # data lines read (blank lines not counted)


def column_name(header: str) -> str:
    """The template field a header becomes: "First Name" -> first_name."""
    return _NOT_NAME.sub("_", header.strip().lower()).strip("_")


def read(path: Path, progress: Callable[[int, int], None] | None = None) -> ContactFile:
    """Read and check a contacts file; `progress(done, total)` is told of lines read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileRefused(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return parse(raw, progress)
    except FileRefused as exc:
        raise FileRefused(f"{path}: {exc}") from None


def parse(raw: bytes, progress: Callable[[int, int], None] | None = None) -> ContactFile:
    text = _decode(raw)
    header_line, _, _ = text.partition("\n")
    separator = max(SEPARATORS, key=header_line.count)
    if header_line.count(separator) == 0:
        separator = ","  # one column: only `email`
    total = text.count("\n") + 1
    # strict: a quote left open or text after a closing quote is an error with a line
    # number, never values silently run together.
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    # The csv module's limit is per value and process-wide; MAX_VALUE_CHARS is checked
    # per line below, so an overlong value is one refused line, not a stopped import.
    limit = csv.field_size_limit(max(len(text) + 1, 131_072))
    try:
        header = next(rows, [])
        columns = _columns(header)
        result = ContactFile(columns=[name for name in columns if name and name != "email"])
        _read_rows(rows, columns, result, total, progress)
    except csv.Error as exc:  # in the header
        raise FileRefused(f"line 1: cannot read as CSV: {exc}") from None
    finally:
        csv.field_size_limit(limit)
    return result


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")  # a byte order mark (Excel's "CSV UTF-8") is dropped
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw[: exc.start].count(b"\n") + 1
        raise FileRefused(
            f"line {line}: byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1} "
            "is not UTF-8; save the file as UTF-8 (in a spreadsheet: CSV UTF-8)"
        ) from None


def _columns(header: list[str]) -> list[str]:
    """The header's field names; '' for an unnamed column, whose values are ignored."""
    names = [column_name(cell) for cell in header]
    if "email" not in names:
        shown = ", ".join(repr(cell) for cell in header[:10]) or "nothing"
        raise FileRefused(f"line 1: no email column; the header has {shown}")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name and name in seen:
            raise FileRefused(
                f"line 1: columns {seen[name]} and {position} are both {name!r}; rename one of them"
            )
        seen[name] = position
    return names


def _read_rows(
    rows: Reader,
    columns: list[str],
    result: ContactFile,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    email_at = columns.index("email")
    seen: set[str] = set()
    for n, (start, values) in enumerate(_records(rows)):
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(start, total)
        if not values or not any(v.strip() for v in values):
            continue  # a blank line
        result.lines += 1
        reason = _shape_problem(values, len(columns))
        if reason is None and any("\x00" in v for v in values):
            reason = "a value holds a NUL byte; is this really a text file?"
        if reason:
            result.refused.append((start, reason))
            continue
        address = values[email_at].strip()
        if not address:
            result.refused.append((start, "the email column is empty"))
            continue
        try:
            email = validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            result.refused.append((start, f"{address!r} is not a valid address: {exc}"))
            continue
        if email.lower() in seen:
            result.duplicates += 1
            continue
        seen.add(email.lower())
        fields = {
            name: value.strip()
            for name, value in zip(columns, values, strict=False)
            if name and name != "email" and value.strip()
        }
        result.contacts.append(Contact(start, email, _to_name(fields), fields))
    if progress is not None:
        progress(total, total)


def _records(rows: Reader) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on; a malformed one refuses the file there."""
    start = rows.line_num + 1
    try:
        for values in rows:
            yield start, values
            start = rows.line_num + 1
    except csv.Error as exc:
        hint = " (a quote left open?)" if "end of data" in str(exc) else ""
        raise FileRefused(f"line {start}: cannot read as CSV: {exc}{hint}") from None


def _shape_problem(values: list[str], expected: int) -> str | None:
    extra = values[expected:]
    if len(values) < expected or any(v.strip() for v in extra):
        # A missing or extra separator shifts every later value into the wrong field.
        return f"{len(values)} values where the header has {expected} columns"
    longest = max(len(v) for v in values)
    if longest > MAX_VALUE_CHARS:
        return (
            f"a value of {longest:,} characters (at most {MAX_VALUE_CHARS:,}); "
            "is a quote left open?"
        )
    return None


def _to_name(fields: dict[str, str]) -> str | None:
    name = fields.get("name") or " ".join(
        part for part in (fields.get("first_name"), fields.get("last_name")) if part
    )
    return name or None
