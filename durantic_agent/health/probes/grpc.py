"""gRPC probes: the standard health service's Check, on one long-lived channel per target."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..spec import GrpcProbe

__all__ = ["grpc_probe", "health_channel"]


def health_channel(target: str) -> tuple[Any, Any]:
    """A channel to `target` and a Health stub on it."""
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
    return channel, health_pb2_grpc.HealthStub(channel)


async def grpc_probe(spec: GrpcProbe, deadline_s: float, stub: Any) -> tuple[bool, str, str]:
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
