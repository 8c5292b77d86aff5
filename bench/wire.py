"""A loopback relay in front of Postgres that counts the statements passing through.

Round trips are counted where they happen, on the wire, so that nothing in the
worker has to be instrumented and a worker in another process is counted the
same way. The relay reads the client's half of the PostgreSQL protocol (v3):
an untyped startup message, then typed messages of a type byte and a length.
Each simple `Query` ('Q') and each extended-protocol `Execute` ('E') is one
statement; the text of an Execute is that of the `Parse` ('P') before it. The
server's half is copied untouched. The client must not ask for TLS or GSS
encryption (`sslmode=disable`, `gssencmode=disable`: see `dsn`), or the relay
would see only ciphertext.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

# Untyped requests a client may send before its startup message (protocol codes).
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
FUNCTION = re.compile(r"\b(cr_\w+)\s*\(")


@dataclass(frozen=True)
class Statement:
    at: float  # time.time() when the relay read it: comparable with other processes' clocks
    text: str

    @property
    def name(self) -> str:
        """The campaign-runner function it calls, else its first word."""
        found = FUNCTION.search(self.text)
        return found.group(1) if found else (self.text.split() or ["?"])[0].lower()


class StatementRelay:
    """Listens on 127.0.0.1 (a free port); each connection is relayed to `upstream`."""

    def __init__(self, upstream_dsn: str) -> None:
        parts = urlsplit(upstream_dsn)
        self._upstream_dsn = upstream_dsn
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._statements: list[Statement] = []
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def dsn(self) -> str:
        """The upstream DSN, pointed at the relay, with encryption off."""
        parts = urlsplit(self._upstream_dsn)
        netloc = parts.netloc.rpartition("@")[0]
        host, port = self._listener.getsockname()[:2]
        query = "&".join(filter(None, [parts.query, "sslmode=disable", "gssencmode=disable"]))
        where = f"{netloc}@{host}:{port}" if netloc else f"{host}:{port}"
        return urlunsplit((parts.scheme, where, parts.path, query, ""))

    def statements(self, since: float = 0.0) -> list[Statement]:
        with self._lock:
            return [s for s in self._statements if s.at >= since]

    def counts(self, since: float = 0.0) -> Counter[str]:
        return Counter(s.name for s in self.statements(since))

    def reset(self) -> None:
        with self._lock:
            self._statements.clear()

    def start(self) -> StatementRelay:
        self._thread.start()
        return self

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> StatementRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- relaying -----------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self._upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.update((client, server))
            threading.Thread(target=self._copy, args=(server, client), daemon=True).start()
            threading.Thread(target=self._read_client, args=(client, server), daemon=True).start()

    def _copy(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        self._hang_up(source, target)

    def _read_client(self, client: socket.socket, server: socket.socket) -> None:
        parsed = b""  # an Execute of a statement prepared earlier has no Parse of its own
        with contextlib.suppress(OSError, ConnectionError):
            for kind, body in _messages(client, server):
                if kind == b"Q":
                    self._record(body.split(b"\0", 1)[0])
                elif kind == b"P":
                    parsed = body.split(b"\0", 2)[1]  # statement name, then the query
                elif kind == b"E":
                    self._record(parsed)
        self._hang_up(client, server)

    def _record(self, text: bytes) -> None:
        statement = Statement(time.time(), " ".join(text.decode("utf-8", "replace").split()))
        with self._lock:
            self._statements.append(statement)

    def _hang_up(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets.discard(sock)


def _messages(client: socket.socket, server: socket.socket) -> Iterator[tuple[bytes, bytes]]:
    """The client's typed messages, each forwarded to `server` before it is yielded."""
    while True:  # untyped: the startup message, perhaps after encryption requests
        head = _exactly(client, 8)
        length, code = struct.unpack("!ii", head)
        server.sendall(head + _exactly(client, length - 8))
        if code == CANCEL_REQUEST:
            return
        if code not in (SSL_REQUEST, GSSENC_REQUEST):
            break
    while True:
        head = _exactly(client, 5)
        (length,) = struct.unpack("!i", head[1:])
        body = _exactly(client, length - 4)
        server.sendall(head + body)
        yield head[:1], body


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed")
        chunks += chunk
    return bytes(chunks)
