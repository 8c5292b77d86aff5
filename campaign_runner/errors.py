"""How a failure is classified decides what happens to the row.

Adapters raise these; the pipeline maps each class to one outcome, so no
adapter decides a row's fate by itself.
"""

from __future__ import annotations

from . import models


class RowError(Exception):
    """Something wrong with this row (broken template, refused message): `failed`, no
    retry. `kind` is the row's failure_kind; the subclasses below name the others."""

    kind = models.CONTENT


class RecipientRejected(RowError):
    """The provider refused this recipient (an address it will not deliver to, or one on
    its own suppression list): `failed` with an error starting `rejected: `. The bounce
    guard counts these rows: a list full of them hurts the sending domain's reputation."""

    kind = models.REJECTED


class InvalidRecipient(RowError):
    """`to_email` is empty or not an address."""

    kind = models.INVALID


class SuppressedRecipient(RowError):
    """The recipient is on the suppression list: never sent to."""

    kind = models.SUPPRESSED


class CampaignGone(RowError):
    """The row's campaign no longer exists."""

    kind = models.CAMPAIGN_GONE


class TransientError(Exception):
    """May work later (timeouts before sending, 429, 5xx): `queued` while attempts remain."""


class SystemicError(Exception):
    """The system, not the row (bad key, quota, database down): back to `queued`,
    the attempt is not counted, and the worker stops the cycle and backs off.

    With `sending_domain` set (an unverified sending domain), only rows sent
    from that domain stop for the cycle; the others carry on.
    """

    def __init__(self, message: str, sending_domain: str | None = None) -> None:
        super().__init__(message)
        self.sending_domain = sending_domain


class AmbiguousError(Exception):
    """The message may or may not have left (timeout during the POST): `failed`, never retried."""


class StoreUnavailable(SystemicError):
    """The database cannot be reached or refused the statement for a reason not about one row."""


class LeaseLost(Exception):
    """The row is no longer `processing` under this worker (its lease ran out and it was
    recovered or re-claimed): this worker must neither send it nor write its outcome."""
