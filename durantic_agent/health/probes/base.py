"""What every probe shares: its result, the short reason a failure gives, and waiting on a descriptor."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass

from ...aioutil import wake_future

__all__ = ["CheckSetupError", "ProbeResult", "clip", "describe_error", "ready"]

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


class CheckSetupError(Exception):
    """A check cannot even be tried (its CA file is gone); the message is the check's detail."""


async def ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
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


def clip(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _DETAIL_MAX else s[: _DETAIL_MAX - 1] + "…"
