"""Endpoint resolution: WireGuard takes IP literals only, users may write host names."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Mapping

from durantic_agent.wg.plan import normalize_endpoint
from durantic_agent.wg.port import PeerSpec, WireGuardOpError

__all__ = ["resolve_endpoint", "resolve_peers"]


async def resolve_endpoint(endpoint: str) -> str:
    try:
        return normalize_endpoint(endpoint)
    except ValueError:
        pass
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise WireGuardOpError(f"endpoint {endpoint!r} is not host:port")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise WireGuardOpError(f"endpoint {endpoint!r}: {exc}") from exc
    if not infos:
        raise WireGuardOpError(f"endpoint {endpoint!r}: no address")
    family, _, _, _, sockaddr = infos[0]
    ip = str(sockaddr[0])
    return normalize_endpoint(f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}")


async def resolve_peers(peers: Mapping[str, PeerSpec]) -> dict[str, PeerSpec]:
    out: dict[str, PeerSpec] = {}
    for key, spec in peers.items():
        if spec.endpoint is None:
            out[key] = spec
        else:
            out[key] = dataclasses.replace(spec, endpoint=await resolve_endpoint(spec.endpoint))
    return out
