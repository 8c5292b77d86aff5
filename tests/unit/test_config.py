"""Settings: validated at start, one line per bad value, secrets never shown."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_runner import config
from campaign_runner.config import SETTINGS, ConfigError, Part

ROOT = Path(__file__).resolve().parents[2]


def load(**environ: str) -> config.Config:
    return config.load(environ=environ, env_file=None)


def test_defaults_are_the_embedded_default() -> None:
    cfg = load()
    assert (cfg.store, cfg.generator, cfg.sender) == ("sqlite", "template", "outbox")
    assert cfg.database_url == "sqlite:///./campaign-runner.db"
    assert (cfg.work_start_hour, cfg.work_end_hour, cfg.timezone.key) == (
        9,
        17,
        "America/Los_Angeles",
    )
    assert cfg.work_days == frozenset(range(5))
    assert cfg.poll_interval_seconds == 60
    assert cfg.domain_min_interval_seconds == 210


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "WORK_DAYS",
            "funday",
            "WORK_DAYS='funday': expected day names like mon-fri, mon,wed,fri or all",
        ),
        ("WORK_START_HOUR", "25", "WORK_START_HOUR='25': expected a whole number from 0 to 23"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE='Mars/Olympus': expected an IANA time zone name"),
        ("BATCH_SIZE", "many", "BATCH_SIZE='many': expected a whole number from 1 to 1000"),
        (
            "POLL_INTERVAL_SECONDS",
            "-1",
            "POLL_INTERVAL_SECONDS='-1': expected a number from 0.05 up",
        ),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml': expected one of auto, json, console"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL='mysql://x': expected postgresql://"),
        ("SENDER", "pigeon", "SENDER='pigeon': expected one of sparkpost, outbox"),
        (
            "UNSUBSCRIBE_URL",
            "notaurl",
            "UNSUBSCRIBE_URL='notaurl': expected an https:// or http:// URL or a mailto: address",
        ),
        ("UNSUBSCRIBE_URL", "https://", "UNSUBSCRIBE_URL='https://': expected an https://"),
        (
            "UNSUBSCRIBE_URL",
            "https://example.com/u/{id}",
            "UNSUBSCRIBE_URL='https://example.com/u/{id}': expected an https:// or http:// URL "
            "or a mailto: address; {email_id}, {token} and {email} are the only placeholders",
        ),
        ("HEARTBEAT_FILE", "", None),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(
    name: str, value: str, message: str | None
) -> None:
    if message is None:  # the control: an empty value is the default, never refused
        load(**{name: value})
        return
    with pytest.raises(ConfigError) as caught:
        load(**{name: value})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/u/{email_id}?e={email}",
        "http://localhost:8080/u/{email_id}",
        "mailto:unsubscribe@example.com?subject=unsubscribe%20{email}",
        "https://example.com/unsubscribe/{token}",
    ],
)
def test_unsubscribe_urls_that_work_are_accepted(value: str) -> None:
    # {token} and {email} carry a signed token, hence the secret.
    cfg = load(UNSUBSCRIBE_URL=value, UNSUBSCRIBE_SECRET="a-secret-of-16-chars")
    assert cfg.unsubscribe_url == value


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_an_empty_value_means_the_default(setting: config.Setting[object]) -> None:
    """What `docker run --env-file` and systemd's EnvironmentFile= pass for `NAME=`."""
    unset = getattr(load(), setting.attr)
    for empty in ("", "  "):
        assert getattr(load(**{setting.name: empty}), setting.attr) == unset
    assert setting.read("") == setting.read(setting.default)


def test_the_heartbeat_and_the_lock_default_to_the_working_directory() -> None:
    cfg = load(HEARTBEAT_FILE="")
    assert cfg.heartbeat_file == Path("campaign-runner.heartbeat")
    assert cfg.lock_file == Path("campaign-runner.lock")
    gitignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "/campaign-runner.heartbeat" in gitignore and "/campaign-runner.lock" in gitignore


def test_a_setting_a_command_does_not_need_is_refused_only_when_read() -> None:
    cfg = config.load(
        environ={"WORK_DAYS": "funday", "SPARKPOST_API_KEY": "", "LOG_LEVEL": "debug"},
        env_file=None,
        needs={Part.STORE, Part.LOGS},
    )
    assert (cfg.store, cfg.log_level) == ("sqlite", "debug")
    with pytest.raises(ConfigError, match=r"^WORK_DAYS='funday': expected day names"):
        print(cfg.work_days)
    with pytest.raises(ConfigError, match=r"^WORK_DAYS='funday'"):
        config.load(environ={"WORK_DAYS": "funday"}, env_file=None)
    with pytest.raises(ConfigError, match=r"^DATABASE_URL='mysql://x'"):
        config.load(environ={"DATABASE_URL": "mysql://x"}, env_file=None, needs={Part.STORE})


def test_the_config_is_read_only() -> None:
    cfg = load()
    with pytest.raises(AttributeError):
        cfg.batch_size = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="not a setting: batchsize"):
        cfg.replace(batchsize=3)
    assert cfg.replace(batch_size=3).batch_size == 3 and cfg.batch_size == 25


def test_a_window_must_end_after_it_starts() -> None:
    with pytest.raises(
        ConfigError, match="WORK_END_HOUR=9: expected an hour after WORK_START_HOUR=9"
    ):
        load(WORK_START_HOUR="9", WORK_END_HOUR="9")


