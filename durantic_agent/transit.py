"""Transit decisions (pure): is each mesh member Direct, and which member relays the ones that are not.

Liveness comes from WireGuard itself. Every member peer keeps its endpoint and a persistent keepalive
even while its traffic rides a relay, so its direct tunnel keeps probing: received bytes grow while
the other end is heard (keepalives, handshakes, data, answers to our echoes to its probe address), and
stall when the direct path breaks. A member
stops being Direct after a silence window, and becomes Direct again only after life was seen `rise`
times on a valid session (hysteresis, so a lossy path does not flap).

Relay choice: among the paths to the member's mesh /32 learned from members that are themselves Direct
(a path via R has R as neighbour and as next hop; in a mesh with route servers, a path from route server R
with the member itself as next hop: R's session to the member is up, and R is a member that forwards),
the best by BGP's order; ties go to the lowest relay
address, never to "older path": both ends of a pair must pick the same relay, because WireGuard drops a
packet arriving from a peer whose AllowedIPs do not hold its source. A path whose AS path holds our own
ASN would relay through us: never chosen.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from .core.types import RibPath

__all__ = [
    "REJECT_AFTER_TIME",
    "Liveness",
    "LivenessParams",
    "PeerSample",
    "choose_carriers",
    "choose_relay",
    "initial_liveness",
    "step_liveness",
    "wants_probe",
]

# WireGuard refuses a session key older than this (seconds): a handshake older than it proves nothing.
REJECT_AFTER_TIME = 180.0


@dataclass(frozen=True, slots=True)
class LivenessParams:
    interval: float  # the mesh's persistent keepalive, seconds
    fall: int = 3  # silent keepalive intervals before a member is not Direct
    rise: int = 2  # observations of life before it is Direct again
    # Floor for the silence window. While Direct and idle, one end may hear only the other's BGP
    # keepalives, so the window must exceed the BGP keepalive interval.
    min_silence: float = 0.0

    @property
    def silence(self) -> float:
        return max(self.fall * self.interval, self.min_silence)


@dataclass(frozen=True, slots=True)
class PeerSample:
    rx_bytes: int
    handshake_age: float | None  # seconds since the last completed handshake; None = never


@dataclass(frozen=True, slots=True)
class Liveness:
    direct: bool
    rx_bytes: int = 0
    last_life: float | None = None  # monotonic time life was last seen
    lives: int = 0  # observations of life while not Direct
    since: float = 0.0  # monotonic time of the last change of `direct`


def initial_liveness(has_endpoint: bool, now: float) -> Liveness:
    """A member we can dial starts Direct (it has one silence window to show life); a member without an
    endpoint only initiates, so it is Direct only once it has handshaked with us."""
    return Liveness(direct=has_endpoint, last_life=now if has_endpoint else None, since=now)


def step_liveness(state: Liveness, sample: PeerSample | None, now: float, p: LivenessParams) -> Liveness:
    """Next state from one sample of the member's direct peer (None: the peer is not configured)."""
    rx = sample.rx_bytes if sample is not None else 0
    # rx going down means the peer was re-created: a new baseline, not life
    alive = sample is not None and rx > state.rx_bytes
    last_life = now if alive else state.last_life
    silent = last_life is None or now - last_life > p.silence
    if state.direct:
        if silent:
            return Liveness(False, rx, last_life, 0, now)
        return replace(state, rx_bytes=rx, last_life=last_life)
    lives = 0 if silent else state.lives + int(alive)
    session_valid = sample is not None and sample.handshake_age is not None and sample.handshake_age < REJECT_AFTER_TIME
    if lives >= p.rise and session_valid:
        return Liveness(True, rx, last_life, 0, now)
    return replace(state, rx_bytes=rx, last_life=last_life, lives=lives)


def wants_probe(state: Liveness, now: float, p: LivenessParams) -> bool:
    """Whether to echo the member's probe address (core/probe.py) across its direct tunnel: after a
    keepalive interval without life. A peer that carries traffic, or whose keepalives arrive, costs no
    echo; one whose packets this end drops uncounted (it relays the member, which still sends directly)
    answers the echo on the direct peer, and so shows life again."""
    return state.last_life is None or now - state.last_life >= p.interval


_ORIGIN_RANK = {"igp": 0, "egp": 1, "incomplete": 2}


def _addr_key(s: str) -> tuple[int, int]:
    a = ipaddress.ip_address(s)
    return (a.version, int(a))


def _rank(p: RibPath) -> tuple[int, int, int, int, tuple[int, int]]:
    assert p.neighbor_ip is not None
    lp = p.local_pref if p.local_pref is not None else 100
    return (-lp, p.as_path_len, _ORIGIN_RANK.get(p.origin, 3), p.med or 0, _addr_key(p.neighbor_ip))


def choose_relay(
    member: str,
    paths: Iterable[RibPath],
    direct: Iterable[str],
    own_asn: int,
    route_servers: Collection[str] = frozenset(),
) -> str | None:
    """The relay for `member` (its mesh address): best path to its /32 via a Direct member, or None."""
    ok = set(direct) - {member}
    candidates = [
        p
        for p in paths
        if p.neighbor_ip is not None
        and (p.neighbor_ip == p.next_hop or (p.neighbor_ip in route_servers and p.next_hop == member))
        and p.neighbor_ip in ok
        and own_asn not in p.as_path
        and not (p.is_withdraw or p.filtered or p.stale or p.nexthop_invalid)
    ]
    if not candidates:
        return None
    return min(candidates, key=_rank).neighbor_ip


def choose_carriers(
    not_direct: Iterable[str],
    paths: Mapping[str, Sequence[RibPath]],
    direct: Iterable[str],
    own_asn: int,
    route_servers: Collection[str] = frozenset(),
) -> dict[str, str]:
    """member -> relay for every member that is not Direct and has a relay. A member with none stays on
    its direct peer (the best we can do; its keepalives keep probing)."""
    d = set(direct)
    out: dict[str, str] = {}
    for m in not_direct:
        r = choose_relay(m, paths.get(m, ()), d, own_asn, route_servers)
        if r is not None:
            out[m] = r
    return out
