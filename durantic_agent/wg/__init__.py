"""WireGuard adapters: one port (`WireGuardBackend`), a kernel and a userspace (wireguard-go) backend."""

from __future__ import annotations

from durantic_agent.wg.port import DeviceState, PeerSpec, PeerState, WireGuardBackend
from durantic_agent.wg.select import kernel_available, open_backend

__all__ = [
    "DeviceState",
    "PeerSpec",
    "PeerState",
    "WireGuardBackend",
    "kernel_available",
    "open_backend",
]
