"""One probe of one check: tcp, http, grpc or exec. `probe()` never raises (except on cancellation).

TCP and HTTP probes open a fresh connection each time, as HAProxy's checks do, and close it with a reset.
Shared, long-lived state (gRPC channels, TLS contexts, prebuilt HTTP requests) lives in `ProbeContext`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import functools
import ipaddress
import itertools
import os
import re
import signal
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..aioutil import wake_future
from ..procutil import PROBE_TAG, boot_ticks, kill_tagged
from ..validation import format_duration
from .spec import ExecProbe, GrpcProbe, HealthCheck, HttpProbe, TcpProbe

__all__ = ["OUTPUT_TAIL", "ProbeContext", "ProbeResult", "probe"]

OUTPUT_TAIL = 512
"""Bytes of an exec check's combined stdout/stderr kept for display."""
_DETAIL_MAX = 200

_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connect timed out",
    errno.EADDRNOTAVAIL: "address not available",
    errno.EPIPE: "connection reset",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str
    """Short, for a table cell: 'HTTP 503', 'connection refused', 'exit 3: disk full', 'timeout after 1s'."""
    latency: float
    """Seconds from start to verdict."""
    output: str = ""
    """exec only: tail of combined stdout/stderr."""


class ProbeContext:
    """Shared state: one gRPC channel per target, one TLS context per TLS setting, and each HTTP check's
    request bytes, built once per check rather than on every probe."""

    def __init__(self) -> None:
        self._grpc: dict[str, tuple[Any, Any]] = {}
        self._tls: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        # Keyed by id(): the spec is not hashable (headers is a dict). The entry keeps the spec alive, so
        # its id cannot be reused while cached; `is` guards against a stale entry all the same.
        self._http: dict[int, tuple[HttpProbe, HttpTarget]] = {}

    def http_target(self, spec: HttpProbe) -> HttpTarget:
        hit = self._http.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        if len(self._http) >= _HTTP_TARGETS_MAX:
            self._http.clear()  # checks were replaced many times over; live ones rebuild in microseconds
        target = http_target(spec)
        self._http[id(spec)] = (spec, target)
        return target

    def tls_context(self, spec: HttpProbe) -> ssl.SSLContext:
        key = (spec.tls_verify, spec.ca_file)
        ctx = self._tls.get(key)
        if ctx is None:
            try:
                ctx = self._tls[key] = _tls_context(spec.tls_verify, spec.ca_file)
            except OSError as e:  # ssl.SSLError too
                # a CA file removed or broken since `apply` fails this check alone, saying so
                why = getattr(e, "reason", None) or e.strerror or str(e)
                raise CheckSetupError(f"ca_file {spec.ca_file!r}: {why}") from None
        return ctx

    def grpc_stub(self, target: str) -> Any:
        cached = self._grpc.get(target)
        if cached is None:
            channel = grpc.aio.insecure_channel(
                target,
                # Default reconnect backoff grows to 120 s: a recovered server would stay "down" for minutes.
                options=[
                    ("grpc.initial_reconnect_backoff_ms", 200),
                    ("grpc.min_reconnect_backoff_ms", 200),
                    ("grpc.max_reconnect_backoff_ms", 1000),
                    ("grpc.enable_retries", 0),
                ],
            )
            cached = self._grpc[target] = (channel, health_pb2_grpc.HealthStub(channel))
        return cached[1]

    async def aclose(self) -> None:
        self._http.clear()
        for channel, _stub in self._grpc.values():
            await channel.close()
        self._grpc.clear()


