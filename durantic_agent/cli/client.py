"""The CLI's HTTP client for the agent's unix socket."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import httpx

__all__ = ["AgentUnreachable", "ApiClient", "ApiError", "default_socket"]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class AgentUnreachable(Exception):
    pass


def default_socket(opt: str | None) -> str:
    return opt or os.environ.get("DURANTIC_SOCKET") or "/run/durantic/agent.sock"


class ApiClient:
    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        # imported here: `durantic agent run` shares this module's package and never needs httpx (~10 MB)
        import httpx

        self._httpx = httpx
        self.socket_path = socket_path
        self._client: httpx.Client = httpx.Client(
            transport=httpx.HTTPTransport(uds=socket_path), base_url="http://agent", timeout=timeout
        )

    def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        try:
            r = self._client.request(method, path, json=body, params=params)
        except (self._httpx.ConnectError, self._httpx.RemoteProtocolError, FileNotFoundError) as e:
            raise AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {e}") from None
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text.strip()}
        if r.status_code >= 400:
            msg = data.get("error") if isinstance(data, dict) else str(data)
            raise ApiError(r.status_code, str(msg))
        return data

    def copy_to(self, path: str, out: BinaryIO, params: dict[str, str] | None = None) -> None:
        """GET `path` and copy the body to `out` as it arrives: a 100k-route listing is neither parsed
        nor held in memory."""
        try:
            with self._client.stream("GET", path, params=params) as r:
                if r.status_code >= 400:
                    r.read()
                    try:
                        data = r.json()
                    except ValueError:
                        data = {"error": r.text.strip()}
                    msg = data.get("error") if isinstance(data, dict) else str(data)
                    raise ApiError(r.status_code, str(msg))
                for chunk in r.iter_bytes():
                    out.write(chunk)
        except (self._httpx.ConnectError, self._httpx.RemoteProtocolError, FileNotFoundError) as e:
            raise AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {e}") from None

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, body, params)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
