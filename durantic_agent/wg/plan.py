"""Pure planning of a peer convergence: current device state + wanted peers -> ordered peer changes.

WireGuard gives an allowed IP to exactly one peer: handing it to a new peer takes it off the old one
atomically. So a move costs one line on the new owner, and a peer needs `replace_allowed_ips` only when
it loses a prefix that nobody else receives. Order: additions (they carry the moves) first, then
replacements (a replacing peer that receives moved prefixes before the peer that gives them up), then
removals, so no prefix is ever briefly unrouted because of the ordering.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from durantic_agent.wg.port import PeerSpec, PeerState

__all__ = ["PeerChange", "normalize_endpoint", "normalize_prefix", "plan_peers"]


@dataclass(frozen=True)
class PeerChange:
    public_key: str
    remove: bool = False
    create: bool = False  # False for an existing peer: sent as update_only so it is never resurrected
    endpoint: str | None = None  # None = leave as is
    persistent_keepalive: int | None = None  # None = leave as is
    replace_allowed_ips: bool = False
    allowed_ips: tuple[str, ...] = ()  # with replace: the full list; otherwise prefixes to add


def normalize_prefix(prefix: str) -> str:
    """Canonical "addr/len" with host bits cleared (WireGuard stores them masked)."""
    return str(ipaddress.ip_network(prefix.strip(), strict=False))


def normalize_endpoint(endpoint: str) -> str:
    """Canonical "ip:port" / "[ipv6]:port" for an IP literal endpoint; ValueError otherwise."""
    text = endpoint.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{endpoint!r} is not an endpoint ([ipv6]:port)")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"{endpoint!r} is not an endpoint (ip:port or [ipv6]:port)")
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{endpoint!r} has no valid port")
    return f"[{ip}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


def plan_peers(current: Mapping[str, PeerState], desired: Mapping[str, PeerSpec]) -> list[PeerChange]:
    """Ordered changes turning `current` into `desired`; empty when they already agree.

    Raises ValueError when two wanted peers claim the same prefix (WireGuard cannot route that).
    """
    want_ips: dict[str, frozenset[str]] = {}
    owner: dict[str, str] = {}
    for key in sorted(desired):
        ips = frozenset(normalize_prefix(p) for p in desired[key].allowed_ips)
        for ip in ips:
            if ip in owner:
                raise ValueError(f"allowed IP {ip} is wanted on two peers: {owner[ip]} and {key}")
            owner[ip] = key
        want_ips[key] = ips

    adds: list[PeerChange] = []
    replacing: dict[str, PeerChange] = {}
    holds: dict[str, set[str]] = {}  # what each replacing peer holds now, to order replacements
    for key in sorted(desired):
        spec = desired[key]
        endpoint = normalize_endpoint(spec.endpoint) if spec.endpoint else None
        cur = current.get(key)
        if cur is None:
            adds.append(
                PeerChange(
                    public_key=key,
                    create=True,
                    endpoint=endpoint,
                    persistent_keepalive=spec.persistent_keepalive or None,
                    allowed_ips=tuple(sorted(want_ips[key])),
                )
            )
            continue
        new_endpoint = endpoint if endpoint is not None and endpoint != cur.endpoint else None
        new_keepalive = spec.persistent_keepalive if spec.persistent_keepalive != cur.persistent_keepalive else None
        lost = cur.allowed_ips - want_ips[key]
        orphaned = {ip for ip in lost if ip not in owner}
        if orphaned:
            replacing[key] = PeerChange(
                public_key=key,
                endpoint=new_endpoint,
                persistent_keepalive=new_keepalive,
                replace_allowed_ips=True,
                allowed_ips=tuple(sorted(want_ips[key])),
            )
            holds[key] = set(cur.allowed_ips)
            continue
        gained = want_ips[key] - cur.allowed_ips
        if gained or new_endpoint is not None or new_keepalive is not None:
            adds.append(
                PeerChange(
                    public_key=key,
                    endpoint=new_endpoint,
                    persistent_keepalive=new_keepalive,
                    allowed_ips=tuple(sorted(gained)),
                )
            )

    takes = {k: set(replacing[k].allowed_ips) for k in replacing}
    order = _order_by_takes(takes, holds)
    removals = [PeerChange(public_key=k, remove=True) for k in sorted(current) if k not in desired]
    return adds + [replacing[k] for k in order] + removals


def _order_by_takes(takes: dict[str, set[str]], holds: dict[str, set[str]]) -> list[str]:
    keys = sorted(takes)
    # after[j] = replacing peers that take a prefix j holds now: they go before j
    after = {j: {k for k in keys if k != j and takes[k] & holds[j]} for j in keys}
    out: list[str] = []
    done: set[str] = set()
    pending = keys
    while pending:
        ready = [j for j in pending if after[j] <= done] or pending[:1]  # swap cycle: any order
        out.extend(ready)
        done.update(ready)
        pending = [j for j in pending if j not in done]
    return out
