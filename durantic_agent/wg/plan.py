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

from durantic_agent.core.prefix import parse_prefix
from durantic_agent.wg.port import PeerSpec, PeerState

__all__ = [
    "PeerChange",
    "normalize_endpoint",
    "normalize_prefix",
    "plan_and_result",
    "plan_peers",
    "wanted_allowed_ips",
]


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
    return parse_prefix(prefix.strip()).text


def _normalized(ips: frozenset[str], known: frozenset[str]) -> frozenset[str]:
    """`ips` in canonical form. Only what `known` (canonical already) lacks is parsed, so a 50k-prefix set
    that barely changed costs a C-level set difference instead of 50k parses."""
    if ips is known:
        return ips
    extra = ips - known
    if not extra:
        return ips
    fixed = {normalize_prefix(p) for p in extra}
    return ips if fixed == extra else (ips - extra) | fixed


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


def wanted_allowed_ips(current: Mapping[str, PeerState], desired: Mapping[str, PeerSpec]) -> dict[str, frozenset[str]]:
    """Each wanted peer's allowed IPs, canonical. Raises ValueError when two peers claim the same prefix.

    A device never gives one prefix to two peers, so a prefix wanted twice is new (not in `current`) on at
    least one of them: only those are checked, not the whole table."""
    empty: frozenset[str] = frozenset()
    want_ips = {
        key: _normalized(spec.allowed_ips, cur.allowed_ips if (cur := current.get(key)) is not None else empty)
        for key, spec in desired.items()
    }
    for key in sorted(want_ips):
        cur = current.get(key)
        ips = want_ips[key]
        new = ips if cur is None else (empty if ips is cur.allowed_ips else ips - cur.allowed_ips)
        for other in sorted(want_ips):
            if other != key and not new.isdisjoint(want_ips[other]):
                ip = min(new & want_ips[other])
                first, second = sorted((key, other))
                raise ValueError(f"allowed IP {ip} is wanted on two peers: {first} and {second}")
    return want_ips


def plan_peers(current: Mapping[str, PeerState], desired: Mapping[str, PeerSpec]) -> list[PeerChange]:
    """Ordered changes turning `current` into `desired`; empty when they already agree.

    Raises ValueError when two wanted peers claim the same prefix (WireGuard cannot route that).
    Cost: C-level set operations over the allowed IPs, Python work only for what differs.
    """
    return plan_and_result(current, desired)[0]


def plan_and_result(
    current: Mapping[str, PeerState], desired: Mapping[str, PeerSpec]
) -> tuple[list[PeerChange], dict[str, PeerState]]:
    """plan_peers, and the device's peers once that plan is applied (allowed IPs, endpoint, keepalive;
    counters carried over), so the next plan need not re-read the device."""
    want_ips = wanted_allowed_ips(current, desired)
    adds: list[PeerChange] = []
    replacing: dict[str, PeerChange] = {}
    holds: dict[str, set[str]] = {}  # what each replacing peer holds now, to order replacements
    after: dict[str, PeerState] = {}
    for key in sorted(desired):
        spec = desired[key]
        endpoint = normalize_endpoint(spec.endpoint) if spec.endpoint else None
        cur = current.get(key)
        after[key] = PeerState(
            public_key=key,
            endpoint=endpoint if endpoint is not None else (cur.endpoint if cur else None),
            allowed_ips=want_ips[key],
            last_handshake=cur.last_handshake if cur else None,
            rx_bytes=cur.rx_bytes if cur else 0,
            tx_bytes=cur.tx_bytes if cur else 0,
            persistent_keepalive=spec.persistent_keepalive,
        )
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
        same = cur.allowed_ips is want_ips[key]
        lost = frozenset() if same else cur.allowed_ips - want_ips[key]
        orphaned = [ip for ip in lost if not any(ip in ips for ips in want_ips.values())]
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
        gained = frozenset() if same else want_ips[key] - cur.allowed_ips
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
    return adds + [replacing[k] for k in order] + removals, after


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