def test_a_production_store_without_a_sparkpost_key_must_not_send() -> None:
    """Loading is fine (migrate, status, check need no key); sending is what is refused."""
    cfg = load(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test")
    assert (cfg.store, cfg.sender, cfg.sender_explicit) == ("postgres", "outbox", False)
    assert cfg.sending_problem() == (
        "SPARKPOST_API_KEY is empty: the postgres store sends real campaigns; "
        "set SPARKPOST_API_KEY, or SENDER=outbox to write .eml files on purpose"
    )
    cfg = load(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test", SENDER="outbox")
    assert (cfg.store, cfg.sender, cfg.sender_explicit) == ("postgres", "outbox", True)
    assert cfg.sending_problem() is None
    assert load().sending_problem() is None  # the embedded default sends into a folder


def test_a_chosen_service_without_its_key_cannot_be_used() -> None:
    assert load(SENDER="sparkpost").sending_problem() == (
        "SPARKPOST_API_KEY is empty: expected a key when SENDER=sparkpost"
    )
    assert load(GENERATOR="groq").content_problem() == (
        "GROQ_API_KEY is empty: expected a key when GENERATOR=groq"
    )
    assert load(GROQ_API_KEY="gsk").content_problem() is None


def test_keys_choose_the_real_services() -> None:
    cfg = load(SPARKPOST_API_KEY="sp-key-123", GROQ_API_KEY="gsk-key-456")
    assert (cfg.sender, cfg.generator) == ("sparkpost", "groq")
    assert set(cfg.secrets) == {"sp-key-123", "gsk-key-456"}


def test_the_database_password_counts_as_a_secret() -> None:
    cfg = load(DATABASE_URL="postgresql://app:s3cr%40t@db.example.com/q", SENDER="outbox")
    assert cfg.secrets == ("s3cr%40t", "s3cr@t")


def test_supabase_url_picks_the_supabase_store_and_needs_its_key() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_SERVICE_ROLE_KEY"):
        load(SUPABASE_URL="https://abc.supabase.co", SPARKPOST_API_KEY="k")
    cfg = load(
        SUPABASE_URL="https://abc.supabase.co",
        SUPABASE_SERVICE_ROLE_KEY="srk",
        SPARKPOST_API_KEY="k",
    )
    assert cfg.store == "supabase"


def test_env_file_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BATCH_SIZE=7\nCONCURRENCY=3\n")
    cfg = config.load(environ={"CONCURRENCY": "5"}, env_file=env_file)
    assert (cfg.batch_size, cfg.concurrency) == (7, 5)


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign_runner", *args],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_line_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("--once", env={"WORK_DAYS": "funday"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "campaign-runner: WORK_DAYS='funday': expected day names like mon-fri, mon,wed,fri or all"
    ]
    assert not (tmp_path / "campaign-runner.db").exists()


def test_a_command_never_complains_about_a_setting_it_does_not_need(tmp_path: Path) -> None:
    bad = {"WORK_DAYS": "funday", "SENDER": "pigeon", "UNSUBSCRIBE_URL": "notaurl"}
    health = run_cli("health", env=bad, cwd=tmp_path)
    assert (health.returncode, health.stderr) == (1, "")
    assert "does not exist" in health.stdout
    # `status` reads the sending window (why rows wait), not the sender or the footer.
    not_status = {"SENDER": "pigeon", "UNSUBSCRIBE_URL": "notaurl"}
    status = run_cli("status", env=not_status, cwd=tmp_path)
    assert (status.returncode, status.stderr) == (0, "")
    # ... but a bad value of one it needs is still one line and exit 2.
    status = run_cli("status", env={**bad, "DATABASE_URL": "mysql://x"}, cwd=tmp_path)
    assert status.returncode == 2
    assert status.stderr.splitlines() == [
        "campaign-runner: DATABASE_URL='mysql://x': expected postgresql://user:password@host:port"
        "/db or sqlite:///path/to/file.db"
    ]
    status = run_cli("status", env={"WORK_DAYS": "funday"}, cwd=tmp_path)
    assert (status.returncode, status.stderr.splitlines()) == (
        2,
        [
            "campaign-runner: WORK_DAYS='funday': "
            "expected day names like mon-fri, mon,wed,fri or all"
        ],
    )
    health = run_cli("health", env={"POLL_INTERVAL_SECONDS": "soon"}, cwd=tmp_path)
    assert health.returncode == 2
    assert health.stderr.startswith("campaign-runner: POLL_INTERVAL_SECONDS='soon'")


def test_a_secret_is_not_echoed_back_in_an_error(tmp_path: Path) -> None:
    result = run_cli(
        "--once",
        env={"SUPABASE_URL": "ftp://secret-host", "SPARKPOST_API_KEY": "sp-very-secret"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "sp-very-secret" not in result.stderr + result.stdout


def test_readme_and_env_example_list_every_setting() -> None:
    """Both are generated by scripts/settings_docs.py; run it after changing a setting."""
    script = ROOT / "scripts" / "settings_docs.py"
    spec = importlib.util.spec_from_file_location("settings_docs", script)
    docs = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(docs)  # type: ignore[union-attr]
    readme = (ROOT / "README.md").read_text()
    assert (ROOT / ".env.example").read_text() == docs.env_example()
    assert docs.readme(readme) == readme
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in readme


def test_the_sending_guard_refuses_before_the_store_is_reached(tmp_path: Path) -> None:
    """Nothing listens on port 1: reaching the store first would be exit 1, not this."""
    result = run_cli("--once", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/q"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "campaign-runner: SPARKPOST_API_KEY is empty: the postgres store sends real campaigns; "
        "set SPARKPOST_API_KEY, or SENDER=outbox to write .eml files on purpose"
    ]
    dry_run = run_cli(
        "--dry-run", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/q"}, cwd=tmp_path
    )
    assert dry_run.returncode == 1 and "store unavailable" in dry_run.stderr  # no key asked
