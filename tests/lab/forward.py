"""A TCP forwarder from the host's loopback into a network namespace's loopback.

An agent's web listener (api.http) is bound to 127.0.0.1 inside its namespace, so a browser on the host
cannot reach it. The forwarder listens on the host and opens each upstream connection with a socket made
by a thread that has joined the namespace (setns changes only that thread; the socket keeps the namespace
for its whole life), then relays bytes both ways with asyncio. No helper process, nothing to clean up but
the listener.

    fwd = Forwarder(ns="dl123c", upstream_port=9179)
    fwd.start()             # serves on a background event loop thread
    print(fwd.url)          # http://127.0.0.1:<port>/
    fwd.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass, field

from durantic_agent.netlink._nsenter import in_netns

__all__ = ["Forwarder", "connect_in_netns"]

_CHUNK = 65536


def connect_in_netns(ns: str, host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A connected, non-blocking TCP socket that lives in namespace `ns`."""

    def connect() -> socket.socket:
        return socket.create_connection((host, port), timeout=timeout)

    sock = in_netns(ns, connect)
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # a half-close is passed on, so request/response protocols finish cleanly
    except (ConnectionError, OSError):
        writer.close()


@dataclass
class Forwarder:
    """Host 127.0.0.1:`listen_port` (0 = any free port) -> `upstream_host`:`upstream_port` inside `ns`."""

    ns: str
    upstream_port: int
    upstream_host: str = "127.0.0.1"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("forwarder not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.port}/"

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sock = await asyncio.to_thread(connect_in_netns, self.ns, self.upstream_host, self.upstream_port)
            ur, uw = await asyncio.open_connection(sock=sock)
        except OSError:
            cw.close()  # upstream not listening (yet): the client sees a closed connection, as with no listener
            return
        try:
            await asyncio.gather(_pipe(cr, uw), _pipe(ur, cw))
        finally:
            for w in (uw, cw):
                w.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await w.wait_closed()

    def _track(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        t = asyncio.get_running_loop().create_task(self._handle(cr, cw))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def serve(self) -> None:
        """Start listening on the running loop (for callers that already have one)."""
        self._server = await asyncio.start_server(self._track, self.listen_host, self.listen_port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def start(self) -> Forwarder:
        """Serve on a private event loop in a daemon thread; returns once the listener is bound."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except BaseException as e:  # reported to the caller of start()
                failed.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"forward-{self.ns}", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self

    def close(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
