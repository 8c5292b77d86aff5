"""Who may be written to: a syntactically valid address that is not suppressed."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from .errors import InvalidRecipient, SuppressedRecipient
from .models import Email


def checked_recipient(email: Email) -> str:
    """The normalised recipient address, or `RowError` saying why this row may not be sent.

    Normalised by email-validator: the domain lower-cased and mapped by IDNA 2008 (UTS 46),
    so `Ana@Straße.Example` is `Ana@straße.example` (never `strasse.example`, another
    domain); the senders write it in A-labels. A non-ASCII local part needs SMTPUTF8,
    which neither sender speaks: refused here, so that both refuse it alike.
    """
    address = (email.to_email or "").strip()
    if not address:
        raise InvalidRecipient("to_email is empty")
    if email.suppressed:
        raise SuppressedRecipient(f"recipient {address} is on the suppression list")
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRecipient(f"to_email {address!r} is not a valid address: {exc}") from None
    if checked.ascii_email is None:
        raise InvalidRecipient(
            f"to_email {address!r} has a non-ASCII local part: it needs SMTPUTF8, "
            "which this worker does not send"
        )
    return checked.normalized