async def probe(spec: HealthCheck, ctx: ProbeContext) -> ProbeResult:
    """Run the check once within `spec.timeout`. Never raises except asyncio.CancelledError."""
    start = time.monotonic()
    pending: socket.socket | None = None
    if spec.tcp is not None and (family := _literal_family(spec.tcp.host)) is not None:
        # A TCP check of a local server is decided within connect() itself: no timer, no loop pass.
        try:
            pending, connected = _begin_connect(family, (spec.tcp.host, spec.tcp.port))
        except OSError as exc:
            return ProbeResult(False, _clip(describe_error(exc)), time.monotonic() - start)
        if connected:
            pending.close()
            return ProbeResult(True, "connected", time.monotonic() - start)
    try:
        if spec.exec is not None:
            # bounds the check's run itself; cleaning up after it is not the check's time
            ok, detail, output = await _exec(spec.exec, spec.timeout)
        else:
            async with asyncio.timeout(spec.timeout):
                if pending is not None:
                    ok, detail, output = await _tcp_finish(pending)
                else:
                    ok, detail, output = await _dispatch(spec, ctx)
    except TimeoutError:
        ok, detail, output = False, f"timeout after {format_duration(spec.timeout)}", ""
        if spec.exec is not None:
            detail += " (process group killed)"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a probe's failure is a check result, never an agent crash
        ok, detail, output = False, describe_error(exc), ""
    return ProbeResult(ok, _clip(detail), time.monotonic() - start, output)


async def _dispatch(spec: HealthCheck, ctx: ProbeContext) -> tuple[bool, str, str]:
    if spec.tcp is not None:
        return await _tcp(spec.tcp)
    if spec.http is not None:
        return await _http(spec.http, ctx)
    assert spec.grpc is not None
    return await _grpc(spec.grpc, spec.timeout, ctx)


_NO_LINGER = struct.pack("ii", 1, 0)
_HTTP_TARGETS_MAX = 8192
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


class CheckSetupError(Exception):
    """A check cannot even be tried (its CA file is gone); the message is the check's detail."""


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


@functools.lru_cache(maxsize=4096)
def _literal_family(host: str) -> socket.AddressFamily | None:
    """The family of an address literal; None for a name, which is resolved on every probe."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


async def _connect(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    # A bare non-blocking socket: no transport/stream objects, which matters at 1,000 probes a second.
    family = _literal_family(host)
    addrs: list[tuple[socket.AddressFamily, tuple[Any, ...]]]
    if family is not None:
        addrs = [(family, (host, port))]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addrs = [(family, addr) for family, _t, _p, _c, addr in infos]
    last: OSError | None = None
    for family, addr in addrs:
        try:
            sock, connected = _begin_connect(family, addr)
        except OSError as e:
            last = e
            continue
        if connected:
            return sock
        try:
            await _finish_connect(loop, sock)
        except OSError as e:
            sock.close()
            last = e
        except BaseException:
            sock.close()
            raise
        else:
            return sock
    assert last is not None
    raise last


def _begin_connect(family: socket.AddressFamily, addr: tuple[Any, ...]) -> tuple[socket.socket, bool]:
    """A socket connecting to `addr`, and whether it is connected already. Raises OSError (refused...)."""
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        # Close with a reset, as HAProxy's checks do: no FIN exchange and no TIME_WAIT socket per
        # probe (1,000 checks a second would keep ~60k of them around).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        err = sock.connect_ex(addr)
        if err == errno.EINPROGRESS:
            # To a local server the handshake has completed (or been refused) within connect() itself:
            # asking costs one syscall; waiting for the loop to report it costs a loop pass, two
            # epoll_ctl calls and a wake-up.
            if _connected(sock):
                return sock, True
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                return sock, False
        if err:
            raise OSError(err, os.strerror(err))
    except BaseException:
        sock.close()
        raise
    return sock, True


async def _finish_connect(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    await _ready(loop, sock.fileno(), write=True)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Until `fd` is writable (or readable); the caller then finds out what happened."""
    fut: asyncio.Future[None] = loop.create_future()
    if write:
        loop.add_writer(fd, wake_future, fut)
    else:
        loop.add_reader(fd, wake_future, fut)
    try:
        await fut
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _tcp(spec: TcpProbe) -> tuple[bool, str, str]:
    sock = await _connect(asyncio.get_running_loop(), spec.host, spec.port)
    sock.close()
    return True, "connected", ""


async def _tcp_finish(sock: socket.socket) -> tuple[bool, str, str]:
    try:
        await _finish_connect(asyncio.get_running_loop(), sock)
    finally:
        sock.close()
    return True, "connected", ""


