"""Settings from the environment and `.env`, validated once at start.

Every setting is declared once in `SETTINGS`; the README table and
`.env.example` are checked against that list by the tests, so the three never
drift apart. A bad value raises `ConfigError` with one line naming the
variable and what it accepts; the command line turns that into exit code 2.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(ValueError):
    """A setting that cannot be used; the message is the one line shown to the operator."""


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ValueError
        return value

    parse.accepts = f"a whole number from {low}" + (f" to {high}" if high is not None else " up")  # type: ignore[attr-defined]
    return parse


def _float(low: float, high: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not value >= low or (high is not None and value > high):
            raise ValueError
        return value

    parse.accepts = f"a number from {low:g}" + (f" to {high:g}" if high is not None else " up")  # type: ignore[attr-defined]
    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError
        return value

    parse.accepts = "one of " + ", ".join(options)  # type: ignore[attr-defined]
    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError


_bool.accepts = "true or false"  # type: ignore[attr-defined]


def _text(raw: str) -> str:
    return raw.strip()


_text.accepts = "text"  # type: ignore[attr-defined]


def _timezone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError from exc


_timezone.accepts = "an IANA time zone name like America/Los_Angeles or Europe/Berlin"  # type: ignore[attr-defined]


def parse_work_days(raw: str) -> frozenset[int]:
    """`mon-fri`, `mon,wed,fri`, `sat-sun`, `fri-mon` (wraps) or `all`; Monday is 0."""
    text = raw.strip().lower()
    if text == "all":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (DAY_NAMES.index(p.strip()[:3]) for p in part.split("-", 1))
            span = (last - first) % 7
            days.update((first + i) % 7 for i in range(span + 1))
        else:
            if part[:3] not in DAY_NAMES or len(part) < 3:
                raise ValueError
            days.add(DAY_NAMES.index(part[:3]))
    if not days:
        raise ValueError
    return frozenset(days)


parse_work_days.accepts = "day names like mon-fri, mon,wed,fri or all"  # type: ignore[attr-defined]


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise ValueError
    return value


_database_url.accepts = "postgresql://user:password@host:port/db or sqlite:///path/to/file.db"  # type: ignore[attr-defined]


def _http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError
    return value


_http_url.accepts = "an http:// or https:// URL"  # type: ignore[attr-defined]


def _https_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith("https://") or len(value) < 12 or any(c in value for c in " ?#"):
        raise ValueError
    return value


_https_url.accepts = "an https:// URL without query or fragment (RFC 8058 requires https)"  # type: ignore[attr-defined]


def _secret(raw: str) -> str:
    value = raw.strip()
    if len(value) < 16:
        raise ValueError
    return value


_secret.accepts = "a random string of at least 16 characters"  # type: ignore[attr-defined]


def _listen(raw: str) -> str:
    """`host:port` or `[v6]:port`; port 0 asks the system for a free one."""
    host, _, port = raw.strip().rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError
    return raw.strip()


_listen.accepts = "host:port, e.g. 127.0.0.1:8080 or [::1]:8080"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    # Where the queue lives.
    Setting(
        "SUPABASE_URL", "", _http_url, "Supabase project URL; when set the supabase store is used"
    ),
    Setting("SUPABASE_SERVICE_ROLE_KEY", "", _text, "Supabase service role key (secret)", True),
    Setting(
        "DATABASE_URL",
        "",
        _database_url,
        "postgresql://... or sqlite:///path; empty means sqlite:///./campaign-runner.db",
    ),
    # Where mail goes.
    Setting(
        "SENDER",
        "",
        _choice("sparkpost", "outbox"),
        "sparkpost or outbox; empty means sparkpost when SPARKPOST_API_KEY is set, else outbox",
    ),
    Setting("OUTBOX_DIR", "./outbox", _text, "folder the outbox sender writes .eml files into"),
    Setting("SPARKPOST_API_KEY", "", _text, "SparkPost API key (secret)", True),
    Setting(
        "SPARKPOST_API_URL",
        "https://api.sparkpost.com/api/v1",
        _http_url,
        "SparkPost API base; EU accounts use https://api.eu.sparkpost.com/api/v1",
    ),
    Setting("SPARKPOST_TRACK_OPENS", "false", _bool, "SparkPost open tracking"),
    Setting("SPARKPOST_TRACK_CLICKS", "false", _bool, "SparkPost click tracking"),
    Setting(
        "SPARKPOST_TRANSACTIONAL",
        "false",
        _bool,
        "send as transactional (SparkPost then adds no List-Unsubscribe of its own); "
        "always on with UNSUBSCRIBE_BASE_URL, so that SparkPost keeps ours",
    ),
    Setting("SPARKPOST_SANDBOX", "false", _bool, "SparkPost sandbox mode (test sending domain)"),
    Setting("SPARKPOST_TIMEOUT_SECONDS", "30", _float(1, 300), "timeout of one SparkPost request"),
    Setting(
        "SPARKPOST_ATTEMPTS",
        "3",
        _int(1, 10),
        "tries of a transmission SparkPost refused (429, 5xx) or never received "
        "(connection refused) before the row waits or the worker backs off",
    ),
    # Who writes the content.
    Setting(
        "GENERATOR",
        "",
        _choice("groq", "template"),
        "groq or template; empty means groq when GROQ_API_KEY is set, else template",
    ),
    Setting("GROQ_API_KEY", "", _text, "Groq API key (secret)", True),
    Setting("GROQ_MODEL", "openai/gpt-oss-120b", _text, "Groq model for generated content"),
    Setting("GROQ_BASE_URL", "https://api.groq.com", _http_url, "Groq API base URL"),
    Setting("GROQ_TEMPERATURE", "0.7", _float(0, 2), "sampling temperature of generated content"),
    Setting("GROQ_MAX_TOKENS", "800", _int(50, 8192), "most tokens one generated answer may use"),
    Setting(
        "GROQ_MAX_FIX_ATTEMPTS",
        "2",
        _int(0, 5),
        "times a bad answer is sent back to the model with a correction",
    ),
    Setting("GROQ_RPM", "30", _int(1), "Groq requests per minute this process stays under"),
    Setting("GROQ_TPM", "8000", _int(100), "Groq tokens per minute this process stays under"),
    Setting("GROQ_TIMEOUT_SECONDS", "30", _float(1, 600), "timeout of one Groq request"),
    # When to send.
    Setting("TIMEZONE", "America/Los_Angeles", _timezone, "time zone of the sending window"),
    Setting("WORK_START_HOUR", "9", _int(0, 23), "hour the sending window opens (0-23)"),
    Setting("WORK_END_HOUR", "17", _int(1, 24), "hour the sending window closes (1-24)"),
    Setting(
        "WORK_DAYS",
        "mon-fri",
        parse_work_days,
        "days the window is open: mon-fri, mon,wed,fri, all",
    ),
    Setting(
        "POLL_INTERVAL_SECONDS",
        "60",
        _float(0.05),
        "seconds between cycles while the window is open",
    ),
    Setting(
        "MAX_BACKOFF_SECONDS",
        "900",
        _float(0.05),
        "longest pause after a systemic error; pauses double from POLL_INTERVAL_SECONDS",
    ),
    # How much at once.
    Setting("BATCH_SIZE", "25", _int(1, 1000), "rows claimed per cycle"),
    Setting("CONCURRENCY", "4", _int(1, 64), "emails processed at the same time"),
    Setting(
        "DOMAIN_MIN_INTERVAL_SECONDS",
        "210",
        _int(0),
        "seconds between two sends from one sending domain (0 = no pacing)",
    ),
    Setting("DOMAIN_DAILY_CAP", "0", _int(0), "sends per sending domain per day (0 = no cap)"),
    # Failures.
    Setting("MAX_ATTEMPTS", "3", _int(1, 100), "attempts before a transient failure becomes final"),
    Setting(
        "RETRY_DELAY_SECONDS",
        "300",
        _int(0),
        "delay before a transient failure is retried; doubles with each attempt",
    ),
    Setting(
        "LEASE_SECONDS",
        "900",
        _int(1),
        "a row processing longer than this is taken to belong to a crashed worker",
    ),
    Setting(
        "BOUNCE_PAUSE_RATE",
        "0.05",
        _float(0, 1),
        "pause a campaign once the provider rejects more than this share of its recipients "
        "(judged after 20 sends; 1 = never)",
    ),
    Setting(
        "SHUTDOWN_TIMEOUT_SECONDS",
        "60",
        _float(0),
        "how long a stop signal waits for emails in flight, and how long an exiting worker "
        "retries writing outcomes the database was down for",
    ),
    # The message.
    Setting(
        "UNSUBSCRIBE_URL",
        "",
        _text,
        "unsubscribe page of your own; {email_id} and {token} (signed row id; {email} gets it "
        "too) are filled in; empty means mailto: reply (see UNSUBSCRIBE_BASE_URL)",
    ),
    Setting("SENDER_ADDRESS", "", _text, "postal address printed in the footer"),
    # Logs.
    Setting(
        "LOG_FORMAT",
        "auto",
        _choice("auto", "json", "console"),
        "json, console, or auto (console on a terminal, json otherwise)",
    ),
    Setting(
        "LOG_LEVEL",
        "info",
        _choice("debug", "info", "warning", "error"),
        "least severe level logged",
    ),
    Setting("WORKER_ID", "", _text, "name recorded in locked_by; empty means host:pid"),
    # Supervision.
    Setting(
        "HEARTBEAT_FILE",
        "",
        _text,
        "file touched every cycle and while asleep, for `campaign-runner health`; empty: none",
    ),
    Setting(
        "LOCK_FILE",
        "./campaign-runner.lock",
        _text,
        "lock that keeps two `--once` runs on one machine from overlapping",
    ),
    # Unsubscribe and the HTTP face.
    Setting(
        "HTTP_LISTEN",
        "",
        _listen,
        "host:port the worker serves /u/<token>, /healthz and /metrics on; empty: off",
    ),
    Setting(
        "UNSUBSCRIBE_BASE_URL",
        "",
        _https_url,
        "public https URL of HTTP_LISTEN behind your proxy; every message then carries "
        "one-click List-Unsubscribe to {base}/u/<token> (replaces UNSUBSCRIBE_URL)",
    ),
    Setting(
        "UNSUBSCRIBE_SECRET",
        "",
        _secret,
        "signs unsubscribe tokens; needed by UNSUBSCRIBE_BASE_URL and {token} links; "
        "changing it breaks the links already sent",
        True,
    ),
)

PRODUCTION_STORES = ("postgres", "supabase")


@dataclass(frozen=True)
class Config:
    """The validated settings; attribute names are the lower-cased variable names."""

    supabase_url: str
    supabase_service_role_key: str
    database_url: str
    sender: str
    outbox_dir: Path
    sparkpost_api_key: str
    sparkpost_api_url: str
    sparkpost_track_opens: bool
    sparkpost_track_clicks: bool
    sparkpost_transactional: bool
    sparkpost_sandbox: bool
    sparkpost_timeout_seconds: float
    sparkpost_attempts: int
    generator: str
    groq_api_key: str
    groq_model: str
    groq_base_url: str
    groq_temperature: float
    groq_max_tokens: int
    groq_max_fix_attempts: int
    groq_rpm: int
    groq_tpm: int
    groq_timeout_seconds: float
    timezone: ZoneInfo
    work_start_hour: int
    work_end_hour: int
    work_days: frozenset[int]
    poll_interval_seconds: float
    max_backoff_seconds: float
    batch_size: int
    concurrency: int
    domain_min_interval_seconds: int
    domain_daily_cap: int
    max_attempts: int
    retry_delay_seconds: int
    lease_seconds: int
    bounce_pause_rate: float
    shutdown_timeout_seconds: float
    unsubscribe_url: str
    sender_address: str
    log_format: str
    log_level: str
    worker_id: str
    heartbeat_file: str
    lock_file: str
    http_listen: str
    unsubscribe_base_url: str
    unsubscribe_secret: str
    # Derived: which adapters run, and whether the choice was the operator's.
    store: str = "sqlite"
    sender_explicit: bool = False
    generator_explicit: bool = False

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values the log redactor hides: the secret settings and the database password."""
        values = [getattr(self, s.name.lower()) for s in SETTINGS if s.secret]
        password = urlsplit(self.database_url).password or ""
        values += [password, unquote(password)]  # as written in the URL, and as decoded
        return tuple(dict.fromkeys(value for value in values if value))


