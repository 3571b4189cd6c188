"""Jinja filters for the durantic role (ansible-core has no ipaddr filter without ansible.utils)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

try:
    from ansible.errors import AnsibleFilterError  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # imported outside Ansible (unit tests)
    AnsibleFilterError = ValueError  # type: ignore[assignment,misc]


def durantic_host_address(network: str, node_id: Any) -> str:
    """The node_id-th host address of network, with its prefix length: ('100.64.0.0/24', 3) -> '100.64.0.3/24'."""
    try:
        net = ipaddress.ip_network(str(network), strict=True)
    except ValueError as e:
        raise AnsibleFilterError(f"durantic_mesh_network: {network!r} is not a network ({e})") from None
    try:
        n = int(node_id)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"durantic_node_id: {node_id!r} is not an integer") from None
    # The network and (IPv4) broadcast addresses are not usable host addresses.
    last = net.num_addresses - (2 if net.version == 4 and net.prefixlen < 31 else 1)
    if not 1 <= n <= last:
        raise AnsibleFilterError(f"durantic_node_id: {n} is outside 1..{last} for durantic_mesh_network {net}")
    return f"{net.network_address + n}/{net.prefixlen}"


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"durantic_host_address": durantic_host_address}
