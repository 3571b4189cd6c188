"""One probe of one check within its timeout, whatever its kind. `probe()` never raises (except on cancellation)."""

from __future__ import annotations

import asyncio
import socket
import time

from ...validation import format_duration
from ..spec import HealthCheck
from .base import ProbeResult, clip, describe_error
from .context import ProbeContext
from .exec import exec_probe
from .grpc import grpc_probe
from .http import http
from .tcp import begin_connect, literal_family, tcp, tcp_finish

__all__ = ["probe"]


async def probe(spec: HealthCheck, ctx: ProbeContext) -> ProbeResult:
    """Run the check once within `spec.timeout`. Never raises except asyncio.CancelledError."""
    start = time.monotonic()
    pending: socket.socket | None = None
    if spec.tcp is not None and (family := literal_family(spec.tcp.host)) is not None:
        # A TCP check of a local server is decided within connect() itself: no timer, no loop pass.
        try:
            pending, connected = begin_connect(family, (spec.tcp.host, spec.tcp.port))
        except OSError as exc:
            return ProbeResult(False, clip(describe_error(exc)), time.monotonic() - start)
        if connected:
            pending.close()
            return ProbeResult(True, "connected", time.monotonic() - start)
    try:
        if spec.exec is not None:
            # bounds the check's run itself; cleaning up after it is not the check's time
            ok, detail, output = await exec_probe(spec.exec, spec.timeout)
        else:
            async with asyncio.timeout(spec.timeout):
                if pending is not None:
                    ok, detail, output = await tcp_finish(pending)
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
    return ProbeResult(ok, clip(detail), time.monotonic() - start, output)


async def _dispatch(spec: HealthCheck, ctx: ProbeContext) -> tuple[bool, str, str]:
    if spec.tcp is not None:
        return await tcp(spec.tcp)
    if spec.http is not None:
        target = ctx.http_target(spec.http)
        tls = ctx.tls_context(spec.http) if target.tls else None  # a broken CA file is the check's first problem
        return await http(spec.http, target, tls)
    assert spec.grpc is not None
    return await grpc_probe(spec.grpc, spec.timeout, ctx.grpc_stub(spec.grpc.target))
