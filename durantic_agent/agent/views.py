"""The agent's read model for the CLI, the API and the web page (implements views.provider.ViewProvider).

Reads gobgpd (ListPath, ListPeer) and WireGuard on demand; never mutates anything.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import orjson

from ..aioutil import gc_paused, iterate_in_thread
from ..config import AgentConfig
from ..core.types import NO_SESSION, MemberRef, RibPath
from ..desired import Desired
from ..errors import AgentError
from ..fib import Fib
from ..gobgp import bulk, rib, speaker
from ..gobgp.client import GobgpClient
from ..gobgp.decode import decode_destination
from ..gobgp.sidecar import Sidecar
from ..health.engine import HealthEngine
from ..metrics import AGENT_METRICS
from ..objects.store import ObjectStore
from ..timefmt import age_seconds, rfc3339
from ..views.prefix_index import PrefixIndex, prefix_key
from ..views.rib import inside, path_dict, rib_rows, row_matches
from ..views.rows import announcement_rows, check_rows
from ..wg.port import WireGuardBackend
from .liveness import MemberLiveness
from .ribwatch import RibWatch
from .transitmon import TransitMonitor


class Agent(Protocol):
    """What the read side uses of the running agent (agent/app.py's Agent); it never mutates any of it."""

    cfg: AgentConfig
    store: ObjectStore
    health: HealthEngine
    last_desired: Desired
    fib: Fib
    members: dict[str, MemberRef]
    transit: TransitMonitor | None
    rib: RibWatch
    wg: WireGuardBackend | None
    member_liveness: MemberLiveness
    sidecar: Sidecar

    def client(self) -> GobgpClient: ...

    def restricted_members(self) -> dict[str, tuple[str, list[str]]]: ...

    def no_default_route_from(self) -> list[str]: ...

    def status(self) -> dict[str, Any]: ...


__all__ = ["AgentViews"]


def _as_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _bfd_view(info: speaker.PeerInfo | None) -> dict[str, Any] | None:
    """A neighbour's data plane as gobgpd's BFD session sees it (None: BFD off)."""
    if info is None or info.bfd is None:
        return None
    return {"via": "bfd", "state": info.bfd.state}


class AgentViews:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._index = PrefixIndex()

    async def status(self) -> dict[str, Any]:
        """The page header's flat shape (the API's /v1/status nests `machine`)."""
        st = self.agent.status()
        m = st["machine"]
        return {"machine": m["name"], "asn": m["asn"], "router_id": m["router_id"], "version": st["version"]}

    async def destinations(self, prefix: str | None = None) -> list[list[RibPath]]:
        return [d async for d in self.iter_destinations(prefix)]

    async def iter_destinations(self, prefix: str | None = None) -> AsyncIterator[list[RibPath]]:
        async for paths in rib.iter_destinations(self.agent.client(), prefix):
            yield paths

    def iter_rib_json(self, prefix: str | None = None, longer: bool = False) -> AsyncIterator[bytes]:
        """`rib_rows` as JSON arrays of up to 1,000 rows, as gobgpd streams the table.

        The read, decode, row building and encoding run in a worker thread on a blocking channel
        (gobgp/bulk.py): a 100k-route listing never sits in memory whole, and the event loop only
        forwards bytes. The maps are snapshotted here, on the loop, before the thread starts. With
        `longer`, the destinations inside `prefix` (itself included) instead of `prefix` alone.
        """
        names, installed, reach, health = self._maps()
        asn = self.agent.cfg.machine.asn
        channel = self.agent.client().blocking_channel()
        families = bulk.families_for(prefix)

        def produce() -> Iterator[bytes]:
            with gc_paused():
                for fam in families:
                    for dests in bulk.list_destinations(channel, fam, prefix, longer=longer):
                        paths = [decode_destination(d) for d in dests]
                        rows = rib_rows(paths, names, installed, reach, health, asn)
                        if rows:
                            yield orjson.dumps(rows, default=str)

        return iterate_in_thread(produce)

    def _maps(self) -> tuple[dict[str, str], set[str], dict[str, str], dict[str, str]]:
        a = self.agent
        names = {addr: p.name for addr, p in a.last_desired.peers.items()}
        installed = set(a.fib.routes)
        for per_peer in a.fib.allowed.values():
            for ips in per_peer.values():
                installed.update(ips)
        reach = {addr: "direct" for addr in a.last_desired.peers}
        for member, relay in (a.transit.carriers if a.transit is not None else {}).items():
            reach[member] = f"transit via {names.get(relay, relay)}"
        for p in a.fib.unreachable:
            reach.setdefault(p, "unreachable")
        health = {}
        statuses = a.health.statuses()
        for ann in a.store.state.announcements:
            st = statuses.get(ann.name)
            health[ann.prefix] = st.state.value if st else ("disabled" if not ann.enabled else "no check")
        return names, installed, reach, health

    async def rejected_rows(self) -> list[dict[str, Any]]:
        """Routes the agent's own import statements rejected (peer_policy.py), each with its reason."""
        a = self.agent
        client = a.client()
        names, _, reach, health = self._maps()
        found: list[tuple[RibPath, str]] = []
        now = time.time()
        for addr, (name, allowed) in a.restricted_members().items():
            for p in await rib.rejected_paths(client, addr):
                why = (
                    f"rejected on import: outside the allowed_prefixes of {name}"
                    if not inside(p.prefix, allowed)
                    else "rejected by import policy"
                )
                found.append((p, why))
        no_default = set(a.no_default_route_from())
        for n in a.cfg.neighbors:
            addr, who = str(n.address), n.name
            strict = n.import_ == "reject"
            if not strict and addr not in no_default:
                continue
            for p in await rib.rejected_paths(client, addr, None if strict else ["0.0.0.0/0", "::/0"]):
                if addr in no_default and p.prefix in ("0.0.0.0/0", "::/0"):
                    why = f"rejected on import: default route from neighbour {who} (accept_default_route is false)"
                elif strict:
                    why = f"rejected on import: neighbour {who} has import: reject and no import rule accepted it"
                else:
                    why = "rejected by import policy"
                found.append((p, why))
        return [
            {
                "prefix": p.prefix,
                "family": p.family,
                "paths": [path_dict(p, names, False, reach, health, now) | {"rejected": why}],
                "explain": [],
                "best_reason": why,
                "rejected": why,
            }
            for p, why in sorted(found, key=lambda f: prefix_key(f[0].prefix))
        ]

    async def rib_rows(self, prefix: str | None = None) -> list[dict[str, Any]]:
        names, installed, reach, health = self._maps()
        dests = await self.destinations(prefix)
        return rib_rows(dests, names, installed, reach, health, self.agent.cfg.machine.asn)

    async def rib(self, prefix_filter: str | None, offset: int, limit: int) -> dict[str, Any]:
        if prefix_filter:
            net = _as_network(prefix_filter)
            if net is None:  # free text (peer name, community, ASN): every destination must be looked at
                rows = [r for r in await self.rib_rows() if row_matches(r, prefix_filter)]
            else:  # an address or prefix: gobgpd finds what covers it and what lies inside it
                names, installed, reach, health = self._maps()
                dests = sorted(await self.around(net), key=lambda d: prefix_key(d[0].prefix))
                rows = rib_rows(dests, names, installed, reach, health, self.agent.cfg.machine.asn)
                rows = [r for r in rows if row_matches(r, prefix_filter)]
            return {"total": len(rows), "routes": rows[offset : offset + limit]}
        # Unfiltered page: the prefixes come from the best paths the agent tracks anyway (WatchEvent), and
        # only the page's destinations are read from gobgpd, so a page of a 100k-route RIB costs a few
        # lookups instead of a full listing.
        order = self._index.order(self.agent.rib.best.keys())
        page = order[offset : offset + limit]
        found = {d[0].prefix: d for d in await self.lookup(page) if d}
        names, installed, reach, health = self._maps()
        dests = [found[p] for p in page if p in found]
        rows = rib_rows(dests, names, installed, reach, health, self.agent.cfg.machine.asn)
        return {"total": len(order), "routes": rows}

    async def around(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[list[RibPath]]:
        """Destinations inside `net` and those covering it (two table lookups, no full listing)."""
        return await rib.around(self.agent.client(), net)

    async def lookup(self, prefixes: list[str]) -> list[list[RibPath]]:
        """The destinations of exactly these prefixes (one ListPath per family)."""
        return await rib.lookup(self.agent.client(), prefixes)

    async def peers(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Peers with gobgpd's view of them; "unknown" state when gobgpd does not answer (within `timeout`)."""
        a = self.agent
        infos: dict[str, speaker.PeerInfo] = {}
        if a.sidecar.responsive:  # a gobgpd the watchdog saw miss a probe is not asked again meanwhile
            with contextlib.suppress(AgentError):
                infos = await speaker.list_peer_info(a.client(), timeout)
        wg: dict[str, Any] = {}
        if a.wg is not None:
            for mesh in a.cfg.meshes:
                with contextlib.suppress(AgentError, OSError):
                    wg.update((await a.wg.device(mesh.ifname, allowed_ips=False)).peers)
        keys = {ref.address: ref.public_key for ref in a.members.values()}
        now = time.time()
        out = []
        for addr, spec in a.last_desired.peers.items():
            i = infos.get(addr)
            w = wg.get(keys.get(addr, ""))
            out.append(
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "address": addr,
                    "asn": spec.asn,
                    "state": i.state if i else "unknown",
                    "established_at": rfc3339(i.uptime) if i and i.state == "established" else None,
                    "uptime_seconds": age_seconds(i.uptime, now) if i and i.state == "established" else None,
                    "received": i.received if i else 0,
                    "accepted": i.accepted if i else 0,
                    "advertised": i.advertised if i else 0,
                    "max_prefixes": spec.max_prefixes,
                    "prefix_limited": i.prefix_limited if i else False,
                    "reason": i.reason if i and i.state != "established" else "",
                    "wg_endpoint": w.endpoint if w else None,
                    "last_handshake_at": rfc3339(w.last_handshake) if w else None,
                    "handshake_age_seconds": age_seconds(w.last_handshake, now) if w else None,
                    "rx_bytes": w.rx_bytes if w else None,
                    "tx_bytes": w.tx_bytes if w else None,
                    "path_type": self._path_type(addr) if spec.kind == "member" else "-",
                    "liveness": a.member_liveness.view(addr) if spec.kind == "member" else _bfd_view(i),
                }
            )
        # with route servers, most members have no session here; their tunnel, path and liveness still matter
        asns = {str(m.address): m.asn for mesh in a.cfg.meshes for m in mesh.members or []}
        for addr, ref in a.members.items():
            if addr in a.last_desired.peers:
                continue
            w = wg.get(ref.public_key)
            out.append(
                {
                    "name": ref.name,
                    "kind": "member",
                    "address": addr,
                    "asn": asns.get(addr),
                    "state": NO_SESSION,
                    "established_at": None,
                    "uptime_seconds": None,
                    "received": 0,
                    "accepted": 0,
                    "advertised": 0,
                    "max_prefixes": None,
                    "prefix_limited": False,
                    "reason": "routes via the route servers",
                    "wg_endpoint": w.endpoint if w else None,
                    "last_handshake_at": rfc3339(w.last_handshake) if w else None,
                    "handshake_age_seconds": age_seconds(w.last_handshake, now) if w else None,
                    "rx_bytes": w.rx_bytes if w else None,
                    "tx_bytes": w.tx_bytes if w else None,
                    "path_type": self._path_type(addr),
                    "liveness": a.member_liveness.view(addr),
                }
            )
        if infos:
            AGENT_METRICS.peer_states(out)
        return out

    def _path_type(self, member: str) -> str:
        t = self.agent.transit
        return t.path_type(member) if t is not None else "Direct"

    async def announcements(self) -> list[dict[str, Any]]:
        a = self.agent
        return announcement_rows(a.store.state.announcements, a.health.statuses(), a.last_desired.paths)

    async def checks(self) -> list[dict[str, Any]]:
        a = self.agent
        return check_rows(a.store.state.announcements, a.health.statuses(), a.health.passing)

    async def policies(self) -> dict[str, Any]:
        st = self.agent.store.state
        return {
            "sets": [p.model_dump(mode="json", exclude_defaults=True) for p in st.policy_sets],
            "import_policies": list(st.import_policies),
            "export_policies": list(st.export_policies),
            "default_import": st.default_import,
            "default_export": st.default_export,
        }
