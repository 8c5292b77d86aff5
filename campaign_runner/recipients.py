"""Who may be written to: a syntactically valid address that is not suppressed."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from .errors import InvalidRecipient, SuppressedRecipient
from .models import Email


def checked_recipient(email: Email) -> str:
    """The normalised recipient address, or a `RowError` saying why this row may not be sent."""
    address = (email.to_email or "").strip()
    if not address:
        raise InvalidRecipient("to_email is empty")
    if email.suppressed:
        raise SuppressedRecipient(f"recipient {address} is on the suppression list")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidRecipient(f"to_email {address!r} is not a valid address: {exc}") from None
