"""The values that flow through the pipeline, independent of any store or service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Row statuses (the seam with the frontend).
QUEUED = "queued"
PROCESSING = "processing"
SENT = "sent"
FAILED = "failed"

# The campaign statuses whose queued rows a claim takes; each SQL dialect has its one
# twin (Postgres: cr_claimable(), SQLite: the cr_claimable() the store registers from this).
CLAIMABLE_CAMPAIGN_STATUSES = ("scheduled", "sending")

# What kind of failure a row's `error` describes, in `email_queue.failure_kind` (the
# table in docs/architecture.md says what each means and what retry-failed does).
REJECTED = "rejected"  # the provider refused the recipient; the bounce guard counts it
AMBIGUOUS = "ambiguous"  # may have been delivered; never retried automatically
INVALID = "invalid"  # to_email empty or not an address
SUPPRESSED = "suppressed"  # the recipient is on the suppression list
CONTENT = "content"  # the message cannot be built or was refused as it is
CAMPAIGN_GONE = "campaign_gone"  # the row's campaign no longer exists
TRANSIENT = "transient"  # may work later: retried, or attempts used up
SYSTEM = "system"  # the system, not the row: put back, attempt given back
INTERRUPTED = "interrupted"  # a worker stopped or died before sending it
NOT_ACCEPTED = "not_accepted"  # was ambiguous; SparkPost confirms it never received it
STOPPED = "stopped"  # its sequence lead stopped (replied, bounced, ...) before it was sent
FAILURE_KINDS = frozenset(
    {
        REJECTED,
        AMBIGUOUS,
        INVALID,
        SUPPRESSED,
        CONTENT,
        CAMPAIGN_GONE,
        TRANSIENT,
        SYSTEM,
        INTERRUPTED,
        NOT_ACCEPTED,
        STOPPED,
    }
)


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    status: str
    subject: str | None
    body_template: str | None
    ai_prompt: str | None
    from_name: str | None
    reply_to: str | None


@dataclass(frozen=True)
class Email:
    """A claimed `email_queue` row, with its campaign joined in by the claim.

    `campaign` is None when the row's campaign no longer exists, and
    `metadata` is whatever the row holds (it may not be an object): both are
    checked by the pipeline, which fails such a row with a reason.
    """

    id: str
    campaign_id: str
    to_email: str | None
    to_name: str | None
    from_email: str | None
    subject: str | None
    body: str | None
    metadata: Any
    attempts: int
    scheduled_for: datetime | None
    campaign: Campaign | None
    suppressed: bool = False
    # A sequence step's thread: our Message-ID for it, the earlier steps' (oldest
    # first, space-separated), and the lead's reply token. None for a single email.
    message_id_header: str | None = None
    references_header: str | None = None
    reply_token: str | None = None

    @property
    def recipient_domain(self) -> str:
        return (self.to_email or "").rpartition("@")[2].lower()

    @property
    def sending_domain(self) -> str:
        """What pacing and domain-wide halts are keyed on."""
        return (self.from_email or "").rpartition("@")[2].lower()


@dataclass(frozen=True)
class Content:
    """Subject and plain-text body, as data: never evaluated as a template again."""

    subject: str
    body: str
    model: str | None = None  # set when a generator wrote it and it must be saved
    usage: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One rendered email, ready for any sender."""

    email_id: str
    campaign_id: str
    from_email: str
    from_name: str
    to_email: str
    to_name: str
    reply_to: str | None
    subject: str
    text: str
    html: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """How a processed row ends this cycle; the store writes it back."""

    status: str  # sent, failed, or queued (put back)
    error: str | None = None
    provider_message_id: str | None = None
    retry_at: datetime | None = None  # for queued: the new scheduled_for
    count_attempt: bool = True  # False: a system fault, the attempt is given back
    failure_kind: str | None = None  # one of FAILURE_KINDS whenever `error` is set
