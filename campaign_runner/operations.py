"""What an operator runs against the queue: `status` and `retry-failed`.

Both go through the Store port, so they read and change every store alike. What
they print for a person goes to stdout (logs go to stderr); `status --json` is for
scripts, in the shape `status_document` documents, versioned by `STATUS_VERSION`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from .ports import CampaignStatus, FailedRows, Store

# The row statuses every campaign shows, even at 0; any other status a frontend
# uses is shown after them.
ROW_STATUSES = ("staged", "queued", "processing", "sent", "failed")
# Bumped when a key of `status --json` changes meaning or goes away (not when one is added).
STATUS_VERSION = 1
ERROR_CHARS = 200  # of the last error, in the text table; --json has it whole

AMBIGUOUS_WARNING = (
    "WARNING: {rows} of this campaign may already have been delivered: a worker "
    "stopped, or the connection to the provider broke, after the message was handed "
    "over. Requeueing sends them again, and a recipient may get the email twice. "
    "Check the provider's events for these recipients first (docs/reliability.md)."
)


def _plural(n: int, word: str = "row") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _shown(moment: datetime | None) -> str:
    """For the text table: UTC to the second."""
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


# -- status ---------------------------------------------------------------------


def status_document(campaigns: list[CampaignStatus], now: datetime) -> dict[str, Any]:
    """`status --json`:

        {"version": 1, "generated_at": ISO 8601,
         "campaigns": [{"campaign_id", "campaign_name", "campaign_status",
                        "rows": {"staged", "queued", "processing", "sent", "failed", ...: int},
                        "due_now": int, "next_scheduled_for": ISO 8601 or null,
                        "ambiguous": int, "rejected": int,
                        "last_error": text or null, "last_error_at": ISO 8601 or null,
                        "paused_reason": text or null}, ...]}

    Times are UTC; `campaign_name` and `campaign_status` are null for rows whose
    campaign is gone.
    """
    documents = []
    for campaign in campaigns:
        document = asdict(campaign)
        document["rows"] = {**dict.fromkeys(ROW_STATUSES, 0), **campaign.rows}
        for key in ("next_scheduled_for", "last_error_at"):
            document[key] = _iso(document[key])
        documents.append(document)
    return {"version": STATUS_VERSION, "generated_at": _iso(now), "campaigns": documents}


def status(store: Store, now: datetime, as_json: bool) -> int:
    campaigns = store.status(now)
    if as_json:
        print(json.dumps(status_document(campaigns, now), indent=2))
        return 0
    if not campaigns:
        print("The queue is empty.")
        return 0
    print(_status_table(campaigns))
    return 0


def _status_table(campaigns: list[CampaignStatus]) -> str:
    extra = sorted({s for c in campaigns for s in c.rows} - set(ROW_STATUSES))
    statuses = (*ROW_STATUSES, *extra)
    names = [c.campaign_name or "(campaign missing)" for c in campaigns]
    width = max(len("campaign"), *(len(n) for n in names))
    header = (
        f"{'campaign':<{width}}  {'status':<10}"
        + "".join(f" {s:>10}" for s in statuses)
        + f" {'due now':>8}  {'next due (UTC)':<19}  id"
    )
    lines = [header]
    for campaign, name in zip(campaigns, names, strict=True):
        lines.append(
            f"{name:<{width}}  {campaign.campaign_status or '-':<10}"
            + "".join(f" {campaign.rows.get(s, 0):>10}" for s in statuses)
            + f" {campaign.due_now:>8}  {_shown(campaign.next_scheduled_for):<19}"
            + f"  {campaign.campaign_id}"
        )
        lines += [f"    {detail}" for detail in _details(campaign)]
    return "\n".join(lines)


def _details(campaign: CampaignStatus) -> list[str]:
    details = []
    if campaign.paused_reason:
        details.append(f"paused: {campaign.paused_reason}")
    if campaign.ambiguous:
        details.append(
            f"{_plural(campaign.ambiguous)} failed ambiguously (may have been delivered; "
            "see docs/reliability.md before retrying them)"
        )
    if campaign.rejected:
        details.append(f"{_plural(campaign.rejected, 'recipient')} rejected by the provider")
    if campaign.last_error:
        error = " ".join(campaign.last_error.split())
        if len(error) > ERROR_CHARS:
            error = error[: ERROR_CHARS - 3] + "..."
        details.append(f"last error ({_shown(campaign.last_error_at)} UTC): {error}")
    return details


# -- retry-failed ---------------------------------------------------------------


def retry_failed(
    store: Store, campaign_id: str, *, include_ambiguous: bool, assume_yes: bool, now: datetime
) -> int:
    """Exit status: 0 done (even when nothing was to requeue), 1 no such campaign or
    the person said no, 2 ambiguous rows to requeue with nobody to confirm."""
    failed = store.failed_rows(campaign_id)
    if failed.campaign_status is None and not _total(failed):
        print(f"campaign-runner: no campaign {campaign_id}, nor failed rows of it", file=sys.stderr)
        return 1
    if include_ambiguous and failed.ambiguous:
        n = failed.ambiguous
        print(AMBIGUOUS_WARNING.format(rows=_plural(n, "failed row")))
        if not assume_yes:
            if not sys.stdin.isatty():  # only a person at a terminal can confirm
                print(
                    "campaign-runner: refusing to requeue ambiguous rows without a terminal "
                    "to confirm on: run it again with --yes if that is what you want",
                    file=sys.stderr,
                )
                return 2
            if not _confirmed(f"Requeue {_plural(n, 'ambiguous row')}?"):
                print("Nothing requeued.")
                return 1
    requeued = store.retry_failed(campaign_id, include_ambiguous, now)
    print(f"Requeued {_plural(requeued)} of campaign {campaign_id}, due now.")
    for note in _retry_notes(failed, include_ambiguous, requeued):
        print(note)
    return 0


def _total(failed: FailedRows) -> int:
    return failed.retryable + failed.ambiguous + failed.suppressed


def _confirmed(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def _retry_notes(failed: FailedRows, include_ambiguous: bool, requeued: int) -> list[str]:
    notes = []
    if failed.ambiguous and not include_ambiguous:
        notes.append(
            f"{_plural(failed.ambiguous)} left failed as ambiguous (may already have been "
            "delivered; --include-ambiguous requeues those too)."
        )
    if failed.suppressed:
        notes.append(
            f"{_plural(failed.suppressed)} left failed: the recipient is on the suppression list."
        )
    status = failed.campaign_status
    if requeued and status is None:
        notes.append("The campaign no longer exists: these rows will fail again.")
    elif requeued and status == "completed":
        notes.append("The campaign was completed and is sending again.")
    elif requeued and status not in ("scheduled", "sending"):
        notes.append(
            f"The campaign is {status}: the rows are sent once it is scheduled or sending again."
        )
    return notes
