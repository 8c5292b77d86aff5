"""The health checks of the Dockerfile and the systemd units, run as their platforms run
them: the environment built from the image's `ENV` lines or the unit's `Environment=`,
overridden by a copy of `.env.example` (`docker run --env-file`, `EnvironmentFile=`),
in the image's `WORKDIR` or the unit's `WorkingDirectory=` (here a temporary folder).

No container engine or init runs here, so this file reads the Dockerfile and the units
and does what docker and systemd do with them; tests/deploy/test_deploy_files.py has
the platforms' own linters check the same files."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE_BIN = Path(sys.executable).parent  # where this checkout's console script is
EXAMPLE = (ROOT / ".env.example").read_text()

# The copies of .env.example an operator may make: as shipped, every line uncommented
# with its default, and every line uncommented and left empty (the old trap).
ENV_FILES = {
    "as shipped": EXAMPLE,
    "uncommented": re.sub(r"(?m)^# ([A-Z_]+=.*)$", r"\1", EXAMPLE),
    "emptied": re.sub(r"(?m)^# ([A-Z_]+)=.*$", r"\1=", EXAMPLE),
}


def env_file_values(text: str) -> dict[str, str]:
    """`NAME=value` lines; `#` lines are comments (docker's and systemd's common ground)."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            name, _, value = stripped.partition("=")
            values[name.strip()] = value
    return values


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


# -- Docker ---------------------------------------------------------------------


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    stage = []
    for line in lines[last_from + 1 :]:
        instruction, _, arguments = line.partition(" ")
        stage.append((instruction.upper(), arguments.strip()))
    return stage


def instruction(name: str) -> str:
    (arguments,) = [a for i, a in dockerfile_final_stage() if i == name]
    return arguments


def image_environment(base: dict[str, str]) -> dict[str, str]:
    """The image's ENV lines over the base image's environment, `$VAR` expanded as docker
    does; the image's /opt/venv/bin stands for this checkout's virtual environment."""
    env = dict(base)
    for name, arguments in dockerfile_final_stage():
        if name != "ENV":
            continue
        for assignment in shlex.split(arguments):
            name, _, value = assignment.partition("=")
            value = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
            env[name] = value.replace("/opt/venv/bin", str(HERE_BIN))
    return env


@pytest.mark.parametrize("env_file", ENV_FILES.values(), ids=ENV_FILES.keys())
def test_the_image_is_healthy_after_a_run(env_file: str, tmp_path: Path) -> None:
    env = {**image_environment({"PATH": os.environ["PATH"]}), **env_file_values(env_file)}
    _options, _, command = instruction("HEALTHCHECK").partition(" CMD ")
    healthcheck: list[str] = json.loads(command)  # the exec form, run in WORKDIR
    entrypoint: list[str] = json.loads(instruction("ENTRYPOINT"))

    before = run(healthcheck, env, tmp_path)
    assert before.returncode == 1, before.stdout + before.stderr  # no run yet: unhealthy

    once = run([*entrypoint, "--once"], env, tmp_path)
    assert once.returncode == 0, once.stderr

    after = run(healthcheck, env, tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.startswith("healthy")


def test_the_image_keeps_its_state_in_its_working_directory() -> None:
    """The README's volume is mounted where the worker keeps its files."""
    workdir = instruction("WORKDIR")
    readme = (ROOT / "README.md").read_text()
    runs = [line for line in readme.splitlines() if line.startswith("docker run")]
    assert runs and all(f":{workdir} " in line for line in runs), runs


# -- systemd --------------------------------------------------------------------


def unit_service(name: str) -> dict[str, list[str]]:
    """Each [Service] key and its values, in order (Environment= may repeat)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in (ROOT / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def unit_environment(service: dict[str, list[str]], env_file: str) -> dict[str, str]:
    """Environment= assignments, then EnvironmentFile=, which overrides them (systemd.exec)."""
    env = {"PATH": os.environ["PATH"]}
    for line in service.get("Environment", []):
        for assignment in shlex.split(line):
            name, _, value = assignment.partition("=")
            env[name] = value
    assert service["EnvironmentFile"] == ["/etc/campaign-runner/env"]
    env.update(env_file_values(env_file))
    return env


def exec_start(service: dict[str, list[str]]) -> list[str]:
    (line,) = service["ExecStart"]
    program, *args = shlex.split(line)
    assert program == "/opt/campaign-runner/.venv/bin/campaign-runner"
    return [str(HERE_BIN / "campaign-runner"), *args]


@pytest.mark.parametrize("env_file", ENV_FILES.values(), ids=ENV_FILES.keys())
def test_the_timer_unit_is_healthy_after_a_run(env_file: str, tmp_path: Path) -> None:
    service = unit_service("campaign-runner-once.service")
    env = unit_environment(service, env_file)
    health = [str(HERE_BIN / "campaign-runner"), "health"]

    assert run(health, env, tmp_path).returncode == 1
    once = run(exec_start(service), env, tmp_path)
    assert once.returncode == 0, once.stderr
    after = run(health, env, tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr


@pytest.mark.parametrize("env_file", ENV_FILES.values(), ids=ENV_FILES.keys())
def test_the_loop_unit_is_healthy_while_it_runs(env_file: str, tmp_path: Path) -> None:
    service = unit_service("campaign-runner.service")
    env = unit_environment(service, env_file)
    health = [str(HERE_BIN / "campaign-runner"), "health"]

    assert run(health, env, tmp_path).returncode == 1
    worker = subprocess.Popen(
        exec_start(service), env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while (result := run(health, env, tmp_path)).returncode != 0:
            assert worker.poll() is None, worker.communicate()[1]
            assert time.monotonic() < deadline, result.stdout
            time.sleep(0.2)
        assert result.stdout.startswith("healthy")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    assert worker.returncode == 0
