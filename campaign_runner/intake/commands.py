"""The put-work-in commands: `campaign apply`, `import`, `stage`, `launch`, `domains`,
`test-send` and `rows`. `cli.py` adds their parsers and hands them the store.

Exit codes as the rest of the command line: 0 done, 1 it could not be done (the
test message was not accepted), 2 refused input (a bad file, an unknown campaign,
a launch that cannot be planned), each with one line saying why.
"""

from __future__ import annotations

import argparse
import pydoc
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..adapters import build_pipeline
from ..config import Config, Part
from ..errors import RowError, SystemicError, TransientError
from ..pipeline import utc_now
from ..sequences.content import preview
from . import campaign_file, contacts, launch, progress, rows_export
from .campaign_file import FROZEN_ONCE_LAUNCHED, SpecError
from .contacts import FileRefused
from .launch import LaunchRefused
from .records import (
    NO_ROW_YET,
    CampaignRef,
    IntakeError,
    IntakeStore,
    SendingDomain,
    WorkStore,
)

STORE_ONLY = frozenset({Part.LOGS, Part.STORE})
# The parts of the configuration each command reads (see cli.NEEDS); test-send reads all.
NEEDS: dict[str, frozenset[Part]] = {
    "campaign": STORE_ONLY,
    "import": STORE_ONLY,
    "stage": STORE_ONLY,
    "launch": STORE_ONLY | {Part.WORKER},  # the window and pacing it schedules by
    "domains": STORE_ONLY,
    "rows": STORE_ONLY,
}
COMMANDS = (*NEEDS, "test-send")
REFUSED_SHOWN = 20  # refused lines printed one by one; the rest are counted
ROWS_PAGE = 1000


class Refused(ValueError):
    """Input the command cannot take; the message is the one line shown."""


def add_parsers(sub: Any) -> None:
    campaign = sub.add_parser("campaign", help="campaigns from files: `campaign apply FILE.toml`")
    actions = campaign.add_subparsers(dest="action", metavar="ACTION", required=True)
    apply = actions.add_parser(
        "apply", help="create or update the campaign a TOML file describes (see examples/)"
    )
    apply.add_argument("file", type=Path, metavar="FILE.toml")

    imported = sub.add_parser(
        "import",
        help="contacts from a CSV file into a campaign, all or none (email column required)",
    )
    imported.add_argument("file", type=Path, metavar="CSV")
    imported.add_argument("--campaign", required=True, metavar="KEY", help="file key or id")

    stage = sub.add_parser(
        "stage", help="turn a campaign's contacts into staged rows (content written later)"
    )
    stage.add_argument("campaign", metavar="CAMPAIGN", help="file key or id")

    launched = sub.add_parser(
        "launch",
        help="give staged rows a sending address and a time, paced per domain, and queue them",
    )
    launched.add_argument("campaign", metavar="CAMPAIGN", help="file key or id")

    domains = sub.add_parser("domains", help="the sending addresses launch assigns round-robin")
    which = domains.add_subparsers(dest="action", metavar="ACTION")
    which.add_parser("list", help="every address, active or not (the default)")
    add = which.add_parser("add", help="add an address, or make a disabled one active again")
    add.add_argument("address", metavar="ADDRESS")
    add.add_argument("--name", help="the sender name shown with it")
    for action, text in (("disable", "later launches skip it"), ("enable", "use it again")):
        toggled = which.add_parser(action, help=text)
        toggled.add_argument("address", metavar="ADDRESS|INDEX")

    test = sub.add_parser(
        "test-send",
        help="send one row as it would go out, to ADDRESS with [TEST] in the subject; "
        "changes nothing",
    )
    test.add_argument("campaign", metavar="CAMPAIGN", help="file key or id")
    test.add_argument("--to", required=True, metavar="ADDRESS")
    test.add_argument("--row", metavar="ID", help="the row to render (default: the first)")
    test.add_argument(
        "--step",
        type=int,
        metavar="N",
        help="a sequence's step to render, after the earlier ones (default: 1)",
    )
    test.add_argument(
        "--variant",
        choices=("A", "B"),
        default="A",
        help="the variant of a sequence's steps (default: A)",
    )

    rows = sub.add_parser("rows", help="every row of a campaign: recipient, status, failure, times")
    rows.add_argument("campaign", metavar="CAMPAIGN", help="file key or id")
    rows.add_argument("--status", help="only rows of this status")
    formats = rows.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="one JSON document (stable)")
    formats.add_argument("--csv", action="store_true", help="CSV with a header row (stable)")


