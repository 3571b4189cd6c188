"""The lean HTTP/1.x probe client: request bytes, status-line parsing, and misbehaving real servers."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from durantic_agent.health.probes import BadResponse, ProbeContext, final_status, http_target, probe
from durantic_agent.health.spec import HealthCheck, HttpProbe

from .test_probes import hc

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# --- request bytes (pure) ----------------------------------------------------------------------------


def req(**kw: object) -> str:
    return http_target(HttpProbe.model_validate(kw)).request.decode()


def test_request_is_prebuilt_with_host_and_connection_close() -> None:
    t = http_target(HttpProbe.model_validate({"url": "http://127.0.0.1:8080/healthz?full=1"}))
    assert (t.host, t.port, t.tls) == ("127.0.0.1", 8080, False)
    lines = t.request.decode().split("\r\n")
    assert lines[0] == "GET /healthz?full=1 HTTP/1.1"
    assert "Host: 127.0.0.1:8080" in lines and "Connection: close" in lines
    assert t.request.endswith(b"\r\n\r\n")


def test_request_default_ports_ipv6_and_empty_path() -> None:
    t = http_target(HttpProbe.model_validate({"url": "https://[::1]"}))
    assert (t.host, t.port, t.tls) == ("::1", 443, True)
    assert t.request.startswith(b"GET / HTTP/1.1\r\nHost: [::1]\r\n")
    assert "Host: example.com\r\n" in req(url="http://example.com:80/x")


def test_request_escapes_path_but_keeps_existing_escapes() -> None:
    assert req(url="http://h/a b/%41?q=x y").startswith("GET /a%20b/%41?q=x%20y HTTP/1.1\r\n")


def test_request_headers_method_and_userinfo() -> None:
    r = req(url="http://u%40x:p@h/", method="POST", headers={"host": "vhost", "X-Check": "yes"})
    assert r.startswith("POST / HTTP/1.1\r\n")
    assert "\r\nhost: vhost\r\n" in r and "Host: h" not in r  # the spec's header replaces ours, any case
    assert "\r\nX-Check: yes\r\n" in r and "\r\nContent-Length: 0\r\n" in r
    assert f"\r\nAuthorization: Basic {base64.b64encode(b'u@x:p').decode()}\r\n" in r
    assert "Content-Length" not in req(url="http://h/", method="HEAD")


# --- status line (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"HTTP/1.1 200 OK\r\n", 200),
        (b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 503),
        (b"HTTP/1.1 204\r\n", 204),  # no reason phrase
        (b"HTTP/1.1 404 \n", 404),  # bare LF
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n", 201),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 302 Found\r\n", 302),
        (b"HTTP/1.1 101 Switching Protocols\r\n", 101),
        # not enough yet
        (b"", None),
        (b"HTT", None),
        (b"HTTP/1.1 200 O", None),
        (b"HTTP/1.1 100 Continue\r\n", None),
        (b"HTTP/1.1 100 Continue\r\n\r\n", None),
    ],
)
def test_final_status(head: bytes, status: int | None) -> None:
    assert final_status(head) == status


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "malformed HTTP status line 'SSH-2.0-OpenSSH_9.2'"),
        (b"<html>", "malformed HTTP status line '<html>'"),  # told at once, without waiting for a line end
        (b"HTTP/1.1 2000 OK\r\n", "malformed HTTP status line 'HTTP/1.1 2000 OK'"),
        (b"HTTP/1.1 OK\r\n", "malformed HTTP status line 'HTTP/1.1 OK'"),
        (b"HTTP/1.1 " + b"9" * 20000, "malformed HTTP status line"),
        (b"HTTP/1.1 100 Continue\r\n" + b"X: y\r\n" * 4000, "response head too large"),
    ],
)
def test_final_status_rejects(head: bytes, why: str) -> None:
    with pytest.raises(BadResponse) as e:
        final_status(head)
    assert str(e.value).startswith(why)


# --- misbehaving real servers ------------------------------------------------------------------------


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def start(handler: Handler) -> int:
        async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            held.append(w)  # closed at teardown, not when the handler returns
            await handler(r, w)

        server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    try:
        yield start
    finally:
        for w in held:
            w.transport.abort()
        for s in servers:
            s.close()
            await s.wait_closed()


async def _silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await r.readuntil(b"\r\n\r\n")  # reads the request, never answers


async def _hang_up(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await r.readuntil(b"\r\n\r\n")
    w.close()


def _answer(data: bytes) -> Handler:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(data)
        await w.drain()  # and keep the connection open: the probe must not wait for more

    return h


async def test_server_that_never_answers_times_out(
    raw_server: Callable[[Handler], Awaitable[int]], ctx: ProbeContext
) -> None:
    port = await raw_server(_silent)
    r = await probe(hc(timeout="300ms", http={"url": f"http://127.0.0.1:{port}/"}), ctx)
    assert (r.ok, r.detail) == (False, "timeout after 300ms")
    assert 0.3 <= r.latency < 1.0


async def test_server_that_closes_without_answering(
    raw_server: Callable[[Handler], Awaitable[int]], ctx: ProbeContext
) -> None:
    port = await raw_server(_hang_up)
    r = await probe(hc(http={"url": f"http://127.0.0.1:{port}/"}), ctx)
    assert (r.ok, r.detail) == (False, "server disconnected")


async def test_malformed_status_line_fails(raw_server: Callable[[Handler], Awaitable[int]], ctx: ProbeContext) -> None:
    port = await raw_server(_answer(b"SSH-2.0-OpenSSH_9.2\r\n"))
    r = await probe(hc(http={"url": f"http://127.0.0.1:{port}/"}), ctx)
    assert (r.ok, r.detail) == (False, "malformed HTTP status line 'SSH-2.0-OpenSSH_9.2'")


async def test_status_line_is_enough(raw_server: Callable[[Handler], Awaitable[int]], ctx: ProbeContext) -> None:
    # The head never ends and the connection stays open: the verdict is in the status line.
    port = await raw_server(_answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 1\r\n"))
    r = await probe(hc(http={"url": f"http://127.0.0.1:{port}/", "expected_status": "200-299"}), ctx)
    assert (r.ok, r.detail) == (False, "HTTP 503")
    r = await probe(hc(http={"url": f"http://127.0.0.1:{port}/", "expected_status": "503"}), ctx)
    assert (r.ok, r.detail) == (True, "HTTP 503")


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listener's accept queue is full, so a SYN is dropped and a connect never completes."""
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    port: int = lsn.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        lsn.close()


