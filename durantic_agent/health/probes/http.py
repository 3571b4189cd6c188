"""HTTP(S) probes: one request on a fresh connection; the verdict is the final status line alone."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ..spec import HttpProbe
from .base import ready
from .tcp import connect

__all__ = ["BadResponse", "HttpTarget", "ServerDisconnected", "final_status", "http", "http_target", "tls_context"]

_USER_AGENT = "durantic-agent health check"
_RECV = 4096
_HEAD_MAX = 16384
"""Bytes of response head (including skipped 1xx interim responses) read before giving up on it."""
_STATUS_LINE_RE = re.compile(rb"HTTP/\d\.\d ([0-9]{3})(?:[ \t][^\r\n]*)?\r?\n")
_HEAD_END_RE = re.compile(rb"\r?\n\r?\n")
# Characters left as they are in a request target: RFC 3986 reserved and unreserved ones, and '%' so
# that an already-escaped URL is sent unchanged.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


class ServerDisconnected(Exception):
    """The server closed the connection before a complete status line."""

    def __init__(self) -> None:
        super().__init__("server disconnected")


class BadResponse(Exception):
    """The server's answer is not an HTTP/1.x response head."""


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """What one HTTP check sends, prepared once per check."""

    host: str
    """For connect and TLS server name: IDNA-encoded, IPv6 without brackets."""
    port: int
    tls: bool
    request: bytes


def http_target(spec: HttpProbe) -> HttpTarget:
    parts = urlsplit(spec.url)
    tls = parts.scheme == "https"
    host = _ascii_host(parts.hostname or "")
    port = parts.port or (443 if tls else 80)
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    authority = f"[{host}]" if ":" in host else host
    if port != (443 if tls else 80):
        authority += f":{port}"
    headers = {
        "Host": authority,
        "User-Agent": _USER_AGENT,
        "Accept": "*/*",
        # One connection per probe: the server may close right after answering.
        "Connection": "close",
    }
    if spec.method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = "0"  # some servers refuse a body-less POST without it (411)
    if parts.username is not None:
        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode("ascii")
    lower = {k.lower(): k for k in headers}
    for name, value in spec.headers.items():
        headers.pop(lower.get(name.lower(), name), None)
        headers[name] = value
    head = f"{spec.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return HttpTarget(host, port, tls, (head + "\r\n").encode("utf-8"))


def _ascii_host(host: str) -> str:
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")
    return host


def final_status(head: bytes) -> int | None:
    """The status code of the final (non-1xx) response starting at `head`; None while more is needed.

    Raises BadResponse for anything that is not an HTTP/1.x status line.
    """
    start = 0
    while True:
        eol = head.find(b"\n", start)
        if eol < 0:
            partial = head[start : start + 5]
            if not b"HTTP/".startswith(partial) or len(head) >= _HEAD_MAX:
                raise BadResponse(_bad_line(head[start:]))
            return None
        m = _STATUS_LINE_RE.match(head, start, eol + 1)
        if m is None:
            raise BadResponse(_bad_line(head[start:eol]))
        code = int(m[1])
        if not 100 <= code < 200 or code == 101:
            return code
        # An interim response (100 Continue, 103 Early Hints): the real one follows its head.
        end = _HEAD_END_RE.search(head, start)
        if end is None:
            if len(head) >= _HEAD_MAX:
                raise BadResponse("response head too large")
            return None
        start = end.end()


def _bad_line(line: bytes) -> str:
    text = line.strip()[:40].decode("latin-1")
    return f"malformed HTTP status line {text!r}" if text else "malformed HTTP status line"


async def http(spec: HttpProbe, target: HttpTarget, tls: ssl.SSLContext | None) -> tuple[bool, str, str]:
    """`target` is the check's prepared request; `tls` its TLS context when the URL is https."""
    loop = asyncio.get_running_loop()
    sock = await connect(loop, target.host, target.port)
    try:
        if tls is not None:
            status = await _tls_status(loop, sock, target, tls)
        else:
            status = await _plain_status(loop, sock, target.request)
    finally:
        sock.close()
    return any(lo <= status <= hi for lo, hi in spec.expected_status), f"HTTP {status}", ""


async def _plain_status(loop: asyncio.AbstractEventLoop, sock: socket.socket, request: bytes) -> int:
    try:
        sent = sock.send(request)  # a fresh connection's send buffer takes a request whole
    except BlockingIOError:
        sent = 0
    if sent < len(request):
        await loop.sock_sendall(sock, request[sent:])
    head = b""
    while True:
        # Wait first: the answer cannot be there yet, so a recv() would only fail with EAGAIN.
        await ready(loop, sock.fileno(), write=False)
        try:
            chunk = sock.recv(_RECV)
        except BlockingIOError:
            continue
        if not chunk:
            raise ServerDisconnected
        head += chunk
        status = final_status(head)
        if status is not None:
            return status  # the rest (headers, body) is not read: the socket is reset on close


class _StatusProtocol(asyncio.Protocol):
    """Sends the request on connect and resolves `status` as soon as the status line is in."""

    def __init__(self, request: bytes, status: asyncio.Future[int]) -> None:
        self._request = request
        self._status = status
        self._head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self._status.done():
            return
        self._head += data
        try:
            status = final_status(self._head)
        except BadResponse as e:
            self._status.set_exception(e)
            return
        if status is not None:
            self._status.set_result(status)

    def eof_received(self) -> bool:
        self._fail(ServerDisconnected())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ServerDisconnected())

    def _fail(self, exc: BaseException) -> None:
        if not self._status.done():
            self._status.set_exception(exc)


async def _tls_status(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, target: HttpTarget, tls: ssl.SSLContext
) -> int:
    status: asyncio.Future[int] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _StatusProtocol(target.request, status),
        sock=sock,
        ssl=tls,
        server_hostname=target.host,
        ssl_handshake_timeout=None,  # probe() bounds the whole probe
    )
    try:
        return await status
    finally:
        transport.abort()  # no close_notify: the socket's reset ends it, as for plain HTTP


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
