"""A loopback TCP proxy in front of one server, for outages a test switches on and off.

It copies bytes both ways between a client (a worker process) and a real server
(the shared Postgres, a loopback HTTP fake), so the server keeps running for
everyone else while this client sees it fail:

- `refuse()`: stop listening and cut every connection. New connections are
  refused (ECONNREFUSED), exactly what a client meets when the server is stopped;
- `cut()`: close every open connection and go on listening: a dropped network,
  a restarted server;
- `restore()`: listen again, on the same port;
- `hold(pattern, direction)`: the first chunk travelling in `direction` whose
  bytes match `pattern` (after `skip` earlier matches) is kept back, with
  everything after it on that connection. The sender is left waiting in the
  middle of an exchange, a place a test can then act on (kill the client,
  stop the server); `Hold.reached` tells it when, and `Hold.find` reads what
  was kept (which row a request was about). Held bytes reach the peer on
  `release`, and are lost on `cut`.

Patterns are searched across chunk boundaries (within `TAIL_BYTES`), so that
the test does not depend on how the kernel split a write.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass, field

UP = "up"  # client to server
DOWN = "down"  # server to client
TAIL_BYTES = 512
CHUNK_BYTES = 65536


@dataclass(eq=False)
class Hold:
    """One place to stop the traffic; fires once."""

    pattern: re.Pattern[bytes]
    direction: str
    skip: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    also: threading.Event | None = None  # set too when reached, so one wait covers many things
    link: _Link | None = None
    seen: int = 0
    _kept: bytearray = field(default_factory=bytearray)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def find(self, pattern: bytes, timeout: float = 10.0) -> re.Match[bytes]:
        """`pattern` in what the hold has kept back, waiting for the bytes that follow the
        one that matched (the rest of a request, say) if need be."""
        compiled = re.compile(pattern, re.DOTALL)
        with self._changed:
            if not self._changed.wait_for(lambda: compiled.search(self._kept), timeout):
                raise AssertionError(f"{pattern!r} not in the {len(self._kept)} bytes held")
            found = compiled.search(self._kept)
        assert found is not None
        return found

    def offer(self, direction: str, window: bytes, fresh_from: int) -> bool:
        """Whether this chunk is the one to hold; `window` is the tail of what went
        before followed by the chunk, which starts at `fresh_from`."""
        if self.link is not None or direction != self.direction:
            return False  # taken already, by this connection or another
        if not any(m.end() > fresh_from for m in self.pattern.finditer(window)):
            return False
        self.seen += 1
        return self.seen > self.skip

    def keep(self, data: bytes) -> None:
        with self._changed:
            self._kept.extend(data)
            self._changed.notify_all()

    def take(self) -> bytes:
        with self._changed:
            kept, self._kept = bytes(self._kept), bytearray()
        return kept

    def fire(self) -> None:
        self.reached.set()
        if self.also is not None:
            self.also.set()


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.sources = {UP: client, DOWN: server}
        self.ends = {UP: server, DOWN: client}  # where bytes going each way are written
        self.held: dict[str, Hold | None] = {UP: None, DOWN: None}
        # One lock per direction: a write blocked one way must not stop the other way.
        self.locks = {UP: threading.Lock(), DOWN: threading.Lock()}
        self._closing = threading.Lock()
        self.closed = False

    def start(self) -> None:
        for direction in (UP, DOWN):
            threading.Thread(target=self._pump, args=(direction,), daemon=True).start()

    def _pump(self, direction: str) -> None:
        tail = b""
        try:
            while data := self.sources[direction].recv(CHUNK_BYTES):
                window = tail + data
                tail = window[-TAIL_BYTES:]
                fresh_from = len(window) - len(data)
                with self.locks[direction]:
                    held = self.held[direction]
                    if held is None:
                        held = self.proxy._hold_for(self, direction, window, fresh_from)
                        self.held[direction] = held
                    if held is not None:
                        held.keep(data)
                        continue
                    self.ends[direction].sendall(data)
        except OSError:
            pass  # either side went away: the connection is over
        finally:
            self.close()

    def release(self, direction: str) -> None:
        with self.locks[direction]:
            held, self.held[direction] = self.held[direction], None
            if held is not None:
                with contextlib.suppress(OSError):  # cut meanwhile: the bytes are lost
                    self.ends[direction].sendall(held.take())

    def close(self) -> None:
        with self._closing:
            if self.closed:
                return
            self.closed = True
        for end in self.ends.values():
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)  # wakes the other pump out of recv
            end.close()
        self.proxy._forget(self)


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._holds: list[Hold] = []
        self._listener: socket.socket | None = None
        self.port = 0  # chosen by the first listen, kept by `restore`
        self._listen()

    def url(self, server_url: str) -> str:
        """`server_url` (an http:// URL of the upstream) as reached through this proxy."""
        host, port = self.upstream
        return server_url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    # -- what a test does -----------------------------------------------------

    def refuse(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes accept() with an error
            listener.close()
        self.cut()

    def cut(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def restore(self) -> None:
        with self._lock:
            listening = self._listener is not None
        if not listening:
            self._listen()

    def hold(
        self,
        pattern: bytes | re.Pattern[bytes],
        direction: str = UP,
        skip: int = 0,
        also: threading.Event | None = None,
    ) -> Hold:
        compiled = re.compile(pattern, re.DOTALL) if isinstance(pattern, bytes) else pattern
        hold = Hold(compiled, direction, skip, also=also)
        with self._lock:
            self._holds.append(hold)
        return hold

    def release(self, hold: Hold) -> None:
        """Let what `hold` kept back go on, and the traffic after it."""
        with self._lock:
            self._holds.remove(hold)
        if hold.link is not None:
            hold.link.release(hold.direction)

    def clear_holds(self) -> None:
        """Forget every hold; what they kept stays kept until its connection is cut."""
        with self._lock:
            self._holds.clear()

    def close(self) -> None:
        self.clear_holds()
        self.refuse()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the machinery -------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # refused: this listener is closed
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()  # the server itself is down: so is the proxy
                continue
            for end in (client, server):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._listener is not listener:  # refused while connecting
                    client.close()
                    server.close()
                    return
                link = _Link(self, client, server)
                self._links.add(link)
            link.start()

    def _hold_for(self, link: _Link, direction: str, window: bytes, fresh_from: int) -> Hold | None:
        with self._lock:
            hold = next((h for h in self._holds if h.offer(direction, window, fresh_from)), None)
            if hold is not None:
                hold.link = link
        if hold is not None:
            hold.fire()
        return hold

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