async def _http(spec: HttpProbe, ctx: ProbeContext) -> tuple[bool, str, str]:
    target = ctx.http_target(spec)
    tls = ctx.tls_context(spec) if target.tls else None  # a broken CA file is the check's first problem
    loop = asyncio.get_running_loop()
    sock = await _connect(loop, target.host, target.port)
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
        await _ready(loop, sock.fileno(), write=False)
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


def _tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _grpc(spec: GrpcProbe, deadline_s: float, ctx: ProbeContext) -> tuple[bool, str, str]:
    stub = ctx.grpc_stub(spec.target)
    try:
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=spec.service), timeout=deadline_s)
    except grpc.aio.AioRpcError as e:
        text = _grpc_error_text(e.details() or "")
        return False, f"gRPC {e.code().name}" + (f": {text}" if text else ""), ""
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    return resp.status == health_pb2.HealthCheckResponse.SERVING, name, ""


def _grpc_error_text(details: str) -> str:
    low = details.lower()
    if "connection refused" in low:
        return "connection refused"
    if "deadline" in low:
        return "deadline exceeded"
    return details


_probe_ids = itertools.count(1)
_OUTPUT_GRACE = 0.05
"""Seconds the output pipe may stay open after the check exited and its processes were killed."""


async def _exec(spec: ExecProbe, timeout: float) -> tuple[bool, str, str]:
    """Runs the check in its own session, tagged in its environment; whatever it started, including
    children that daemonized out of its session (`setsid cmd &`), is killed once it exits. Its exit code
    alone decides: output is read from a pipe the agent owns, so a child holding it open never delays
    the verdict."""
    tag = f"{os.getpid()}.{next(_probe_ids)}"
    env = {**os.environ, **spec.env, PROBE_TAG: tag}
    since = boot_ticks() - 1
    rfd, wfd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=wfd,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            # Own process group, so a timeout can kill the check *and* whatever it started.
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
        os.close(rfd)
        why = "is not executable" if isinstance(e, PermissionError) else "does not exist"
        return False, f"program {spec.command[0]!r} {why}", ""
    except BaseException:
        os.close(rfd)
        raise
    finally:
        os.close(wfd)
    tail = bytearray()
    reader = asyncio.create_task(_read_tail(rfd, tail, OUTPUT_TAIL))
    try:
        async with asyncio.timeout(timeout):
            code = await proc.wait()
        _kill_group(proc.pid)
        await asyncio.to_thread(kill_tagged, tag, since)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_OUTPUT_GRACE):
                await asyncio.shield(reader)
    except BaseException:
        _kill_group(proc.pid)
        kill_tagged(tag, since)
        # Reap even when cancelled, so no zombie is left; SIGKILL makes this quick.
        with contextlib.suppress(ProcessLookupError):
            await asyncio.shield(proc.wait())
        raise
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        os.close(rfd)
    output = bytes(tail).decode("utf-8", "replace")
    last = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "")
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        detail = f"killed by {sig}"
    else:
        detail = f"exit {code}"
    if last and code != 0:
        detail += f": {last}"
    return code == 0, detail, output


async def _read_tail(fd: int, tail: bytearray, keep: int) -> None:
    """Keeps the last `keep` bytes read from `fd` in `tail` until end of file (or cancellation)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            await _ready(loop, fd, write=False)
            continue
        if not chunk:
            return
        tail += chunk
        del tail[:-keep]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def describe_error(exc: BaseException) -> str:
    """A short, operator-readable reason for a failed connect/request."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror):
            return f"name resolution failed: {cur.strerror or cur}"
        if isinstance(cur, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cur.verify_message or cur.reason}"
        if isinstance(cur, ssl.SSLError):
            return f"TLS error: {cur.reason or cur}"
        if isinstance(cur, OSError) and cur.errno in _ERRNO_TEXT:
            return _ERRNO_TEXT[cur.errno]
        if isinstance(cur, OSError) and "multiple exceptions" in str(cur).lower():
            # asyncio.open_connection to a name with several addresses joins the errors.
            low = str(cur).lower()
            if "connection refused" in low:
                return "connection refused"
        cur = cur.__cause__ or cur.__context__
    text = str(exc) or type(exc).__name__
    return text


def _clip(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _DETAIL_MAX else s[: _DETAIL_MAX - 1] + "…"
