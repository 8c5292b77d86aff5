"""What an operator runs against the queue: `status`, `retry-failed` and what
`--dry-run` prints.

All go through the Store port, so they read and change every store alike. What
they print for a person goes to stdout (logs go to stderr); `status --json` is for
scripts, in the shape `status_document` documents, versioned by `STATUS_VERSION`.
The store judges each queued row as a claim would (campaign, time, pacing); the
sending window is the worker's, so it is applied here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from .models import CLAIMABLE_CAMPAIGN_STATUSES, FAILED, PROCESSING, QUEUED, SENT, Email
from .ports import UNPACED, CampaignStatus, FailedRows, Pacing, Store, Waiting
from .sequences import report as sequence_report
from .window import SendingWindow

# The row statuses every campaign shows, even at 0; any other status a frontend
# uses is shown after them.
ROW_STATUSES = ("staged", QUEUED, PROCESSING, SENT, FAILED)
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


# -- why queued rows wait -------------------------------------------------------------


def _day_after(pacing: Pacing, window: SendingWindow | None) -> datetime | None:
    """When the daily cap's day ends: the next local midnight after `day_start`."""
    if pacing.day_start is None or window is None:
        return None
    day = pacing.day_start.astimezone(window.tz).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=window.tz).astimezone(UTC)


def judged(
    campaigns: list[CampaignStatus],
    now: datetime,
    window: SendingWindow | None,
    pacing: Pacing,
) -> list[CampaignStatus]:
    """The store's view with the worker's clock on it: while the window is closed nothing
    is due, the rows that would be wait for it (and paced rows at least as long), and a
    domain's daily cap lifts at the next local midnight."""
    closed_until = None if window is None or window.is_open(now) else window.next_open(now)
    cap_lifts = _day_after(pacing, window)
    shown = []
    for campaign in campaigns:
        waiting = dict(campaign.waiting)
        due_now = campaign.due_now
        if "daily_cap" in waiting:
            waiting["daily_cap"] = replace(waiting["daily_cap"], until=cap_lifts)
        if closed_until is not None:
            suppressed = waiting["suppressed"].rows if "suppressed" in waiting else 0
            if due_now > suppressed:
                waiting["window_closed"] = Waiting(due_now - suppressed, closed_until)
            due_now = 0
            for reason in ("domain_paced", "daily_cap"):  # they wait for the window too
                group = waiting.get(reason)
                if group is not None and group.until is not None and group.until < closed_until:
                    waiting[reason] = replace(group, until=closed_until)
        shown.append(replace(campaign, due_now=due_now, waiting=waiting))
    return shown


WAITING_ORDER = ("window_closed", "domain_paced", "daily_cap", "scheduled", "suppressed")


def _waiting_order(reason: str) -> tuple[int, str]:
    return (WAITING_ORDER.index(reason) if reason in WAITING_ORDER else -1, reason)


def describe_waiting(reason: str, group: Waiting) -> str:
    """One line for a person: how many rows, why, until when."""
    rows = _plural(group.rows)
    wait = "waits" if group.rows == 1 else "wait"
    until = f" {_shown(group.until)} UTC" if group.until else " further notice"
    if reason == "window_closed":
        return f"{rows} {wait} for the sending window, closed until{until}"
    if reason == "domain_paced":
        return (
            f"{rows} {wait} for their sending domain's pacing (DOMAIN_MIN_INTERVAL_SECONDS),"
            f" the next until{until}"
        )
    if reason == "daily_cap":
        return (
            f"{rows} {wait}: their sending domain reached DOMAIN_DAILY_CAP for today, until{until}"
        )
    if reason == "scheduled":
        return f"{rows} scheduled later, the first at{until}"
    if reason == "suppressed":
        return f"{rows} due but suppressed: failed when claimed, never sent"
    if reason.startswith("campaign_"):
        status = reason.removeprefix("campaign_")
        wanted = " or ".join(CLAIMABLE_CAMPAIGN_STATUSES)
        return f"{rows} {wait} for the campaign, which is {status} (sent once it is {wanted})"
    return f"{rows} {wait}: {reason}"


# -- status ---------------------------------------------------------------------


def status_document(campaigns: list[CampaignStatus], now: datetime) -> dict[str, Any]:
    """`status --json`:

        {"version": 1, "generated_at": ISO 8601,
         "campaigns": [{"campaign_id", "campaign_name", "campaign_status",
                        "rows": {"staged", "queued", "processing", "sent", "failed", ...: int},
                        "due_now": int, "next_scheduled_for": ISO 8601 or null,
                        "ambiguous": int, "rejected": int,
                        "last_error": text or null, "last_error_at": ISO 8601 or null,
                        "paused_reason": text or null,
                        "waiting": {REASON: {"rows": int, "until": ISO 8601 or null}, ...},
                        "failed_by_kind": {FAILURE_KIND: int, ...},
                        "delivered", "opened", "clicked", "bounced", "complained",
                        "unsubscribed": int, "rates": {the same six: float or null},
                        "settled_sent": int, "not_accepted": int}, ...]}

    Times are UTC; `campaign_name` and `campaign_status` are null for rows whose
    campaign is gone. `due_now` counts the rows a worker would claim now; `waiting`
    says why each other queued row waits (reasons in `ports.CampaignStatus`). The six
    event figures count rows SparkPost reported each fact for (`rates`: see
    `event_rates`); `ambiguous` counts the rows still in doubt, `settled_sent` those the
    events showed were sent and `not_accepted` those SparkPost never received.
    """
    documents = []
    for campaign in campaigns:
        document = asdict(campaign)
        document["rows"] = {**dict.fromkeys(ROW_STATUSES, 0), **campaign.rows}
        for key in ("next_scheduled_for", "last_error_at"):
            document[key] = _iso(document[key])
        document["waiting"] = {
            reason: {"rows": group.rows, "until": _iso(group.until)}
            for reason, group in sorted(
                campaign.waiting.items(), key=lambda i: _waiting_order(i[0])
            )
        }
        document["rates"] = event_rates(campaign)
        documents.append(document)
    return {"version": STATUS_VERSION, "generated_at": _iso(now), "campaigns": documents}


