"""The CLI's HTTP client for the agent's unix socket.

A minimal HTTP/1.1 client (one request per connection, Connection: close) over AF_UNIX, kept because
`bench cli-client` shows a CLI call clearly cheaper with it than with http.client or httpx, whose imports
dominate a fresh process's start. The agent is aiohttp: bodies come with a Content-Length, chunked
(streamed listings), or until close.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlencode

__all__ = ["DEFAULT_SOCKET", "AgentUnreachable", "ApiClient", "ApiError", "default_socket"]

_CHUNK = 256 * 1024
_MAX_LINE = 65536


class ApiError(Exception):
    """An error answer; `messages` holds every line of it (a rejected file names each of its errors)."""

    def __init__(self, status: int, message: str, messages: list[str] | None = None) -> None:
        self.status = status
        self.messages = messages or [message]
        super().__init__(message)


class AgentUnreachable(Exception):
    pass


class _BadResponse(Exception):
    pass


DEFAULT_SOCKET = "/run/durantic/agent.sock"


def default_socket(opt: str | None) -> str:
    return opt or os.environ.get("DURANTIC_SOCKET") or DEFAULT_SOCKET


def _request_bytes(method: str, path: str, payload: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: agent", "Connection: close", "Accept: application/json"]
    if payload is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    elif method in ("POST", "PUT"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (payload or b"")


class _Response:
    """Status, headers and the body of one response, read from the connection's buffered reader."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._f = sock.makefile("rb")
        status_line = self._line()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise _BadResponse(f"bad status line {status_line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while line := self._line():
            name, sep, value = line.partition(b":")
            if not sep:
                raise _BadResponse(f"bad header line {line[:80]!r}")
            self.headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")

    def _line(self) -> bytes:
        line = self._f.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _BadResponse("header line too long")
        if not line.endswith(b"\n"):
            raise _BadResponse("connection closed in the middle of a response")
        return line.rstrip(b"\r\n")

    def _exact(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise _BadResponse("connection closed in the middle of a response")
        return data

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives, in pieces of at most _CHUNK bytes."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                size = int(self._line().split(b";", 1)[0].strip() or b"x", 16)
                if size == 0:
                    while self._line():  # trailers, up to the empty line
                        pass
                    return
                while size:
                    piece = self._exact(min(size, _CHUNK))
                    size -= len(piece)
                    yield piece
                self._line()
        elif (length := self.headers.get("content-length")) is not None:
            left = int(length)
            while left:
                piece = self._exact(min(left, _CHUNK))
                left -= len(piece)
                yield piece
        else:
            while piece := self._f.read1(_CHUNK):
                yield piece

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        self._f.close()
        self._sock.close()


def _error_message(status: int, body: bytes) -> ApiError:
    try:
        data = json.loads(body)
    except ValueError:
        data = {"error": body.decode(errors="replace").strip()}
    msg = data.get("error") if isinstance(data, dict) else str(data)
    lines = data.get("errors") if isinstance(data, dict) else None
    if not (isinstance(lines, list) and lines and all(isinstance(x, str) for x in lines)):
        lines = None
    return ApiError(status, str(msg), lines)


class ApiClient:
    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _unreachable(self, e: BaseException) -> AgentUnreachable:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        return AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {why}")

    def _send(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None, raw: bytes | None = None
    ) -> _Response:
        if params:
            path = f"{path}?{urlencode(params)}"
        payload = raw
        if payload is None and body is not None:
            payload = json.dumps(body).encode()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.socket_path)
            s.sendall(_request_bytes(method, path, payload))
            return _Response(s)
        except (OSError, ValueError, _BadResponse) as e:
            s.close()
            raise self._unreachable(e) from None

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Any:
        r = self._send(method, path, body, params, raw)
        try:
            data = r.read()
        except (OSError, ValueError, _BadResponse) as e:
            raise self._unreachable(e) from None
        finally:
            r.close()
        if r.status >= 400:
            raise _error_message(r.status, data)
        try:
            return json.loads(data)
        except ValueError:
            return {"error": data.decode(errors="replace").strip()}

    def copy_to(self, path: str, out: BinaryIO, params: dict[str, str] | None = None) -> None:
        """GET `path` and copy the body to `out` as it arrives: a 100k-route listing is neither parsed
        nor held in memory."""
        r = self._send("GET", path, params=params)
        try:
            if r.status >= 400:
                try:
                    data = r.read()
                except (OSError, ValueError, _BadResponse) as e:
                    raise self._unreachable(e) from None
                raise _error_message(r.status, data)
            pieces = r.chunks()
            while True:
                try:
                    chunk = next(pieces, b"")
                except (OSError, ValueError, _BadResponse) as e:
                    raise self._unreachable(e) from None
                if not chunk:
                    return
                out.write(chunk)  # a closed stdout (`| head`) raises here, not as an agent error
        finally:
            r.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
        """POST `body` as JSON, or `raw` (bytes already holding a JSON document) as they are."""
        return self.request("POST", path, body, params, raw)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
