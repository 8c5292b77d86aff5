"""The HTTP face, served for real by waitress on a loopback port, over the embedded store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaign_runner.config import Config
from campaign_runner.metrics import Metrics
from campaign_runner.stores.sqlite import SqliteStore
from campaign_runner.unsubscribe import Tokens
from campaign_runner.web import HttpServer, queue_due, start_http
from tests.fixtures.embedded import campaign, email_row

SECRET = "http-test-secret-0123456789"
BASE_URL = "https://unsubscribe.example.com"


@dataclass
class Face:
    server: HttpServer
    store: SqliteStore
    config: Config
    client: httpx.Client
    email_id: str  # a staged row, to ana.ruiz@example.org
    metrics: Metrics

    def url(self, token: str) -> str:
        return f"{self.server.url}/u/{token}"

    @property
    def token(self) -> str:
        return Tokens(SECRET).make(self.email_id)

    def suppressions(self) -> list[dict[str, Any]]:
        with self.store._transaction("DEFERRED") as db:
            return [dict(r) for r in db.execute("SELECT * FROM suppressions ORDER BY email")]


@pytest.fixture
def serve(
    make_config: Callable[..., Config], sqlite_store: SqliteStore, tmp_path: Path
) -> Iterator[Callable[..., Face]]:
    servers: list[HttpServer] = []
    clients: list[httpx.Client] = []

    def make(**overrides: str) -> Face:
        config = make_config(
            **{
                "HTTP_LISTEN": "127.0.0.1:0",
                "UNSUBSCRIBE_BASE_URL": BASE_URL,
                "UNSUBSCRIBE_SECRET": SECRET,
                "HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
                **overrides,
            }
        )
        (tmp_path / "heartbeat").touch()  # a worker that has just beaten
        row = email_row(to_email="Ana.Ruiz@Example.org")
        sqlite_store.stage(campaign(), [row])
        metrics = Metrics(due_now=queue_due(sqlite_store))
        server = start_http(config, sqlite_store, metrics)
        assert server is not None
        servers.append(server)
        clients.append(httpx.Client(timeout=10))
        return Face(server, sqlite_store, config, clients[-1], row["id"], metrics)

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture
def face(serve: Callable[..., Face]) -> Face:
    return serve()
