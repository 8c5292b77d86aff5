"""What a message in a reply mailbox is: a person's reply, an auto-reply, or a
delivery report (RFC 3464/6522), and which of our messages it names.

Auto-replies: RFC 3834's `Auto-Submitted` (any value but `no`), the vendor headers
(`X-Autoreply`, `X-Autorespond`, `Precedence`/`X-Precedence` bulk, junk, list or
auto_reply, `List-Id`/`List-Unsubscribe`), and, for the servers that set none of
those, out-of-office subjects. A `multipart/report` with a `message/delivery-status`
part is a bounce when a recipient failed with a 5.x.x status, else a delay; the
original's Message-ID comes from its `message/rfc822` or `text/rfc822-headers` part.
Malformed headers and unknown charsets are read as far as they can be: never an
exception for one message.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr

from .model import AUTO_REPLY, BOUNCE, DELAY, REPLY, Inbound

MESSAGE_ID = re.compile(r"<[^<>\s]+>")
OUT_OF_OFFICE = re.compile(
    r"out of (the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|autoresponder|"
    r"on vacation|away from (the )?office|abwesenheit|absence|réponse automatique",
    re.IGNORECASE,
)
AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_HEADER_PARSER = BytesHeaderParser(policy=policy.compat32)


def text(message: Message, name: str) -> str:
    """A header as text, encoded-words decoded; undecodable parts kept as they came."""
    raw = message.get(name)
    if raw is None:
        return ""
    try:
        return str(make_header(decode_header(str(raw))))
    except (LookupError, UnicodeError, ValueError, TypeError):  # unknown charset, bad bytes
        return str(raw)


def message_ids(*values: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(found for value in values for found in MESSAGE_ID.findall(value)))


def needs_body(headers: bytes) -> bool:
    """Whether the whole message is needed to tell what it is: a delivery report."""
    content_type = _HEADER_PARSER.parsebytes(headers).get_content_type()
    return content_type == "multipart/report"


def classify(uid: int, raw: bytes, received_at: datetime | None = None) -> Inbound:
    """`raw`: the message's header, or the whole message for a report."""
    message = message_from_bytes(raw, policy=policy.compat32)
    subject = text(message, "Subject")
    sender = parseaddr(text(message, "From"))[1].strip().lower() or None
    own_id = (message_ids(text(message, "Message-ID")) or (None,))[0]
    references = message_ids(text(message, "In-Reply-To"), text(message, "References"))
    recipients = getaddresses(
        [text(message, h) for h in ("To", "Cc", "Delivered-To", "X-Original-To")]
    )
    tokens = tuple(
        dict.fromkeys(
            address.partition("@")[0].partition("+")[2].lower()
            for _, address in recipients
            if "+" in address.partition("@")[0]
        )
    )
    kind, detail = REPLY, None
    if message.get_content_type() == "multipart/report":
        kind, detail, original = _report(message)
        references = message_ids(original) + references
    elif _automatic(message, subject):
        kind = AUTO_REPLY
    return Inbound(
        uid=uid,
        message_id=own_id,
        kind=kind,
        references=references,
        tokens=tokens,
        sender=sender,
        received_at=received_at,
        detail=detail or (subject[:200] if kind == AUTO_REPLY else None),
    )


def _automatic(message: Message, subject: str) -> bool:
    auto_submitted = text(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if text(message, "X-Autoreply") or text(message, "X-Autorespond"):
        return True
    for name in ("Precedence", "X-Precedence"):
        if text(message, name).strip().lower() in AUTO_PRECEDENCE:
            return True
    if text(message, "List-Id") or text(message, "List-Unsubscribe"):
        return True
    return bool(OUT_OF_OFFICE.search(subject))


def _report(message: Message) -> tuple[str, str | None, str]:
    """(kind, detail, the original's Message-ID header) of a multipart/report."""
    if message.get_param("report-type", "").lower() != "delivery-status":
        return "other", f"a {message.get_param('report-type', 'report')} report", ""
    kind, detail, original = DELAY, None, ""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            for block in _status_blocks(part):
                action = block.get("action", "").lower()
                status = block.get("status", "")
                if action == "failed" and status.startswith("5"):
                    kind = BOUNCE
                    recipient = block.get("final-recipient", "").rpartition(";")[2].strip()
                    code = block.get("diagnostic-code", "").rpartition(";")[2].strip()
                    detail = " ".join(p for p in (status, recipient, code) if p)[:300]
        elif content_type in ("message/rfc822", "text/rfc822-headers") and not original:
            original = _original_id(part)
    return kind, detail, original


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The delivery-status fields, one dict per block (per-message, then per-recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser made each block a message of its own
        return [{k.lower(): str(v) for k, v in block.items()} for block in payload]
    blocks = []
    for chunk in re.split(r"\r?\n\r?\n", str(payload)):
        fields = message_from_bytes(chunk.encode("utf-8", "replace"), policy=policy.compat32)
        blocks.append({k.lower(): str(v) for k, v in fields.items()})
    return blocks


def _original_id(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return text(payload[0], "Message-ID")
    headers = message_from_bytes(str(payload).encode("utf-8", "replace"), policy=policy.compat32)
    return text(headers, "Message-ID")
