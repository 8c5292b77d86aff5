"""`campaign-runner check`: is this configuration ready to run?

One line per part (the store and whether it is reachable, the schema, the
sender, the generator, unsubscribe), each `ok` or `PROBLEM` (unsubscribe
without one-click is an `ok` line that says "warning"); the exit status is 1 when any
line is a problem. A bad setting never gets this far: loading the config
refuses it with its own line (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapters import store_for
from .config import PRODUCTION_STORES, Config, ConfigError
from .errors import StoreUnavailable
from .sql.schema import behind, latest


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
    """Reachable, at which schema version, and what its schema lacks: the same
    questions of every store, through the store itself."""
    try:
        store = store_for(cfg)
    except (ConfigError, StoreUnavailable) as exc:
        return [Finding(False, f"store: {cfg.store}: {exc}")]
    try:
        version = store.schema_version()
        missing = store.missing()
    except StoreUnavailable as exc:
        return [Finding(False, f"store: {cfg.store}: {exc}")]
    finally:
        store.close()
    reachable = f"store: {cfg.store} at {store.where}, reachable"
    if version is None:
        findings = [Finding(True, f"{reachable}; its schema is created on first use")]
    else:
        findings = [Finding(True, reachable), _version(version)]
    recorded = version is not None and version >= latest()
    again = " (recorded as applied: apply that file again, it is idempotent)" if recorded else ""
    return findings + [Finding(False, f"schema: {line}{again}") for line in missing]


def _version(version: int) -> Finding:
    if version < latest():
        return Finding(
            False, f"schema: version {version}, this build needs {latest()}: {behind(version)}"
        )
    return Finding(True, f"schema: version {version}")


def sender_finding(cfg: Config) -> Finding:
    if problem := cfg.sending_problem():
        return Finding(False, f"sender: {cfg.sender}: {problem}")
    if cfg.sender == "sparkpost":
        return Finding(True, f"sender: sparkpost at {cfg.sparkpost_api_url}, SPARKPOST_API_KEY set")
    note = (
        "SENDER=outbox on a production store: nothing leaves this machine"
        if cfg.store in PRODUCTION_STORES
        else "no key needed"
    )
    return Finding(True, f"sender: outbox, .eml files into {cfg.outbox_dir} ({note})")


def generator_finding(cfg: Config) -> Finding:
    if problem := cfg.content_problem():
        return Finding(False, f"generator: groq: {problem}")
    if cfg.generator == "groq":
        return Finding(True, f"generator: groq ({cfg.groq_model}), GROQ_API_KEY set")
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
