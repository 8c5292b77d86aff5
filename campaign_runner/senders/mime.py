"""A rendered message as RFC 5322 bytes: multipart/alternative, text then HTML.

Written directly rather than through `email.message.EmailMessage`: the
standard library's header registry parses and refolds every header it is
given and took 1.3 ms of CPU per message, more than everything else on the
embedded path together (docs/benchmarks.md). The output is what a mail client
expects: CRLF line ends, headers folded under 78 characters where they have
room to fold, non-ASCII display text in RFC 2047 encoded-words, both parts
UTF-8 in quoted-printable (RFC 2045), whose output can never contain the
boundary's leading "=_". A value this cannot write correctly (a non-ASCII
local part, a structured header too long to fold) raises ValueError instead of
writing something a reader would misread. Unstructured text with a word too long
for one line (a subject of one unbroken word) is written as encoded-words, which
fold anywhere (RFC 2047 2, 5).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime, getaddresses

from ..addresses import ascii_address
from ..models import Message

CRLF = "\r\n"
FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD be no longer than 78 characters...
LINE_LIMIT = 998  # ...and MUST be no longer than 998
ENCODED_BYTES = 36  # UTF-8 bytes per encoded-word: 48 base64 characters, 60 in all (limit 75)

# Text a reader shows as it is: printable ASCII, and no "=?" that it would take for an
# encoded-word and decode.
_PLAIN = re.compile(r"[\x20-\x7e]*")
# A display name that needs no quotes (RFC 5322 atext and spaces).
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_NEWLINE = re.compile(r"\r\n|\r|\n")
# Headers whose value is a structure, not text: written as they are (ASCII by construction),
# since an encoded-word inside `<...>` is not decoded by anyone.
STRUCTURED = frozenset({"list-unsubscribe", "list-unsubscribe-post", "list-id"})


def build(message: Message, message_id: str) -> bytes:
    boundary = "=_" + secrets.token_hex(16)
    headers = [
        ("From", address(message.from_name, message.from_email)),
        ("To", address(message.to_name, message.to_email)),
    ]
    if message.reply_to:
        headers.append(("Reply-To", reply_to(message.reply_to)))
    headers += [
        ("Subject", unstructured(message.subject, "Subject")),
        ("Date", format_datetime(datetime.now(UTC))),
        ("Message-ID", message.headers.get("Message-ID", message_id)),
        *(
            (name, _custom(name, value))
            for name, value in message.headers.items()
            if name != "Message-ID"
        ),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    lines = [_header(name, value) for name, value in headers]
    lines.append("")
    for subtype, body in (("plain", message.text), ("html", message.html)):
        lines += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _quoted_printable(body),
        ]
    lines += [f"--{boundary}--", ""]
    return CRLF.join(lines).encode("ascii")


def address(name: str, addr_spec: str) -> str:
    wire = ascii_address(addr_spec)
    if not name:
        return wire
    mailbox = f"<{wire}>"
    if _PLAIN.fullmatch(name) and "=?" not in name:
        if _ATOMS.fullmatch(name) and "  " not in name:  # a reader may fold runs of spaces
            return f"{name} {mailbox}"
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" {mailbox}'
    return f"{_encoded_words(name)} {mailbox}"


def reply_to(value: str) -> str:
    """The campaign's free-text reply address, "a@b" or "Name <a@b>", one or several."""
    try:
        return ", ".join(address(name, addr) for name, addr in getaddresses([value]))
    except ValueError as exc:
        raise ValueError(f"Reply-To {value!r}: {exc}") from None


def unstructured(value: str, name: str = "") -> str:
    """Display text (a subject, a name): as it is when a reader would show it so and each
    word fits on a folded line of header `name`; else encoded-words."""
    room = FOLD_AT - len(name) - 2  # "Name: " on the first line, one space on the others
    if _PLAIN.fullmatch(value) and "=?" not in value and all(len(w) <= room for w in value.split()):
        return value
    return _encoded_words(value)


def _custom(name: str, value: str) -> str:
    if name.lower() not in STRUCTURED:
        return unstructured(value, name)
    if not _PLAIN.fullmatch(value):
        raise ValueError(f"the {name} header must be printable ASCII, got {value!r}")
    return value


def _encoded_words(text: str) -> str:
    """RFC 2047 "B" encoded-words, split between characters; the folding whitespace
    between adjacent encoded-words is not part of the text (RFC 2047 6.2)."""
    words, chunk = [], b""
    for character in text:
        encoded = character.encode("utf-8")
        if len(chunk) + len(encoded) > ENCODED_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return " ".join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)


def _header(name: str, value: str) -> str:
    """`name: value`, folded at spaces to keep lines under FOLD_AT where it can."""
    line = f"{name}: {value}"
    if len(line) <= FOLD_AT:
        return line
    lines, current = [], f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > FOLD_AT and current.strip() not in ("", f"{name}:"):
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    if any(len(line) > LINE_LIMIT for line in lines):
        raise ValueError(f"the {name} header has a word over {LINE_LIMIT} characters")
    return CRLF.join(lines)


def _quoted_printable(text: str) -> str:
    """UTF-8 in quoted-printable with CRLF line ends and soft breaks (lines <= 76)."""
    # Encoded with LF line ends, which it keeps and uses for soft breaks too, then made
    # CRLF: given CRLF it would pick the soft break's ending from the first line alone.
    data = _NEWLINE.sub("\n", text).encode("utf-8")
    return binascii.b2a_qp(data, istext=True).decode("ascii").replace("\n", CRLF)
