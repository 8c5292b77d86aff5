"""Settings from the environment and `.env`, validated once at start.

Each setting is declared once, as an attribute of `Config`: its variable is
the attribute's name upper-cased, its type is what its `Kind` parses to, and
its default, help and secrecy sit beside it. The README table and
`.env.example` are generated from those declarations (scripts/settings_docs.py)
and a test fails when they drift.

A command validates only the parts of the configuration it needs (`Part`): a
bad value there raises `ConfigError` with one line naming the variable and what
it accepts, and the command line turns that into exit code 2. A bad value of a
setting the command does not need is kept as that error and raised only if
something reads it, so `migrate` never complains about `WORK_DAYS`, and
nothing ever runs on a value the operator did not mean.
"""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar, cast, overload
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

T = TypeVar("T")

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRODUCTION_STORES = ("postgres", "supabase")


class ConfigError(ValueError):
    """A setting that cannot be used; the message is the one line shown to the operator."""


@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a setting's text becomes its value, and what to tell whoever wrote it wrong."""

    accepts: str
    parse: Callable[[str], T]  # raises ValueError (or IndexError) for text it refuses


def whole(low: int, high: int | None = None) -> Kind[int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ValueError
        return value

    return Kind(
        f"a whole number from {low}" + (f" to {high}" if high is not None else " up"), parse
    )


def off_or_whole(low: int) -> Kind[int]:
    """0 (off), or a whole number from `low` up."""

    def parse(raw: str) -> int:
        value = int(raw)
        if value != 0 and value < low:
            raise ValueError
        return value

    return Kind(f"0 (off) or a whole number from {low} up", parse)


def number(low: float, high: float | None = None) -> Kind[float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not value >= low or (high is not None and value > high):
            raise ValueError
        return value

    return Kind(f"a number from {low:g}" + (f" to {high:g}" if high is not None else " up"), parse)


def choice(*options: str) -> Kind[str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError
        return value

    return Kind("one of " + ", ".join(options), parse)


def optional(kind: Kind[str]) -> Kind[str]:
    """`kind`, or empty: for settings whose default is "not set"."""
    return Kind(kind.accepts, lambda raw: kind.parse(raw) if raw.strip() else "")


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _timezone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError from exc


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


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise ValueError
    return value


def _http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError
    return value


def _unsubscribe_url(raw: str) -> str:
    value = raw.strip()
    # The renderer fills in these three and no other: any other brace would be sent as typed.
    bare = value.replace("{email_id}", "").replace("{token}", "").replace("{email}", "")
    if "{" in bare or "}" in bare:
        raise ValueError
    parts = urlsplit(bare)
    if parts.scheme in ("http", "https") and parts.hostname:
        return value
    if parts.scheme == "mailto" and "@" in parts.path:
        return value
    raise ValueError


def _imap_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(raw.split())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ValueError
        if parts.password is None:
            raise ValueError
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    return urls


def _reply_address(raw: str) -> str:
    value = raw.strip()
    local, at, domain = value.rpartition("@")
    if value and (not at or not local or not domain or "+" in local):
        raise ValueError
    return value


def _https_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith("https://") or len(value) < 12 or any(c in value for c in " ?#"):
        raise ValueError
    return value


def _secret(raw: str) -> str:
    value = raw.strip()
    if len(value) < 16:
        raise ValueError
    return value


def _listen(raw: str) -> str:
    """`host:port` or `[v6]:port`; port 0 asks the system for a free one."""
    host, _, port = raw.strip().rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError
    return raw.strip()


def _worker_id(raw: str) -> str:
    return raw.strip() or f"{socket.gethostname()}:{os.getpid()}"


TEXT = Kind("text", str.strip)
BOOL = Kind("true or false", _bool)
PATH = Kind("a file or folder path", lambda raw: Path(raw.strip()))
TIMEZONE = Kind("an IANA time zone name like America/Los_Angeles or Europe/Berlin", _timezone)
WORK_DAYS = Kind("day names like mon-fri, mon,wed,fri or all", parse_work_days)
DATABASE_URL = Kind(
    "postgresql://user:password@host:port/db or sqlite:///path/to/file.db", _database_url
)
HTTP_URL = Kind("an http:// or https:// URL", _http_url)
UNSUBSCRIBE_URL = Kind(
    "an https:// or http:// URL or a mailto: address; {email_id}, {token} and {email} are "
    "the only placeholders",
    _unsubscribe_url,
)
HTTPS_URL = Kind("an https:// URL without query or fragment (RFC 8058 requires https)", _https_url)
SECRET = Kind("a random string of at least 16 characters", _secret)
LISTEN = Kind("host:port, e.g. 127.0.0.1:8080 or [::1]:8080", _listen)
WORKER_ID = Kind("a name", _worker_id)
IMAP_URLS = Kind(
    "imap:// or imaps:// URLs like imaps://user:password@host/INBOX, separated by spaces",
    _imap_urls,
)
REPLY_ADDRESS = Kind("an address like replies@example.com (without a +)", _reply_address)


class Part(enum.Enum):
    """Which commands read a setting. A command validates the parts it needs, no other."""

    STORE = "store"  # every command but `health`
    LOGS = "logs"  # every command
    HEARTBEAT = "heartbeat"  # the worker, which touches the file, and `health`, which reads it
    WORKER = "worker"  # the commands that claim, write, render or send, and `check`


EVERY_PART = frozenset(Part)


class Setting(Generic[T]):
    """One setting, declared once as an attribute of `Config`; its variable is the
    attribute's name upper-cased. Read on an instance, it is the validated value."""

    def __init__(
        self,
        kind: Kind[T],
        default: str,
        help: str,
        *,
        part: Part = Part.WORKER,
        secret: bool = False,
    ) -> None:
        self.kind, self.default, self.help, self.part, self.secret = (
            kind,
            default,
            help,
            part,
            secret,
        )
        self.attr = self.name = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr, self.name = attr, attr.upper()

    @overload
    def __get__(self, cfg: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, cfg: Config, owner: type) -> T: ...
    def __get__(self, cfg: Config | None, owner: type) -> Setting[T] | T:
        if cfg is None:
            return self
        value = cfg._values[self.attr]
        if isinstance(value, ConfigError):
            # A bad value of a setting the command said it would not read: read after all.
            raise ConfigError(str(value))
        return cast(T, value)

    def read(self, raw: str) -> T:
        """The value of `raw` (empty means the default), or the one line that refuses it."""
        text = raw if raw.strip() else self.default
        try:
            return self.kind.parse(text)
        except (ValueError, IndexError):
            shown = "(hidden)" if self.secret else repr(text)
            raise ConfigError(f"{self.name}={shown}: expected {self.kind.accepts}") from None


class Config:
    """The validated settings, in the order the README and `.env.example` list them.

    To add a setting, add one line here: `name = Setting(KIND, "default", "help")`, with
    `part=` if a command other than the worker's reads it and `secret=True` for a key;
    then run scripts/settings_docs.py.
    """

    __slots__ = ("_values",)
    _values: dict[str, object]

    # Where the queue lives.
    supabase_url = Setting(
        optional(HTTP_URL),
        "",
        "Supabase project URL; when set the supabase store is used",
        part=Part.STORE,
    )
    supabase_service_role_key = Setting(
        TEXT, "", "Supabase service role key (secret)", part=Part.STORE, secret=True
    )
    database_url = Setting(
        DATABASE_URL,
        "sqlite:///./campaign-runner.db",
        "postgresql://... or sqlite:///path (a relative path starts in the working directory)",
        part=Part.STORE,
    )
    # Where mail goes.
    sender = Setting(
        optional(choice("sparkpost", "outbox")),
        "",
        "sparkpost or outbox; empty means sparkpost when SPARKPOST_API_KEY is set, else outbox",
    )
    outbox_dir = Setting(PATH, "./outbox", "folder the outbox sender writes .eml files into")
    sparkpost_api_key = Setting(TEXT, "", "SparkPost API key (secret)", secret=True)
    sparkpost_api_url = Setting(
        HTTP_URL,
        "https://api.sparkpost.com/api/v1",
        "SparkPost API base; EU accounts use https://api.eu.sparkpost.com/api/v1",
    )
    sparkpost_track_opens = Setting(BOOL, "false", "SparkPost open tracking")
    sparkpost_track_clicks = Setting(BOOL, "false", "SparkPost click tracking")
    sparkpost_transactional = Setting(
        BOOL,
        "false",
        "send as transactional (SparkPost then adds no List-Unsubscribe of its own); "
        "always on with UNSUBSCRIBE_BASE_URL, so that SparkPost keeps ours",
    )
    sparkpost_sandbox = Setting(BOOL, "false", "SparkPost sandbox mode (test sending domain)")
    sparkpost_timeout_seconds = Setting(number(1, 300), "30", "timeout of one SparkPost request")
    sparkpost_attempts = Setting(
        whole(1, 10),
        "3",
        "tries of a transmission SparkPost refused (429, 5xx) or never received "
        "(connection refused) before the row waits or the worker backs off",
    )
    # Who writes the content.
    generator = Setting(
        optional(choice("groq", "template")),
        "",
        "groq or template; empty means groq when GROQ_API_KEY is set, else template",
    )
    groq_api_key = Setting(TEXT, "", "Groq API key (secret)", secret=True)
    groq_model = Setting(TEXT, "openai/gpt-oss-120b", "Groq model for generated content")
    groq_base_url = Setting(HTTP_URL, "https://api.groq.com", "Groq API base URL")
    groq_temperature = Setting(number(0, 2), "0.7", "sampling temperature of generated content")
    groq_max_tokens = Setting(whole(50, 8192), "800", "most tokens one generated answer may use")
    groq_max_fix_attempts = Setting(
        whole(0, 5), "2", "times a bad answer is sent back to the model with a correction"
    )
    groq_rpm = Setting(whole(1), "30", "Groq requests per minute this process stays under")
    groq_tpm = Setting(whole(100), "8000", "Groq tokens per minute this process stays under")
    groq_timeout_seconds = Setting(number(1, 600), "30", "timeout of one Groq request")
    # When to send.
    timezone = Setting(TIMEZONE, "America/Los_Angeles", "time zone of the sending window")
    work_start_hour = Setting(whole(0, 23), "9", "hour the sending window opens (0-23)")
    work_end_hour = Setting(whole(1, 24), "17", "hour the sending window closes (1-24)")
    work_days = Setting(WORK_DAYS, "mon-fri", "days the window is open: mon-fri, mon,wed,fri, all")
    poll_interval_seconds = Setting(
        number(0.05),
        "60",
        "seconds between cycles while the window is open (fractions too: `health` allows "
        "three missed polls and a minute)",
        part=Part.HEARTBEAT,
    )
    max_backoff_seconds = Setting(
        number(0.05),
        "900",
        "longest pause after a systemic error; pauses double from POLL_INTERVAL_SECONDS",
    )
    # How much at once.
    batch_size = Setting(whole(1, 1000), "25", "rows claimed per cycle")
    concurrency = Setting(whole(1, 64), "4", "emails processed at the same time")
    domain_min_interval_seconds = Setting(
        whole(0), "210", "seconds between two sends from one sending domain (0 = no pacing)"
    )
    domain_daily_cap = Setting(whole(0), "0", "sends per sending domain per day (0 = no cap)")
    # Failures.
    max_attempts = Setting(whole(1, 100), "3", "attempts before a transient failure becomes final")
    retry_delay_seconds = Setting(
        whole(0), "300", "delay before a transient failure is retried; doubles with each attempt"
    )
    lease_seconds = Setting(
        whole(1), "900", "a row processing longer than this is taken to belong to a crashed worker"
    )
    bounce_pause_rate = Setting(
        number(0, 1),
        "0.05",
        "pause a campaign once the provider rejects more than this share of its recipients "
        "(judged after 20 sends; 1 = never)",
    )
    complaint_pause_rate = Setting(
        number(0, 1),
        "0.003",
        "pause a campaign once more than this share of its delivered recipients mark it as "
        "spam (SparkPost's events; 1 = never)",
    )
    complaint_min_delivered = Setting(
        whole(1), "1000", "delivered recipients a campaign needs before complaints are judged"
    )
    shutdown_timeout_seconds = Setting(
        number(0),
        "60",
        "how long a stop signal waits for emails in flight, and how long an exiting worker "
        "retries writing outcomes the database was down for",
    )
    # What comes back: SparkPost's Events API, read by the worker and `events`.
    events_poll_seconds = Setting(
        off_or_whole(60),
        "300",
        "seconds between two polls of SparkPost's events by the worker, window open or not "
        "(0: the worker does not poll; run `campaign-runner events` from cron instead)",
    )
    events_per_page = Setting(whole(1, 10000), "1000", "events asked for per Events API page")
    events_timeout_seconds = Setting(number(1, 300), "30", "timeout of one Events API request")
    ambiguous_settle_seconds = Setting(
        whole(60),
        "1800",
        "an ambiguous send SparkPost has reported nothing for this long after it started is "
        "not_accepted (retry-failed requeues it)",
    )
    # Sequences and replies.
    sequence_dispatch_seconds = Setting(
        number(0.05), "60", "how often the next steps of due sequence leads are queued"
    )
    sequence_dispatch_limit = Setting(
        whole(1, 100_000), "500", "sequence leads per campaign queued by one dispatch"
    )
    reply_imap_url = Setting(
        IMAP_URLS,
        "",
        "mailboxes the reply poll reads, imaps://user:password@host/INBOX, several separated "
        "by spaces; empty: no reply poll (secret)",
        secret=True,
    )
    reply_poll_seconds = Setting(number(10), "300", "how often the reply poll reads the mailboxes")
    reply_address = Setting(
        REPLY_ADDRESS,
        "",
        "replies@example.com gives each sequence lead the reply address "
        "replies+<token>@example.com; empty: the campaign's reply_to",
    )
    # The message.
    unsubscribe_url = Setting(
        optional(UNSUBSCRIBE_URL),
        "",
        "unsubscribe page of your own; {email_id} and {token} (signed row id; {email} gets it "
        "too) are filled in; empty means mailto: reply (see UNSUBSCRIBE_BASE_URL)",
    )
    sender_address = Setting(TEXT, "", "postal address printed in the footer")
    # Logs.
    log_format = Setting(
        choice("auto", "json", "console"),
        "auto",
        "json, console, or auto (console on a terminal, json otherwise)",
        part=Part.LOGS,
    )
    log_level = Setting(
        choice("debug", "info", "warning", "error"),
        "info",
        "least severe level logged",
        part=Part.LOGS,
    )
    worker_id = Setting(WORKER_ID, "", "name recorded in locked_by; empty means host:pid")
    # Supervision: files in the working directory, which is the state directory of the
    # systemd units and of the image, and where the embedded store and outbox live.
    heartbeat_file = Setting(
        PATH,
        "./campaign-runner.heartbeat",
        "file touched every cycle, while asleep and by each `--once`; "
        "`campaign-runner health` reads its age",
        part=Part.HEARTBEAT,
    )
    lock_file = Setting(
        PATH,
        "./campaign-runner.lock",
        "lock that keeps two `--once` runs on one machine from overlapping",
    )
    # Unsubscribe and the HTTP face.
    http_listen = Setting(
        optional(LISTEN),
        "",
        "host:port the worker serves /u/<token>, /healthz and /metrics on; empty: off",
    )
    unsubscribe_base_url = Setting(
        optional(HTTPS_URL),
        "",
        "public https URL of HTTP_LISTEN behind your proxy; every message then carries "
        "one-click List-Unsubscribe to {base}/u/<token> (replaces UNSUBSCRIBE_URL)",
    )
    unsubscribe_secret = Setting(
        optional(SECRET),
        "",
        "signs unsubscribe tokens; needed by UNSUBSCRIBE_BASE_URL and {token} links; "
        "changing it breaks the links already sent",
        secret=True,
    )

    def __init__(self, values: Mapping[str, object]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Config is read-only: {name}")

    def replace(self, **values: object) -> Config:
        """A copy with some values changed (the demo's fixed adapters)."""
        unknown = set(values) - set(self._values)
        if unknown:
            raise TypeError(f"not a setting: {', '.join(sorted(unknown))}")
        return Config({**self._values, **values})

    @property
    def store(self) -> str:
        """Which store: supabase when SUPABASE_URL is set, else as DATABASE_URL says."""
        if self.supabase_url:
            return "supabase"
        return (
            "postgres"
            if self.database_url.startswith(("postgresql://", "postgres://"))
            else "sqlite"
        )

    @property
    def sender_explicit(self) -> bool:
        """SENDER was set, not chosen from the keys: an outbox on a production store is meant."""
        return self._values["sender_explicit"] is True

    @property
    def generator_explicit(self) -> bool:
        """GENERATOR was set, not chosen from the keys (see TemplateGenerator)."""
        return self._values["generator_explicit"] is True

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values the log redactor hides: the secret settings and the database password."""
        values = [self._values[s.attr] for s in SETTINGS if s.secret]
        url = self._values["database_url"]
        password = urlsplit(url).password or "" if isinstance(url, str) else ""
        values += [password, unquote(password)]  # as written in the URL, and as decoded
        return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and v))

    def sending_problem(self) -> str | None:
        """Why this configuration must not send, if it must not. The commands that send
        refuse to start with this line; `check` reports it; the others never read it."""
        if self.sender == "sparkpost" and not self.sparkpost_api_key:
            return "SPARKPOST_API_KEY is empty: expected a key when SENDER=sparkpost"
        if self.store in PRODUCTION_STORES and self.sender == "outbox" and not self.sender_explicit:
            # Marking rows `sent` that only reached a folder is the worst bug this program can have.
            return (
                f"SPARKPOST_API_KEY is empty: the {self.store} store sends real campaigns; "
                "set SPARKPOST_API_KEY, or SENDER=outbox to write .eml files on purpose"
            )
        return None

    def content_problem(self) -> str | None:
        """Why this configuration cannot write content, if it cannot (as `sending_problem`)."""
        if self.generator == "groq" and not self.groq_api_key:
            return "GROQ_API_KEY is empty: expected a key when GENERATOR=groq"
        return None


SETTINGS: tuple[Setting[Any], ...] = tuple(
    value for value in vars(Config).values() if isinstance(value, Setting)
)


def load(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    needs: Collection[Part] = EVERY_PART,
) -> Config:
    """Read `.env` (if any) under the real environment; refuse the first bad value of a
    part in `needs` with its one line; keep the others' errors for whoever reads them."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)

    values: dict[str, object] = {}
    for setting in SETTINGS:
        try:
            values[setting.attr] = setting.read(merged.get(setting.name, ""))
        except ConfigError as exc:
            values[setting.attr] = exc
    _check_together(values)
    _choose_adapters(values)
    for setting in SETTINGS:
        if setting.part in needs and isinstance(error := values[setting.attr], ConfigError):
            raise error
    return Config(values)


def _check_together(values: dict[str, object]) -> None:
    """Settings that are good alone but not together: the error goes to the second one."""
    start, end = values["work_start_hour"], values["work_end_hour"]
    if isinstance(start, int) and isinstance(end, int) and end <= start:
        values["work_end_hour"] = ConfigError(
            f"WORK_END_HOUR={end}: expected an hour after "
            f"WORK_START_HOUR={start} (windows do not cross midnight)"
        )
    if (
        isinstance(url := values["supabase_url"], str)
        and url
        and not values["supabase_service_role_key"]
    ):
        values["supabase_service_role_key"] = ConfigError(
            "SUPABASE_SERVICE_ROLE_KEY is empty: expected the service role key "
            "of the project named by SUPABASE_URL"
        )
    _check_unsubscribe(values)


def _check_unsubscribe(values: dict[str, object]) -> None:
    """One unsubscribe page, and a secret for the tokens its links carry."""
    base, page = values["unsubscribe_base_url"], values["unsubscribe_url"]
    if not (isinstance(base, str) and isinstance(page, str)):
        return
    if base and page:
        values["unsubscribe_base_url"] = ConfigError(
            "UNSUBSCRIBE_URL and UNSUBSCRIBE_BASE_URL are both set: expected one "
            "(BASE_URL: this worker's own page; URL: a page of yours)"
        )
        return
    needs_token = base or any(p in page for p in ("{token}", "{email}"))
    if needs_token and values["unsubscribe_secret"] == "":
        what = "UNSUBSCRIBE_BASE_URL" if base else "UNSUBSCRIBE_URL"
        values["unsubscribe_secret"] = ConfigError(
            "UNSUBSCRIBE_SECRET is empty: expected a secret of 16 characters or more to sign "
            f"the tokens {what} carries (no address is ever put in a link)"
        )


def _choose_adapters(values: dict[str, object]) -> None:
    """An empty SENDER or GENERATOR means the real service when its key is set."""
    for attr, key, real, embedded in (
        ("sender", "sparkpost_api_key", "sparkpost", "outbox"),
        ("generator", "groq_api_key", "groq", "template"),
    ):
        chosen = values[attr]
        values[f"{attr}_explicit"] = bool(chosen)
        if isinstance(chosen, str) and not chosen:
            values[attr] = real if values[key] else embedded
