"""Each probe kind against a real local server or a real process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from durantic_agent.health.probes import OUTPUT_TAIL, ProbeContext, probe
from durantic_agent.health.spec import HealthCheck

from .conftest import GrpcServer, TlsServer, _serve, eventually


def hc(timeout: str = "1s", **probe: Any) -> HealthCheck:
    return HealthCheck.model_validate({**probe, "interval": "10s", "timeout": timeout})


# --- tcp ------------------------------------------------------------------------------------------


async def test_tcp_listener_passes(tcp_server: asyncio.Server, ctx: ProbeContext) -> None:
    port = tcp_server.sockets[0].getsockname()[1]
    r = await probe(hc(tcp={"host": "127.0.0.1", "port": port}), ctx)
    assert (r.ok, r.detail) == (True, "connected")
    assert 0 < r.latency < 1


async def test_tcp_closed_port_is_connection_refused(closed_port: int, ctx: ProbeContext) -> None:
    r = await probe(hc(tcp={"host": "127.0.0.1", "port": closed_port}), ctx)
    assert (r.ok, r.detail) == (False, "connection refused")


# --- http -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected", "ok", "detail"),
    [
        ("/code/200", "200-399", True, "HTTP 200"),
        ("/code/503", "200-399", False, "HTTP 503"),
        ("/code/301", "200-299,301", True, "HTTP 301"),  # redirects are not followed
        ("/code/302", "200-299,301", False, "HTTP 302"),
        ("/code/503", "500-503", True, "HTTP 503"),
        ("/code/404", "200", False, "HTTP 404"),
    ],
)
async def test_http_status_ranges(
    http_base: str, ctx: ProbeContext, path: str, expected: str, ok: bool, detail: str
) -> None:
    r = await probe(hc(http={"url": http_base + path, "expected_status": expected}), ctx)
    assert (r.ok, r.detail) == (ok, detail)


async def test_http_slow_server_times_out(http_base: str, ctx: ProbeContext) -> None:
    r = await probe(hc(timeout="300ms", http={"url": http_base + "/slow"}), ctx)
    assert (r.ok, r.detail) == (False, "timeout after 300ms")
    assert 0.3 <= r.latency < 1.0


async def test_http_headers_and_method_are_sent(http_base: str, ctx: ProbeContext) -> None:
    assert not (await probe(hc(http={"url": http_base + "/header"}), ctx)).ok
    r = await probe(hc(http={"url": http_base + "/header", "headers": {"X-Check": "yes"}}), ctx)
    assert (r.ok, r.detail) == (True, "HTTP 200")
    r = await probe(hc(http={"url": http_base + "/method", "method": "HEAD"}), ctx)
    assert (r.ok, r.detail) == (True, "HTTP 200")


async def test_http_closed_port_is_connection_refused(closed_port: int, ctx: ProbeContext) -> None:
    r = await probe(hc(http={"url": f"http://127.0.0.1:{closed_port}/"}), ctx)
    assert (r.ok, r.detail) == (False, "connection refused")


async def test_https_verify_on_off_and_ca_file(https_server: TlsServer, ctx: ProbeContext) -> None:
    url = https_server.base + "/code/200"
    r = await probe(hc(http={"url": url}), ctx)
    assert not r.ok and r.detail.startswith("TLS certificate not trusted"), r.detail
    r = await probe(hc(http={"url": url, "tls_verify": False}), ctx)
    assert (r.ok, r.detail) == (True, "HTTP 200")
    r = await probe(hc(http={"url": url, "ca_file": https_server.ca_file}), ctx)
    assert (r.ok, r.detail) == (True, "HTTP 200")


# --- grpc -----------------------------------------------------------------------------------------


async def test_grpc_serving_passes(grpc_server: GrpcServer, ctx: ProbeContext) -> None:
    r = await probe(hc(grpc={"target": grpc_server.target}), ctx)
    assert (r.ok, r.detail) == (True, "SERVING")


async def test_grpc_not_serving_fails(grpc_server: GrpcServer, ctx: ProbeContext) -> None:
    r = await probe(hc(grpc={"target": grpc_server.target, "service": "web"}), ctx)
    assert (r.ok, r.detail) == (False, "NOT_SERVING")


async def test_grpc_unknown_service_fails(grpc_server: GrpcServer, ctx: ProbeContext) -> None:
    r = await probe(hc(grpc={"target": grpc_server.target, "service": "nope"}), ctx)
    assert not r.ok and r.detail.startswith("gRPC NOT_FOUND"), r.detail


async def test_grpc_closed_port_fails(closed_port: int, ctx: ProbeContext) -> None:
    r = await probe(hc(grpc={"target": f"127.0.0.1:{closed_port}"}), ctx)
    assert not r.ok and r.detail.startswith("gRPC UNAVAILABLE"), r.detail


# --- exec -----------------------------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> str:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


async def test_exec_exit_0_passes(tmp_path: Path, ctx: ProbeContext) -> None:
    cmd = script(tmp_path, "ok.sh", "echo fine\nexit 0\n")
    r = await probe(hc(exec={"command": [cmd]}), ctx)
    assert (r.ok, r.detail, r.output) == (True, "exit 0", "fine\n")


async def test_exec_exit_3_shows_last_line(tmp_path: Path, ctx: ProbeContext) -> None:
    cmd = script(tmp_path, "bad.sh", 'echo "checking $1"\necho "disk full" >&2\nexit 3\n')
    r = await probe(hc(exec={"command": [cmd, "/var"]}), ctx)
    assert (r.ok, r.detail) == (False, "exit 3: disk full")
    assert r.output == "checking /var\ndisk full\n"


async def test_exec_env_is_added(tmp_path: Path, ctx: ProbeContext) -> None:
    spec = hc(exec={"command": ["sh", "-c", 'test "$MODE" = quick && test -n "$PATH"'], "env": {"MODE": "quick"}})
    assert (await probe(spec, ctx)).ok


async def test_exec_output_tail_is_bounded(tmp_path: Path, ctx: ProbeContext) -> None:
    cmd = script(tmp_path, "loud.sh", "i=0\nwhile [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done\nexit 1\n")
    r = await probe(hc(exec={"command": [cmd]}), ctx)
    assert r.detail == "exit 1: line2999"
    assert len(r.output.encode()) <= OUTPUT_TAIL and r.output.endswith("line2999\n")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, pgrp) of a process, None when it no longer exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[2])


def _group_members(pgid: int) -> dict[int, str]:
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))) is not None and st[1] == pgid:
            out[int(d)] = st[0]
    return out


def _dead(pid: int) -> bool:
    # A grandchild orphaned by the kill is reaped by PID 1, not by us; it must at least be dead.
    st = _stat(pid)
    return st is None or st[0] == "Z"


async def _hang_script(tmp_path: Path) -> tuple[str, Path]:
    pids = tmp_path / "pids"
    cmd = script(tmp_path, "hang.sh", f'sleep 300 &\necho "$$ $!" > {pids}\necho started\nsleep 300\n')
    return cmd, pids


async def test_exec_timeout_kills_whole_process_group(tmp_path: Path, ctx: ProbeContext) -> None:
    cmd, pids = await _hang_script(tmp_path)
    # wait_for: a probe that fails to kill would otherwise hang the test run instead of failing it
    # 1s leaves the shell time to record its pids even on a loaded machine
    r = await asyncio.wait_for(probe(hc(timeout="1s", exec={"command": [cmd]}), ctx), 5)
    assert (r.ok, r.detail) == (False, "timeout after 1s (process group killed)")
    assert 1.0 <= r.latency < 3
    leader, child = map(int, pids.read_text().split())
    # our own child is reaped (no zombie left behind): gone from /proc and not waitable
    assert _stat(leader) is None
    with pytest.raises(ChildProcessError):
        os.waitpid(leader, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: does not block)
    # the check's own child (same process group) is dead too
    assert await eventually(lambda: _dead(child)), _stat(child)
    assert all(state == "Z" for state in _group_members(leader).values())


async def test_cancelled_exec_probe_kills_and_reaps(tmp_path: Path, ctx: ProbeContext) -> None:
    cmd, pids = await _hang_script(tmp_path)
    task = asyncio.create_task(probe(hc(timeout="5s", exec={"command": [cmd]}), ctx))
    assert await eventually(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    leader, child = map(int, pids.read_text().split())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert _stat(leader) is None
    assert await eventually(lambda: _dead(child)), _stat(child)


def _alive_with_args(args: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{d}/cmdline").read_bytes() if d.isdigit() else b""
        except OSError:
            continue
        if cmdline.rstrip(b"\0").split(b"\0") == args.encode().split() and (st := _stat(int(d))) and st[0] != "Z":
            out.append(int(d))
    return out


async def test_exec_probe_cancelled_while_starting_leaves_no_daemonized_child(ctx: ProbeContext) -> None:
    """A check removed just as its probe starts (cancelled inside the spawn, or right after it) must not
    leave behind what the check daemonized out of its session."""
    args = f"sleep 3000.{os.getpid() % 1000}"
    spec = hc(timeout="5s", exec={"command": ["sh", "-c", f"nohup setsid {args} >/dev/null 2>&1 & exit 0"]})
    try:
        for i in range(60):
            task = asyncio.create_task(probe(spec, ctx))
            for _ in range(i % 6):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        survivors = _alive_with_args(args)
        assert survivors == [], f"{len(survivors)} of 60 cancelled probes left their daemonized child"
    finally:
        for pid in _alive_with_args(args):
            os.kill(pid, 9)


async def test_http_server_gone_fails_despite_keepalive(ctx: ProbeContext) -> None:
    runner, port = await _serve()
    spec = hc(http={"url": f"http://127.0.0.1:{port}/code/200"})
    try:
        assert (await probe(spec, ctx)).ok  # leaves a keep-alive connection in the shared pool
    finally:
        await runner.cleanup()
    r = await probe(spec, ctx)
    assert not r.ok and r.detail in ("connection refused", "server disconnected"), r.detail
