"""A second reader of message headers, written from RFC 5322 and RFC 2047 alone.

The standard library's parser (`email.policy.strict`) is one reader; a header
that only it reads back right could still be one that only it reads right. This
one shares no code with it or with `senders/mime.py`: unfold (RFC 5322 2.2.3),
decode encoded-words, dropping the whitespace between adjacent ones (RFC 2047
6.2), and split address lists at commas outside quotes and angle brackets. It
is deliberately strict: anything it does not understand is an AssertionError.
"""

from __future__ import annotations

import base64
import binascii
import re

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_HEADER_LINE = re.compile(r"([\x21-\x39\x3b-\x7e]+):(.*)")


def headers(data: bytes) -> list[tuple[str, str]]:
    """The header section as (name, unfolded raw value), in order."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # raises on any 8-bit byte
    fields: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        assert len(line) <= 998, f"line over 998 characters: {line[:60]}..."
        if line[:1] in (" ", "\t"):
            assert fields, "a continuation line before any header"
            name, value = fields[-1]
            fields[-1] = (name, value + line)  # unfolding removes only the CRLF
        else:
            match = _HEADER_LINE.fullmatch(line)
            assert match, f"not a header line: {line!r}"
            fields.append((match.group(1), match.group(2)))
    return [(name, value.strip(" \t")) for name, value in fields]


def header(data: bytes, name: str) -> str:
    values = [value for key, value in headers(data) if key.lower() == name.lower()]
    assert len(values) == 1, f"{name}: expected one, found {len(values)}"
    return values[0]


def decode_text(value: str) -> str:
    """Unstructured text with its encoded-words decoded."""
    out: list[str] = []
    position = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if not (previous_was_word and between.strip(" \t") == ""):
            out.append(between)
        out.append(_decode_word(*match.groups()))
        previous_was_word = True
        position = match.end()
    out.append(value[position:])
    return "".join(out)


def _decode_word(charset: str, encoding: str, text: str) -> str:
    assert charset.lower() in ("utf-8", "us-ascii"), charset
    if encoding in "bB":
        assert len(text) % 4 == 0, f"base64 not padded: {text}"
        raw = binascii.a2b_base64(text.encode("ascii"))
        assert base64.b64encode(raw).decode() == text, "base64 with stray characters"
    else:
        raw = re.sub(
            rb"=([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode()
        ).replace(b"_", b" ")
    return raw.decode(charset)


def addresses(value: str) -> list[tuple[str, str]]:
    """An address list as (display name, addr-spec) pairs."""
    parts, current, quoted, angle = [], "", False, False
    for i, char in enumerate(value):
        if char == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        if char == "," and not quoted and not angle:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [_mailbox(part.strip()) for part in parts]


def _mailbox(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"(.*?)\s*<([^<>\s]+@[^<>\s]+)>", text)
    if match is None:
        assert re.fullmatch(r"[^\s<>\"]+@[^\s<>\"]+", text), f"not a mailbox: {text!r}"
        return "", text
    phrase, addr = match.groups()
    if phrase.startswith('"'):
        assert phrase.endswith('"'), phrase
        return re.sub(r"\\(.)", r"\1", phrase[1:-1]), addr
    return decode_text(phrase), addr


def uris(value: str) -> list[str]:
    """The `<uri>` list of a List-Unsubscribe (RFC 2369): nothing but URIs in brackets."""
    found = re.findall(r"<([^<>\s]*)>", value)
    rest = re.sub(r"<[^<>\s]*>", "", value)
    assert rest.replace(",", "").strip(" \t") == "", f"text outside the brackets: {value!r}"
    return found