def run(args: argparse.Namespace, cfg: Config, store: WorkStore) -> int:
    try:
        return _COMMANDS[args.command](args, cfg, store)
    except (Refused, SpecError, FileRefused, IntakeError, LaunchRefused) as exc:
        print(f"campaign-runner: {exc}", file=sys.stderr)
        return 2


def _campaign(store: IntakeStore, ref: str) -> CampaignRef:
    found = store.find_campaign(ref)
    if found is None:
        raise Refused(f"no campaign with key or id {ref!r} (see `campaign apply`)")
    return found


def _apply(args: argparse.Namespace, cfg: Config, store: IntakeStore) -> int:
    spec = campaign_file.load(args.file)
    applied = store.apply_campaign(spec.key, spec.columns(), list(FROZEN_ONCE_LAUNCHED), utc_now())
    if applied.refused:
        raise Refused(campaign_file.refusal(spec.key, applied.status, list(applied.refused)))
    if spec.steps:  # a sequence: its steps as the file says (the frontend's own are kept else)
        changed = store.put_steps(  # type: ignore[attr-defined]
            applied.campaign_id, spec.ab_testing, list(spec.steps), utc_now()
        )
        if changed:
            print(f"campaign {spec.key!r}: {changed} sequence steps written")
    if applied.created:
        print(f"created campaign {spec.key!r} ({applied.campaign_id}), draft")
    elif applied.changed:
        names = ", ".join(campaign_file.FILE_NAME_OF.get(c, c) for c in applied.changed)
        print(f"updated campaign {spec.key!r} ({applied.campaign_id}): {names}")
    else:
        print(f"campaign {spec.key!r} ({applied.campaign_id}) is as the file says: nothing to do")
    return 0


def _import(args: argparse.Namespace, cfg: Config, store: IntakeStore) -> int:
    campaign = _campaign(store, args.campaign)
    read = contacts.read(args.file, progress.bar(f"reading {args.file.name}"))
    for line, reason in read.refused[:REFUSED_SHOWN]:
        print(f"{args.file}: line {line}: {reason}", file=sys.stderr)
    if len(read.refused) > REFUSED_SHOWN:
        print(f"{args.file}: and {len(read.refused) - REFUSED_SHOWN} more", file=sys.stderr)
    done = store.import_contacts(campaign.id, read.contacts, utc_now())
    print(
        f"imported {_count(done.imported, 'contact')} into {campaign.name!r} in one "
        f"transaction ({_count(len(read.refused), 'line')} refused, "
        f"{_count(read.duplicates, 'duplicate')} in the file, {done.in_campaign} already in "
        f"the campaign, {done.suppressed} suppressed); fields: {', '.join(read.columns) or 'none'}"
    )
    return 0


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def _stage(args: argparse.Namespace, cfg: Config, store: IntakeStore) -> int:
    campaign = _campaign(store, args.campaign)
    staged = store.stage_campaign(campaign.id, utc_now())
    print(
        f"staged {_count(staged.staged, staged.what)} of {campaign.name!r} "
        f"({staged.suppressed} suppressed left out); the campaign is {staged.status}"
    )
    return 0


def _launch(args: argparse.Namespace, cfg: Config, store: IntakeStore) -> int:
    campaign = _campaign(store, args.campaign)
    now = utc_now()
    launched = store.launch_campaign(campaign.id, launch.planner(launch.rules(cfg), now), now)
    when = ""
    if launched.first is not None and launched.last is not None:
        tz = cfg.timezone
        when = (
            f", sending from {launched.first.astimezone(tz):%Y-%m-%d %H:%M} "
            f"to {launched.last.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"
        )
    print(
        f"{'queued' if launched.what == 'row' else 'launched'} "
        f"{_count(launched.queued, launched.what)} of {campaign.name!r}{when}; "
        f"the campaign is {launched.status}"
    )
    return 0


