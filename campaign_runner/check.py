"""`campaign-runner check`: is this configuration ready to run?

One line per part (the store and whether it is reachable, the schema, the
sender, the generator), each `ok` or `PROBLEM`; the exit status is 1 when any
line is a problem. A bad setting never gets this far: loading the config
refuses it with its own line (exit 2).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg

from .adapters import open_store
from .config import PRODUCTION_STORES, Config, ConfigError
from .errors import StoreUnavailable
from .migrate import CATALOG, SchemaBehind, Versioned, applied_versions, latest, manifest, pending
from .stores.postgres import connect, describe, scrub
from .stores.sqlite import SqliteStore, path_from_url


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str


def main(cfg: Config) -> int:
    findings = [
        *store_findings(cfg),
        sender_finding(cfg),
        generator_finding(cfg),
        unsubscribe_finding(cfg),
    ]
    for finding in findings:
        print(f"{'ok' if finding.ok else 'PROBLEM':<8} {finding.text}")
    return 0 if all(finding.ok for finding in findings) else 1


def store_findings(cfg: Config) -> list[Finding]:
    if cfg.store == "sqlite":
        return [_sqlite(cfg)]
    if cfg.store == "postgres":
        return _postgres(cfg.database_url)
    return _through_store(cfg)


def _sqlite(cfg: Config) -> Finding:
    path = path_from_url(cfg.database_url)
    try:
        SqliteStore(path).close()
    except StoreUnavailable as exc:
        return Finding(False, f"store: sqlite: {exc}")
    return Finding(True, f"store: sqlite at {path}, reachable; its schema is created on first use")


def _postgres(url: str) -> list[Finding]:
    where = describe(url)
    try:
        with connect(url) as conn:
            version = max(applied_versions(conn), default=0)
            missing = _missing(conn)
    except StoreUnavailable as exc:
        return [Finding(False, f"store: postgres: {exc}")]
    except psycopg.Error as exc:
        return [Finding(False, f"store: postgres at {where}: {scrub(url, str(exc))}")]
    findings = [Finding(True, f"store: postgres at {where}, reachable"), _version(version)]
    recorded = " (recorded as applied: apply that file again, it is idempotent)"
    findings += [
        Finding(False, f"schema: {line}" + (recorded if version >= latest() else ""))
        for line in missing
    ]
    return findings


def _version(version: int) -> Finding:
    if version < latest():
        return Finding(
            False,
            f"schema: version {version}, this build needs {latest()}: run `campaign-runner "
            f"migrate` to apply {', '.join(m.file for m in pending(version))}",
        )
    return Finding(True, f"schema: version {version}")


def _missing(conn: psycopg.Connection[Any]) -> list[str]:
    """Each table, column or function the migrations add that the database lacks,
    grouped by the migration that adds it."""
    wanted = manifest()
    tables = {t for (t,) in conn.execute(CATALOG["tables"], {"names": list(wanted.tables)})}
    columns = set(conn.execute(CATALOG["columns"], {"tables": list(wanted.tables)}))
    functions = {
        f for (f,) in conn.execute(CATALOG["functions"], {"names": list(wanted.functions)})
    }
    by_file: dict[tuple[str, str], list[str]] = defaultdict(list)
    for table, file in wanted.tables.items():
        if table not in tables:
            by_file["table", file].append(table)
    for (table, column), file in wanted.columns.items():
        if table in tables and (table, column) not in columns:
            by_file["column", file].append(f"{table}.{column}")
    for function, file in wanted.functions.items():
        if function not in functions:
            by_file["function", file].append(function)
    lines = [
        f"missing {kind}{'s' if len(names) > 1 else ''} {', '.join(names)}, added by {file}"
        for (kind, file), names in by_file.items()
    ]
    return lines


def _through_store(cfg: Config) -> list[Finding]:
    """A store reached only through its adapter (supabase: RPC, no catalog)."""
    where = f"{cfg.store} at {cfg.supabase_url}"
    reachable = Finding(True, f"store: {where}, reachable")
    try:
        store = open_store(cfg)
    except SchemaBehind as exc:
        return [reachable, Finding(False, f"schema: {exc}")]
    except (ConfigError, StoreUnavailable) as exc:
        return [Finding(False, f"store: {where}: {exc}")]
    try:
        if not isinstance(store, Versioned):
            return [reachable]
        return [reachable, _version(store.schema_version())]
    except StoreUnavailable as exc:
        return [Finding(False, f"store: {where}: {exc}")]
    finally:
        store.close()


def sender_finding(cfg: Config) -> Finding:
    if cfg.sender == "sparkpost":
        return Finding(
            bool(cfg.sparkpost_api_key),
            f"sender: sparkpost at {cfg.sparkpost_api_url}, SPARKPOST_API_KEY "
            + ("set" if cfg.sparkpost_api_key else "not set"),
        )
    note = (
        "SENDER=outbox on a production store: nothing leaves this machine"
        if cfg.store in PRODUCTION_STORES
        else "no key needed"
    )
    return Finding(True, f"sender: outbox, .eml files into {cfg.outbox_dir} ({note})")


def generator_finding(cfg: Config) -> Finding:
    if cfg.generator == "groq":
        return Finding(
            bool(cfg.groq_api_key),
            f"generator: groq ({cfg.groq_model}), GROQ_API_KEY "
            + ("set" if cfg.groq_api_key else "not set"),
        )
    if cfg.generator_explicit:
        return Finding(True, "generator: template (GENERATOR=template), no key needed")
    return Finding(
        True,
        "generator: template, GROQ_API_KEY not set: a campaign written for the LLM "
        "(ai_prompt, no body_template) halts until it is set or GENERATOR=template",
    )


def unsubscribe_finding(cfg: Config) -> Finding:
    """A warning, not a problem: mail without one-click unsubscribe still goes out, but
    Gmail and Yahoo require RFC 8058 one-click from bulk senders."""
    if cfg.unsubscribe_base_url:
        text = f"unsubscribe: one-click (RFC 8058) at {cfg.unsubscribe_base_url}/u/<token>"
        if cfg.sender == "sparkpost":
            text += ", sent as transactional so that SparkPost keeps our List-Unsubscribe"
        if not cfg.http_listen:
            text += "; warning: HTTP_LISTEN is empty, so another worker must serve that URL"
        return Finding(True, text)
    if cfg.unsubscribe_url.startswith("https://"):
        return Finding(
            True,
            "unsubscribe: your page UNSUBSCRIBE_URL with List-Unsubscribe-Post: it must "
            "accept RFC 8058 one-click POSTs",
        )
    if cfg.sender == "sparkpost" and not cfg.sparkpost_transactional:
        return Finding(
            True,
            "unsubscribe: warning: no one-click of ours; SparkPost puts its own List-Unsubscribe "
            "on this non-transactional mail, but its unsubscribes reach only SparkPost's list; "
            "set UNSUBSCRIBE_BASE_URL and HTTP_LISTEN",
        )
    return Finding(
        True,
        "unsubscribe: warning: mailto: only, no one-click (RFC 8058), which Gmail and Yahoo "
        "require of bulk senders; set UNSUBSCRIBE_BASE_URL and HTTP_LISTEN",
    )
