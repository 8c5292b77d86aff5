"""Real worker processes against the real Postgres and the loopback SparkPost and Groq
servers, each reached through a `TcpProxy` the test can hold, cut or refuse.

The fakes and proxies live in the test process, so they outlive every worker and
count what each worker really did on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg.conninfo import conninfo_to_dict

from campaign_runner import migrate
from tests.fakes import groq_server
from tests.fakes.sparkpost_server import FakeSparkPost
from tests.fakes.tcp_proxy import TcpProxy
from tests.fixtures.embedded import ALWAYS_OPEN
from tests.fixtures.postgres import Server

from . import db
from .workers import ForkServer, Worker, start_worker

SPARKPOST_KEY = "sp-reliability-key-0123456789"
EnvFor = Callable[..., dict[str, str]]


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture
def queue_dsn(pg_fresh_dsn: str) -> str:
    """A database of this test's own, migrated: no other test's rows, locks or workers."""
    migrate.apply(pg_fresh_dsn)
    return pg_fresh_dsn


@pytest.fixture
def sparkpost() -> Iterator[FakeSparkPost]:
    with FakeSparkPost(SPARKPOST_KEY) as fake:
        yield fake


@pytest.fixture
def groq() -> Iterator[groq_server.FakeGroq]:
    with groq_server.running() as fake:
        yield fake


@pytest.fixture
def postgres_proxy(pg_server: Server) -> Iterator[TcpProxy]:
    with TcpProxy((pg_server.host, pg_server.port)) as proxy:
        yield proxy


@pytest.fixture
def sparkpost_proxy(sparkpost: FakeSparkPost) -> Iterator[TcpProxy]:
    with TcpProxy(address_of(sparkpost.url)) as proxy:
        yield proxy


@pytest.fixture
def groq_proxy(groq: groq_server.FakeGroq) -> Iterator[TcpProxy]:
    with TcpProxy(address_of(groq.url)) as proxy:
        yield proxy


@pytest.fixture
def env_for(
    queue_dsn: str,
    pg_server: Server,
    postgres_proxy: TcpProxy,
    sparkpost: FakeSparkPost,
    sparkpost_proxy: TcpProxy,
    groq: groq_server.FakeGroq,
    groq_proxy: TcpProxy,
) -> EnvFor:
    """The environment of a worker that reaches all three services through the proxies."""
    dbname = conninfo_to_dict(queue_dsn)["dbname"]
    # sslmode=disable: the proxy's holds read the protocol's bytes.
    database_url = (
        f"postgresql://{pg_server.user}@127.0.0.1:{postgres_proxy.port}/{dbname}?sslmode=disable"
    )

    def env(**overrides: str) -> dict[str, str]:
        return {
            "DATABASE_URL": database_url,
            "SENDER": "sparkpost",
            "SPARKPOST_API_KEY": SPARKPOST_KEY,
            "SPARKPOST_API_URL": sparkpost_proxy.url(sparkpost.url),
            "GENERATOR": "groq",
            "GROQ_API_KEY": groq.api_key,
            "GROQ_BASE_URL": groq_proxy.url(groq.url),
            "GROQ_RPM": "100000",  # the fake sets no limit; the worker's own pacing is not on trial
            "GROQ_TPM": "100000000",
            **ALWAYS_OPEN,
            "DOMAIN_MIN_INTERVAL_SECONDS": "0",
            "POLL_INTERVAL_SECONDS": "0.05",
            "LEASE_SECONDS": "1",
            "LOG_FORMAT": "json",
            # The events poll's GETs would meet the holds armed for transmissions.
            "EVENTS_POLL_SECONDS": "0",
            **overrides,
        }

    return env


@pytest.fixture(scope="session")
def forkserver() -> Iterator[ForkServer]:
    server = ForkServer()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Rig:
    """One test's world: its own migrated queue, the loopback SparkPost and Groq, the
    proxies in front of all three, and ways to start workers that reach them."""

    queue_dsn: str
    sparkpost: FakeSparkPost
    postgres_proxy: TcpProxy
    sparkpost_proxy: TcpProxy
    groq_proxy: TcpProxy
    env: EnvFor
    forkserver: ForkServer
    cwd: Path

    @property
    def proxies(self) -> dict[str, TcpProxy]:
        return {
            "postgres": self.postgres_proxy,
            "sparkpost": self.sparkpost_proxy,
            "groq": self.groq_proxy,
        }

    def stage(self, needs_content: Sequence[bool]) -> list[str]:
        return db.stage(self.queue_dsn, needs_content)

    def rows(self) -> dict[str, dict[str, Any]]:
        return db.rows(self.queue_dsn)

    def unsettled(self) -> int:
        return db.unsettled(self.queue_dsn)

    def spawn(self, **settings: str) -> Worker:
        """The loop, forked from the fork server (see `forkserver.py`)."""
        return self.forkserver.spawn(self.env(**settings), self.cwd)

    def start(self, *args: str, **settings: str) -> Worker:
        """`python -m campaign_runner [args]`, as an operator or cron starts it."""
        return start_worker(self.env(**settings), self.cwd, *args)


@pytest.fixture
def rig(
    tmp_path: Path,
    queue_dsn: str,
    env_for: EnvFor,
    forkserver: ForkServer,
    sparkpost: FakeSparkPost,
    postgres_proxy: TcpProxy,
    sparkpost_proxy: TcpProxy,
    groq_proxy: TcpProxy,
) -> Rig:
    return Rig(
        queue_dsn,
        sparkpost,
        postgres_proxy,
        sparkpost_proxy,
        groq_proxy,
        env_for,
        forkserver,
        tmp_path,
    )
