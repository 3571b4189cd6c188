"""Real local servers on 127.0.0.1 for probe and engine tests (no root needed)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from durantic_agent.health.probes import ProbeContext


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound then released; nothing else here grabs it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
async def tcp_server() -> AsyncIterator[asyncio.Server]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


def _app() -> web.Application:
    async def code(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["n"]), text="body")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def header(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.headers.get("X-Check") == "yes" else 400)

    async def method(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.method == "HEAD" else 405)

    app = web.Application()
    app.router.add_route("*", "/code/{n}", code)
    app.router.add_get("/slow", slow)
    app.router.add_get("/header", header)
    app.router.add_route("*", "/method", method)
    return app


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(_app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port: int = runner.addresses[0][1]
    return runner, port


@pytest.fixture
async def http_base() -> AsyncIterator[str]:
    runner, port = await _serve()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class TlsServer:
    base: str
    ca_file: str


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[TlsServer]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    proc = await asyncio.create_subprocess_exec(
        *["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(cert, key)
    runner, port = await _serve(sctx)
    try:
        yield TlsServer(f"https://127.0.0.1:{port}", str(cert))
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class GrpcServer:
    target: str
    servicer: health.aio.HealthServicer


@pytest.fixture
async def grpc_server() -> AsyncIterator[GrpcServer]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set("web", health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        yield GrpcServer(f"127.0.0.1:{port}", servicer)
    finally:
        await server.stop(None)


async def eventually(pred: Callable[[], bool], limit: float = 3.0, step: float = 0.02) -> bool:
    """Poll `pred` until true or `limit` seconds passed; returns the last value."""
    for _ in range(int(limit / step)):
        if pred():
            return True
        await asyncio.sleep(step)
    return pred()
