"""Mail as it arrives in a reply mailbox: replies, auto-replies, delivery reports."""

from __future__ import annotations


def reply(
    sender: str,
    in_reply_to: str | None,
    *,
    message_id: str,
    to: str = "replies@acme.test",
    subject: str = "Re: Step 1",
    extra: str = "",
) -> bytes:
    threading = (
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    )
    return (
        f"From: Someone <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n{threading}{extra}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, let's talk.\r\n"
    ).encode()


def auto_reply(sender: str, in_reply_to: str, *, message_id: str) -> bytes:
    return reply(
        sender,
        in_reply_to,
        message_id=message_id,
        subject="Automatic reply: Step 1",
        extra="Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
    )


def delivery_report(
    original_id: str, recipient: str, *, message_id: str, status: str = "5.1.1"
) -> bytes:
    action = "failed" if status.startswith("5") else "delayed"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: replies@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} User unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: news@acme.test\r\nTo: {recipient}\r\nMessage-ID: {original_id}\r\n"
        "Subject: Step 1\r\n\r\n--B--\r\n"
    ).encode()