def load(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Config:
    """Read `.env` (if any) under the real environment, validate, and pick adapters."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)

    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = merged.get(setting.name, "")
        if raw.strip() == "":
            raw = setting.default
        if raw == "" and setting.default == "":
            values[setting.name.lower()] = ""
            continue
        try:
            values[setting.name.lower()] = setting.parse(raw)
        except (ValueError, IndexError):
            shown = "(hidden)" if setting.secret else repr(raw)
            raise ConfigError(
                f"{setting.name}={shown}: expected {setting.parse.accepts}"  # type: ignore[attr-defined]
            ) from None
    values["outbox_dir"] = Path(values["outbox_dir"])
    return _choose_adapters(Config(**values))


def _check_unsubscribe(cfg: Config) -> None:
    if cfg.unsubscribe_base_url and cfg.unsubscribe_url:
        raise ConfigError(
            "UNSUBSCRIBE_URL and UNSUBSCRIBE_BASE_URL are both set: expected one "
            "(BASE_URL: this worker's own page; URL: a page of yours)"
        )
    needs_token = cfg.unsubscribe_base_url or any(
        p in cfg.unsubscribe_url for p in ("{token}", "{email}")
    )
    if needs_token and not cfg.unsubscribe_secret:
        what = "UNSUBSCRIBE_BASE_URL" if cfg.unsubscribe_base_url else "UNSUBSCRIBE_URL"
        raise ConfigError(
            f"UNSUBSCRIBE_SECRET is empty: expected a secret of 16 characters or more to sign "
            f"the tokens {what} carries (no address is ever put in a link)"
        )


def _choose_adapters(cfg: Config) -> Config:
    if cfg.work_end_hour <= cfg.work_start_hour:
        raise ConfigError(
            f"WORK_END_HOUR={cfg.work_end_hour}: expected an hour after "
            f"WORK_START_HOUR={cfg.work_start_hour} (windows do not cross midnight)"
        )
    if cfg.supabase_url:
        if not cfg.supabase_service_role_key:
            raise ConfigError(
                "SUPABASE_SERVICE_ROLE_KEY is empty: expected the service role key "
                "of the project named by SUPABASE_URL"
            )
        store = "supabase"
    elif cfg.database_url.startswith(("postgresql://", "postgres://")):
        store = "postgres"
    else:
        store = "sqlite"
    database_url = cfg.database_url or "sqlite:///./campaign-runner.db"

    sender = cfg.sender or ("sparkpost" if cfg.sparkpost_api_key else "outbox")
    if sender == "sparkpost" and not cfg.sparkpost_api_key:
        raise ConfigError("SPARKPOST_API_KEY is empty: expected a key when SENDER=sparkpost")
    if store in PRODUCTION_STORES and sender == "outbox" and not cfg.sender:
        # Marking rows `sent` that only reached a folder is the worst bug this program can have.
        raise ConfigError(
            f"SPARKPOST_API_KEY is empty: the {store} store sends real campaigns; "
            "set SPARKPOST_API_KEY, or SENDER=outbox to write .eml files on purpose"
        )
    generator = cfg.generator or ("groq" if cfg.groq_api_key else "template")
    if generator == "groq" and not cfg.groq_api_key:
        raise ConfigError("GROQ_API_KEY is empty: expected a key when GENERATOR=groq")
    _check_unsubscribe(cfg)
    worker_id = cfg.worker_id or f"{socket.gethostname()}:{os.getpid()}"
    return replace(
        cfg,
        store=store,
        database_url=database_url,
        sender=sender,
        generator=generator,
        sender_explicit=bool(cfg.sender),
        generator_explicit=bool(cfg.generator),
        worker_id=worker_id,
    )