def status(
    store: Store,
    now: datetime,
    as_json: bool,
    window: SendingWindow | None = None,
    pacing: Pacing = UNPACED,
) -> int:
    campaigns = judged(store.status(now, pacing), now, window, pacing)
    sequences = store.sequence_status()  # type: ignore[attr-defined]  # every store has them
    if as_json:
        document = status_document(campaigns, now)
        document["sequences"] = sequence_report.documents(sequences)
        print(json.dumps(document, indent=2))
        return 0
    if not campaigns and not sequences:
        print("The queue is empty.")
        return 0
    if campaigns:
        print(_status_table(campaigns))
    for line in sequence_report.lines(sequences):
        print(line)
    return 0


# Each event figure's share of what it is a share of: deliveries and bounces of the
# rows sent, the rest of the rows delivered.
RATE_OF = {
    "delivered": "sent",
    "opened": "delivered",
    "clicked": "delivered",
    "bounced": "sent",
    "complained": "delivered",
    "unsubscribed": "delivered",
}


def event_rates(campaign: CampaignStatus) -> dict[str, float | None]:
    """Each figure over its base (RATE_OF), rounded to 4 places; None while the base is 0."""
    bases = {"sent": campaign.rows.get(SENT, 0), "delivered": campaign.delivered}
    return {
        figure: round(getattr(campaign, figure) / bases[base], 4) if bases[base] else None
        for figure, base in RATE_OF.items()
    }


def _events_line(campaign: CampaignStatus) -> str | None:
    if not any(getattr(campaign, figure) for figure in RATE_OF):
        return None
    rates = event_rates(campaign)
    return "reported: " + ", ".join(
        f"{getattr(campaign, figure)} {figure}"
        + (f" ({rates[figure]:.1%})" if rates[figure] is not None else "")
        for figure in RATE_OF
    )


def _settling_line(campaign: CampaignStatus) -> str | None:
    if not (campaign.settled_sent or campaign.not_accepted):
        return None
    return (
        f"ambiguous sends: {campaign.settled_sent} settled as sent, {campaign.ambiguous} "
        f"in doubt, {campaign.not_accepted} not accepted by SparkPost "
        "(retry-failed requeues those)"
    )


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
    for reason, group in sorted(campaign.waiting.items(), key=lambda i: _waiting_order(i[0])):
        details.append(describe_waiting(reason, group))
    if campaign.ambiguous:
        details.append(
            f"{_plural(campaign.ambiguous)} failed ambiguously (may have been delivered; "
            "see docs/reliability.md before retrying them)"
        )
    if campaign.rejected:
        details.append(f"{_plural(campaign.rejected, 'recipient')} rejected by the provider")
    details += filter(None, (_events_line(campaign), _settling_line(campaign)))
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
    elif requeued and status not in CLAIMABLE_CAMPAIGN_STATUSES:
        notes.append(
            f"The campaign is {status}: the rows are sent once it is scheduled or sending again."
        )
    return notes


# -- --dry-run --------------------------------------------------------------------


def dry_run(
    rendered: Callable[[Pacing], list[tuple[Email, str]]],
    store: Store,
    now: datetime,
    window: SendingWindow,
    pacing: Pacing,
) -> int:
    """What the next claim would take and how each row would end (`rendered` renders
    them, sending nothing), then why every other queued row is skipped."""
    if not window.is_open(now):
        print(
            f"The sending window is closed until {_shown(window.next_open(now))} UTC: "
            "a worker sends nothing now. When it opens:"
        )
    results = rendered(pacing)
    for email, verdict in results:
        print(f"{email.id}  {email.to_email}  {verdict}")
    if not results:
        print("Nothing is due now.")
    skipped = [
        (campaign, reason, group)
        for campaign in judged(store.status(now, pacing), now, window, pacing)
        for reason, group in sorted(campaign.waiting.items(), key=lambda i: _waiting_order(i[0]))
        # the window is said above; suppressed rows are among those above, failing
        if reason not in ("window_closed", "suppressed")
    ]
    if skipped:
        print("Skipped:")
    for campaign, reason, group in skipped:
        name = campaign.campaign_name or f"(campaign missing) {campaign.campaign_id}"
        print(f"  {name}: {describe_waiting(reason, group)}")
    return 0
