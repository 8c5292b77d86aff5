"""The worker's HTTP face, on `HTTP_LISTEN`: `start_http` serves `app.App` with waitress
in threads of the worker's own process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
import waitress.server

from ..config import Config, ConfigError
from ..liveness import heartbeat_age, heartbeat_limit
from ..metrics import Metrics
from ..pipeline import leave_stop_signals_to_main_thread, utc_now
from ..ports import Store
from ..unsubscribe import Tokens
from .app import App

log = structlog.get_logger("campaign_runner")

THREADS = 2  # requests are a page render and one short query: two serve many clients
STOP_SECONDS = 5.0


@dataclass
class HttpServer:
    """A running server; `stop()` closes it."""

    host: str
    port: int  # the port bound (HTTP_LISTEN may ask for 0)
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Let requests in progress finish, then close every socket, which ends the
        server's loop (it runs while any is open, keep-alive connections included)."""
        if not self._thread.is_alive():
            return
        server = self._server
        server.task_dispatcher.shutdown(timeout=STOP_SECONDS)
        for dispatcher in list(server._map.values()):
            if dispatcher not in (server, server.trigger):  # the connections
                dispatcher.handle_close()
        # The listening socket and the trigger are closed from the loop's own thread, which
        # the trigger wakes; with nothing left open the loop ends.
        server.trigger.pull_trigger(server.close)
        self._thread.join(STOP_SECONDS)


def queue_due(store: Store, clock: Callable[[], datetime] = utc_now) -> Callable[[], int]:
    """For `Metrics(due_now=...)`: rows due now, over every campaign."""
    return lambda: sum(campaign.due_now for campaign in store.status(clock()))


def health_of(config: Config) -> Callable[[], tuple[bool, str]]:
    """The heartbeat's freshness, judged as `campaign-runner health` judges it."""
    limit = heartbeat_limit(config.poll_interval_seconds)

    def check() -> tuple[bool, str]:
        age = heartbeat_age(config.heartbeat_file)
        if age is None:
            return False, "unhealthy: no heartbeat yet"
        if age > limit:
            return False, f"unhealthy: last heartbeat {age:.0f} s ago (limit {limit:.0f} s)"
        return True, f"healthy: last heartbeat {age:.0f} s ago"

    return check


def start_http(
    config: Config,
    store: Store,
    metrics: Metrics,
    clock: Callable[[], datetime] = utc_now,
) -> HttpServer | None:
    """Serve HTTP_LISTEN until `stop()`; None when it is empty. A port that cannot be
    bound is a ConfigError now, not a silent absence later."""
    if not config.http_listen:
        return None
    host, _, port = config.http_listen.rpartition(":")
    host = host.strip("[]")
    tokens = Tokens(config.unsubscribe_secret) if config.unsubscribe_secret else None
    app = App(store, tokens, metrics, health_of(config), clock)
    started = threading.Event()
    made: dict[str, Any] = {}

    def serve() -> None:
        # The server's task threads are started from here and inherit this mask.
        leave_stop_signals_to_main_thread()
        try:
            made["server"] = waitress.server.create_server(
                app,
                host=host,
                port=int(port),
                threads=THREADS,
                ident="campaign-runner",
                max_request_header_size=16_384,
                max_request_body_size=65_536,
                channel_timeout=30,
                connection_limit=100,
                expose_tracebacks=False,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            made["error"] = exc
            started.set()
            return
        started.set()
        made["server"].run()

    thread = threading.Thread(target=serve, name="http", daemon=True)
    thread.start()
    started.wait()
    if "error" in made:
        raise ConfigError(f"HTTP_LISTEN={config.http_listen}: cannot listen: {made['error']}")
    server = made["server"]
    bound_host, bound_port = server.socket.getsockname()[:2]
    log.info("http_listening", host=bound_host, port=bound_port)
    return HttpServer(bound_host, bound_port, server, thread)
