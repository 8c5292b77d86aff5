"""The command line: `campaign-runner [--once] [--dry-run] [COMMAND]`.

Exit codes: 0 the work ran (even if some emails failed), 1 it could not run
(store unreachable; `check` found a problem), 2 bad configuration or usage
(including a database that lacks a migration).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

import structlog

from . import check, demo, logs, migrate, once_lock, operations
from . import config as config_module
from .adapters import build_pipeline, open_store
from .config import EVERY_PART, Config, ConfigError, Part
from .errors import StoreUnavailable
from .events import duty as events_duty
from .events.client import EventsBusy
from .intake import commands as intake_commands
from .liveness import Liveness, heartbeat_age, heartbeat_limit
from .metrics import Metrics
from .pipeline import pacing_for, utc_now
from .ports import Pacing, Store
from .stores.sqlite import SqliteStore, path_from_url
from .web import HttpServer, queue_due, start_http
from .window import SendingWindow
from .worker import Worker

log = structlog.get_logger("campaign_runner")

# The parts of the configuration each command reads (the rest: every part). A command
# is refused for a bad value only in these, so `migrate` never asks for a sending key.
NEEDS: dict[str, frozenset[Part]] = {
    "health": frozenset({Part.LOGS, Part.HEARTBEAT}),
    "migrate": frozenset({Part.LOGS, Part.STORE}),
    "status": frozenset({Part.LOGS, Part.STORE}),
    "retry-failed": frozenset({Part.LOGS, Part.STORE}),
    "events": frozenset({Part.LOGS, Part.STORE, Part.WORKER}),
    **intake_commands.NEEDS,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campaign-runner",
        description="Send due campaign emails at most once: claim, write, render, send, record.",
    )
    parser.add_argument(
        "--once", action="store_true", help="run one cycle (if the sending window is open) and exit"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="render what is due and log it; send nothing, change no row",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        help="settings file read under the real environment (default: .env)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="the worker loop (the default)")
    sub.add_parser(
        "demo",
        help="seed the embedded store with a sample campaign and send it "
        "into the outbox, whatever the time",
    )
    sub.add_parser(
        "migrate", help="create or upgrade the schema of DATABASE_URL (Postgres or SQLite)"
    )
    sub.add_parser(
        "check", help="configuration, store reachability, schema, sender and generator keys"
    )
    status = sub.add_parser(
        "status",
        help="per campaign: rows by status, due now, next due, last error, pause reason",
    )
    status.add_argument(
        "--json", action="store_true", help="one JSON document for scripts (see the README)"
    )
    retry = sub.add_parser(
        "retry-failed",
        help="requeue a campaign's failed rows, due now (not ambiguous ones unless asked)",
    )
    retry.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    retry.add_argument(
        "--include-ambiguous",
        action="store_true",
        help="also requeue rows that may already have been delivered (asks first)",
    )
    retry.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    sub.add_parser(
        "events",
        help="read SparkPost's events once (delivery, bounce, open, click, complaint, "
        "unsubscribe) onto their rows, for cron",
    )
    sub.add_parser(
        "health", help="exit 0 if the worker's HEARTBEAT_FILE is fresh, 1 if stale or missing"
    )
    intake_commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = config_module.load(env_file=args.env_file, needs=NEEDS.get(args.command, EVERY_PART))
    except ConfigError as exc:
        print(f"campaign-runner: {exc}", file=sys.stderr)
        return 2
    logs.configure(cfg.log_format, cfg.log_level, cfg.secrets)
    try:
        if args.command == "demo":
            return _demo(cfg)
        if args.command == "migrate":
            return migrate.main(cfg)
        if args.command == "check":
            return check.main(cfg)
        if args.command == "health":
            return _health(cfg)
        if args.command in (None, "run", "test-send"):
            _refuse_what_it_cannot_do(cfg, dry_run=args.dry_run)
        store = open_store(cfg)
        try:
            if args.command in intake_commands.COMMANDS:
                return intake_commands.run(args, cfg, store)
            if args.command == "status":
                now = utc_now()
                return operations.status(store, now, args.json, _window(cfg), pacing_for(cfg, now))
            if args.command == "events":
                return _events(cfg, store)
            if args.command == "retry-failed":
                return operations.retry_failed(
                    store,
                    args.campaign_id,
                    include_ambiguous=args.include_ambiguous,
                    assume_yes=args.yes,
                    now=utc_now(),
                )
            return _run(cfg, store, once=args.once, dry_run=args.dry_run)
        finally:
            store.close()
    except ConfigError as exc:
        print(f"campaign-runner: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"campaign-runner: store unavailable: {exc}", file=sys.stderr)
        return 1


def _events(cfg: Config, store: Store) -> int:
    """One poll: 0 when it ran, 1 when SparkPost refused or could not be reached (a
    store that cannot is 1 as well, in `main`), 2 without SparkPost to ask."""
    if cfg.sender != "sparkpost":
        raise ConfigError(
            f"events: SENDER={cfg.sender} gets no delivery reports back; "
            "only SparkPost's events can be read"
        )
    if not cfg.sparkpost_api_key:
        raise ConfigError("SPARKPOST_API_KEY is empty: expected the key whose events to read")
    try:
        report = events_duty.poll(store, cfg, utc_now)
    except (*events_duty.REFUSALS, EventsBusy) as exc:
        print(f"campaign-runner: events: {exc}", file=sys.stderr)
        return 1
    print(events_duty.summary(report))
    return 0


def _window(cfg: Config) -> SendingWindow:
    return SendingWindow(cfg.timezone, cfg.work_start_hour, cfg.work_end_hour, cfg.work_days)


def _refuse_what_it_cannot_do(cfg: Config, *, dry_run: bool) -> None:
    """The loop and `--once` need a way to write content and to send; `--dry-run` writes
    content and sends nothing. The other commands need neither, so never ask."""
    for problem in (cfg.content_problem(), None if dry_run else cfg.sending_problem()):
        if problem:
            raise ConfigError(problem)


def _run(cfg: Config, store: Store, *, once: bool, dry_run: bool) -> int:
    metrics = Metrics(due_now=queue_due(store))
    pipeline = build_pipeline(cfg, store, dry_run=dry_run, metrics=metrics)
    http: HttpServer | None = None  # HTTP_LISTEN's pages, health and metrics while sending
    try:
        window = _window(cfg)
        if dry_run:
            now = utc_now()
            return operations.dry_run(pipeline.dry_run, store, now, window, pacing_for(cfg, now))
        liveness = Liveness(cfg.heartbeat_file)
        worker = Worker(pipeline, window, liveness)
        worker.install_signal_handlers()
        if not once:
            http = start_http(cfg, store, metrics)
            return worker.run_forever()
        with once_lock.held(cfg.lock_file) as mine:
            if not mine:
                log.info("once_skipped", reason=f"another run holds {cfg.lock_file}")
                return 0
            http = start_http(cfg, store, metrics)
            code = worker.run_once()
            # Cron and timer users watch `health` too: each run, window open or not, is a beat.
            liveness.beat()
            return code
    finally:
        if http is not None:
            http.stop()
        pipeline.close()


def _health(cfg: Config) -> int:
    path = cfg.heartbeat_file
    age, limit = heartbeat_age(path), heartbeat_limit(cfg.poll_interval_seconds)
    if age is None:
        print(f"unhealthy: {path} does not exist (has the worker started?)")
        return 1
    if age > limit:
        print(f"unhealthy: last heartbeat {age:.0f} s ago (limit {limit:.0f} s)")
        return 1
    print(f"healthy: last heartbeat {age:.0f} s ago")
    return 0


def _demo(cfg: Config) -> int:
    if cfg.store != "sqlite":
        raise ConfigError(
            f"demo runs on the embedded SQLite store only, not on the {cfg.store} store: "
            "unset SUPABASE_URL and DATABASE_URL (or point DATABASE_URL at sqlite:///demo.db)"
        )
    # Whatever the keys say, the demo writes into the outbox from templates.
    cfg = cfg.replace(sender="outbox", generator="template", generator_explicit=True)
    store = SqliteStore(path_from_url(cfg.database_url))
    pipeline = build_pipeline(cfg, store)
    try:
        seeded = demo.seed(store, pipeline.clock())
        pipeline.run_cycle(pacing=Pacing())  # the demo shows the pipeline, not the pacing
        rows = store.campaign_rows(demo.CAMPAIGN_ID)
    finally:
        pipeline.close()
        store.close()
    print(f"\nCampaign {demo.CAMPAIGN['name']!r} ({demo.CAMPAIGN_ID}) in {store.path}\n")
    if not seeded:
        print(
            f"An earlier `demo` added it: nothing was added this time. To start over, "
            f"delete {store.path} and {cfg.outbox_dir}.\n"
        )
    print(f"{'recipient':<24} {'status':<7} subject or reason")
    for row in rows:
        detail = row["subject"] if row["status"] == "sent" else row["error"]
        print(f"{row['to_email']:<24} {row['status']:<7} {detail}")
    sent = [row for row in rows if row["status"] == "sent"]
    print(f"\n{len(sent)} sent, {len(rows) - len(sent)} not sent. The messages:")
    for row in sent:
        print(f"  {(cfg.outbox_dir / (row['id'] + '.eml')).resolve()}")
    print(f"\nSee the queue with: {this_command()} status")
    return 0


def this_command() -> str:
    """This program as its user started it, so that a hint it prints works when pasted:
    `.venv/bin/campaign-runner`, `campaign-runner` when that is on PATH, or `python -m`."""
    script = Path(sys.argv[0])
    if script.name == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m campaign_runner"
    on_path = shutil.which(script.name)
    if on_path and Path(on_path).resolve() == script.resolve():
        return script.name
    return shlex.quote(sys.argv[0])