@pytest.mark.parametrize("kind", ["tcp", "http"])
async def test_connect_that_does_not_complete_times_out(full_backlog: int, ctx: ProbeContext, kind: str) -> None:
    spec = (
        hc(timeout="300ms", tcp={"host": "127.0.0.1", "port": full_backlog})
        if kind == "tcp"
        else hc(timeout="300ms", http={"url": f"http://127.0.0.1:{full_backlog}/"})
    )
    r = await probe(spec, ctx)
    assert (r.ok, r.detail) == (False, "timeout after 300ms")
    assert 0.3 <= r.latency < 1.0


async def test_tcp_by_name_and_refused_by_name(tcp_server: asyncio.Server, closed_port: int, ctx: ProbeContext) -> None:
    # A name takes the resolving path (every address tried), not the at-once path of a literal.
    port = tcp_server.sockets[0].getsockname()[1]
    r = await probe(hc(tcp={"host": "localhost", "port": port}), ctx)
    assert (r.ok, r.detail) == (True, "connected")
    r = await probe(hc(tcp={"host": "localhost", "port": closed_port}), ctx)
    assert (r.ok, r.detail) == (False, "connection refused")


async def test_http_targets_are_cached_per_spec_object(ctx: ProbeContext) -> None:
    a = HealthCheck.model_validate({"http": {"url": "http://127.0.0.1:1/"}})
    b = HealthCheck.model_validate({"http": {"url": "http://127.0.0.1:1/"}})
    assert a.http is not None and b.http is not None
    assert ctx.http_target(a.http) is ctx.http_target(a.http)
    assert ctx.http_target(b.http) is not ctx.http_target(a.http)
    assert ctx.http_target(b.http) == ctx.http_target(a.http)
