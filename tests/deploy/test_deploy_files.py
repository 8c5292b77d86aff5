"""The Dockerfile and systemd units, checked by the tools their platforms use."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").iterdir())
INSTALLED_AT = "/opt/campaign-runner/.venv/bin/campaign-runner"


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "systemd" / name)
    return parser


def test_hadolint_reports_nothing() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([hadolint, ROOT / "Dockerfile"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_the_worker_as_a_non_root_user_with_a_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert lines.count("FROM python:3.11-slim AS build") == 1  # multi-stage
    assert 'ENTRYPOINT ["campaign-runner"]' in lines
    assert "STOPSIGNAL SIGTERM" in lines
    assert 'CMD ["campaign-runner", "health"]' in lines
    (user,) = [line for line in lines if line.startswith("USER ")]
    assert user.split()[1] not in ("0", "root")


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd (.ci/run does)"
    # verify checks that ExecStart exists: point it at this checkout's console script.
    here = str(Path(sys.executable).with_name("campaign-runner"))
    for path in UNITS:
        (tmp_path / path.name).write_text(path.read_text().replace(INSTALLED_AT, here))
    result = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_the_service_is_a_hardened_notify_service_with_a_watchdog() -> None:
    service = unit("campaign-runner.service")["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].startswith("/etc/")
    assert service["DynamicUser"] == "yes"
    for setting in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[setting] == "yes"
    assert service["ProtectSystem"] == "strict"


def test_the_timer_runs_the_once_service_every_minute() -> None:
    assert unit("campaign-runner-once.timer")["Timer"]["OnCalendar"] == "minutely"
    once = unit("campaign-runner-once.service")["Service"]
    assert once["Type"] == "oneshot"
    assert once["ExecStart"].endswith("campaign-runner --once")


def readme_lines() -> list[str]:
    return (ROOT / "README.md").read_text().splitlines()


def installed(pattern: str) -> str:
    """The path an install step of the README's systemd section writes to."""
    (path,) = {m.group(1) for line in readme_lines() if (m := re.search(pattern, line))}
    return path


def test_the_units_point_where_the_install_steps_put_things() -> None:
    clone = installed(r"^sudo git clone .* (/\S+)$")
    venv = installed(r"^sudo python3 -m venv (/\S+)$")
    env_file = installed(r"^sudo install -m 600 \S+/\.env\.example (/\S+)$")
    for path in UNITS:
        parsed = unit(path.name)
        assert parsed["Unit"]["Documentation"] == f"file://{clone}/README.md"
        if "Service" in parsed:
            assert parsed["Service"]["ExecStart"].split()[0] == f"{venv}/bin/campaign-runner"
            assert parsed["Service"]["EnvironmentFile"] == env_file
    assert (ROOT / "README.md").is_file()  # what the clone holds at that path


def test_the_readme_points_only_inside_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    assert "../" not in text
    named = set(re.findall(r"`((?:docs|systemd|scripts|supabase)/[\w./-]+)`", text))
    assert "docs/architecture.md" in named
    missing = [path for path in sorted(named) if not (ROOT / path).exists()]
    assert missing == []
