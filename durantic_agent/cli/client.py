"""The CLI's HTTP client for the agent's unix socket.

Plain `http.client` over AF_UNIX: every CLI call is a fresh process, and importing httpx alone took
~95 ms of a ~150 ms start (measured with `python -X importtime`); the stdlib client needs ~2 ms.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any, BinaryIO
from urllib.parse import urlencode

__all__ = ["AgentUnreachable", "ApiClient", "ApiError", "default_socket"]

_CHUNK = 256 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class AgentUnreachable(Exception):
    pass


def default_socket(opt: str | None) -> str:
    return opt or os.environ.get("DURANTIC_SOCKET") or "/run/durantic/agent.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("agent", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self._socket_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def _error_message(status: int, body: bytes) -> ApiError:
    try:
        data = json.loads(body)
    except ValueError:
        data = {"error": body.decode(errors="replace").strip()}
    msg = data.get("error") if isinstance(data, dict) else str(data)
    return ApiError(status, str(msg))


class ApiClient:
    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _send(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[_UnixConnection, http.client.HTTPResponse]:
        if params:
            path = f"{path}?{urlencode(params)}"
        headers = {"Accept": "application/json"}
        payload = raw
        if payload is None and body is not None:
            payload = json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            conn.request(method, path, body=payload, headers=headers)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
            raise AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {why}") from None

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Any:
        conn, r = self._send(method, path, body, params, raw)
        try:
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            raise AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {e}") from None
        finally:
            conn.close()
        if r.status >= 400:
            raise _error_message(r.status, data)
        try:
            return json.loads(data)
        except ValueError:
            return {"error": data.decode(errors="replace").strip()}

    def copy_to(self, path: str, out: BinaryIO, params: dict[str, str] | None = None) -> None:
        """GET `path` and copy the body to `out` as it arrives: a 100k-route listing is neither parsed
        nor held in memory."""
        conn, r = self._send("GET", path, params=params)
        try:
            while True:
                try:
                    chunk = r.read() if r.status >= 400 else r.read1(_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {e}") from None
                if r.status >= 400:
                    raise _error_message(r.status, chunk)
                if not chunk:
                    return
                out.write(chunk)  # a closed stdout (`| head`) raises here, not as an agent error
        finally:
            conn.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
        """POST `body` as JSON, or `raw` (bytes already holding a JSON document) as they are."""
        return self.request("POST", path, body, params, raw)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
