"""The CLI's HTTP client against a canned server on a unix socket: the request it sends, and the three
ways a body can arrive (Content-Length, chunked, until close), errors and an unreachable agent."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from durantic_agent.cli.client import AgentUnreachable, ApiClient, ApiError


class _Server:
    def __init__(self, path: Path, response: bytes) -> None:
        self.response = response
        self.request = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.request = head + b"\r\n\r\n" + body
            for i in range(0, len(self.response), 7):  # in small pieces, as a slow socket would
                conn.sendall(self.response[i : i + 7])

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "agent.sock"


def _serve(path: Path, response: bytes) -> _Server:
    return _Server(path, response)


def test_post_sends_json_and_reads_a_content_length_body(sock_path: Path) -> None:
    body = json.dumps({"changed": True}).encode()
    srv = _serve(sock_path, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    try:
        assert ApiClient(str(sock_path)).post("/v1/apply", {"announcements": []}, {"prune": "1"}) == {"changed": True}
    finally:
        srv.close()
    head, _, sent = srv.request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/apply?prune=1 HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(sent) == {"announcements": []}


def test_chunked_body_is_copied_as_it_arrives(sock_path: Path) -> None:
    payload = b'[{"prefix": "10.0.0.0/24"}]' * 1000
    chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in (payload[:5000], payload[5000:]))
    srv = _serve(sock_path, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n")
    out = io.BytesIO()
    try:
        ApiClient(str(sock_path)).copy_to("/v1/rib", out)
    finally:
        srv.close()
    assert out.getvalue() == payload


def test_body_until_close(sock_path: Path) -> None:
    srv = _serve(sock_path, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2]")
    try:
        assert ApiClient(str(sock_path)).get("/v1/announcements") == [1, 2]
    finally:
        srv.close()


def test_error_status_raises_the_agents_message(sock_path: Path) -> None:
    body = b'{"error": "announcements[0].route: is not a valid prefix"}'
    srv = _serve(sock_path, b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    try:
        with pytest.raises(ApiError) as e:
            ApiClient(str(sock_path)).post("/v1/apply", {})
    finally:
        srv.close()
    assert e.value.status == 400
    assert str(e.value) == "announcements[0].route: is not a valid prefix"


def test_truncated_response_is_unreachable(sock_path: Path) -> None:
    srv = _serve(sock_path, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
    try:
        with pytest.raises(AgentUnreachable):
            ApiClient(str(sock_path)).get("/v1/status")
    finally:
        srv.close()


def test_no_agent_is_unreachable(sock_path: Path) -> None:
    with pytest.raises(AgentUnreachable, match=r"cannot reach the agent at .*agent\.sock"):
        ApiClient(str(sock_path)).get("/v1/status")
