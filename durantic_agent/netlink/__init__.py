"""Kernel adapters (routes, loopback VIPs, sysctls): the agent's only netlink users besides wg/."""

from __future__ import annotations

from durantic_agent.netlink.addrs import LoopbackAddrs
from durantic_agent.netlink.routes import KernelRoutes
from durantic_agent.netlink.sysctl import Forwarding, enable_forwarding, read_forwarding

__all__ = [
    "Forwarding",
    "KernelRoutes",
    "LoopbackAddrs",
    "enable_forwarding",
    "read_forwarding",
]