def _domains(args: argparse.Namespace, cfg: Config, store: IntakeStore) -> int:
    now = utc_now()
    if args.action == "add":
        try:
            address = validate_email(args.address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise Refused(f"{args.address!r} is not a valid address: {exc}") from None
        added = store.add_sending_domain(address, args.name, now)
        print(f"sending address {added.domain_index}: {added.from_email}, active")
        return 0
    if args.action in ("disable", "enable"):
        changed = store.set_sending_domain_active(args.address, args.action == "enable", now)
        if changed is None:
            raise Refused(f"no sending address {args.address!r} (see `domains list`)")
        print(f"sending address {changed.domain_index}: {changed.from_email}, {_state(changed)}")
        return 0
    listed = store.sending_domains()
    if not listed:
        print("no sending addresses: add one with `campaign-runner domains add ADDRESS`")
    for domain in listed:
        name = f" ({domain.from_name})" if domain.from_name else ""
        print(f"{domain.domain_index:>3}  {domain.from_email}{name}  {_state(domain)}")
    return 0


def _state(domain: SendingDomain) -> str:
    return "active" if domain.active else "disabled"


def _test_send(args: argparse.Namespace, cfg: Config, store: WorkStore) -> int:
    try:
        address = validate_email(args.to, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Refused(f"--to {args.to!r} is not a valid address: {exc}") from None
    campaign = _campaign(store, args.campaign)
    found = store.test_send_row(campaign.id, args.row, address)
    if found.address_suppressed:
        raise Refused(f"{address} is on the suppression list: no test is sent to it")
    email = found.email
    if email is None:
        what = f"row {args.row}" if args.row else "a row or an imported contact"
        raise Refused(f"campaign {campaign.name!r} has no {what} to render")
    if not email.from_email:
        if found.first_address is None:
            raise Refused("the row has no sending address yet and there is no active one")
        email = replace(email, from_email=found.first_address.from_email)
    steps = store.sequence_steps(campaign.id)
    if args.step is not None and not steps:
        raise Refused(f"campaign {campaign.name!r} has no sequence steps: leave out --step")
    if args.step is not None and args.step not in steps:
        raise Refused(f"campaign {campaign.name!r} has no step {args.step}")
    pipeline = build_pipeline(cfg, store)  # only its content, renderer and sender are used
    try:
        try:
            if steps:
                content = preview(email, steps, args.step or 1, args.variant, pipeline.generator)
            else:
                content = pipeline.content_for(email)
            # Content as the row's; the envelope and links the test's own: a new id that
            # names no row, so no event, outbox file or unsubscribe of the test lands on
            # the real one (its unsubscribe page says the link is not valid).
            test = replace(email, id=str(uuid.uuid4()), to_email=address, to_name=None)
            message = pipeline.renderer.render(test, content)
            message = replace(message, subject=f"[TEST] {message.subject}")
            provider_id = pipeline.sender.send(message)
        except RowError as exc:
            print(f"campaign-runner: this row would fail: {exc}", file=sys.stderr)
            return 1
        except (SystemicError, TransientError) as exc:
            print(f"campaign-runner: the test was not sent: {exc}", file=sys.stderr)
            return 1
    finally:
        pipeline.close()
    row = "an imported contact (not staged yet)" if email.id == NO_ROW_YET else f"row {email.id}"
    print(f"sent a test of {row} through {cfg.sender} to {address} ({provider_id})")
    if cfg.sender == "outbox":
        print(f"in {(cfg.outbox_dir / (message.email_id + '.eml')).resolve()}")
    print(f"From: {message.from_name} <{message.from_email}>")
    print(f"Subject: {message.subject}\n")
    print(message.text)
    return 0


def _rows(args: argparse.Namespace, cfg: Config, store: IntakeStore) -> int:
    campaign = _campaign(store, args.campaign)
    rows: list[dict[str, Any]] = []
    while page := store.rows_page(
        campaign.id, args.status, rows[-1]["id"] if rows else None, ROWS_PAGE
    ):
        rows.extend(page)
        if len(page) < ROWS_PAGE:
            break
    if args.json:
        print(rows_export.as_json(campaign, rows))
    elif args.csv:
        sys.stdout.write(rows_export.as_csv(rows))
    elif sys.stdout.isatty():
        pydoc.pager(rows_export.as_table(campaign, rows))
    else:
        sys.stdout.write(rows_export.as_table(campaign, rows))
    return 0


_COMMANDS = {
    "campaign": _apply,
    "import": _import,
    "stage": _stage,
    "launch": _launch,
    "domains": _domains,
    "test-send": _test_send,
    "rows": _rows,
}
