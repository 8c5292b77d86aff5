"""Acceptance tests run the real command line in subprocesses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.embedded import embedded_env


def spawn(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "campaign_runner", *args],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(Path.cwd()),
            **embedded_env(tmp_path, **env),
        },
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    process = spawn(tmp_path, *args, **env)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def rows(tmp_path: Path, sql: str = "SELECT * FROM email_queue") -> list[dict[str, Any]]:
    """Read the queue the way any SQLite client would."""
    db = sqlite3.connect(tmp_path / "queue.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql)]
    finally:
        db.close()


@pytest.fixture
def cli(tmp_path: Path):
    class Cli:
        path = tmp_path

        @staticmethod
        def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
            return run(tmp_path, *args, **env)

        @staticmethod
        def spawn(*args: str, **env: str) -> subprocess.Popen[str]:
            return spawn(tmp_path, *args, **env)

        @staticmethod
        def rows(sql: str = "SELECT * FROM email_queue") -> list[dict[str, Any]]:
            return rows(tmp_path, sql)

    return Cli
