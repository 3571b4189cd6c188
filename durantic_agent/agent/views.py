"""The agent's read model for the CLI, the API and the web page (implements views.provider.ViewProvider).

Reads gobgpd (ListPath, ListPeer) and WireGuard on demand; never mutates anything.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from ..aioutil import gc_paused, iterate_in_thread
from ..core.types import RibPath
from ..errors import AgentError
from ..gobgp import bulk, rib, speaker
from ..gobgp.decode import decode_destination
from ..views.prefix_index import PrefixIndex, prefix_key
from ..views.rib import rib_rows, row_matches

if TYPE_CHECKING:
    from .app import Agent

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

    def iter_rib_json(self, prefix: str | None = None) -> AsyncIterator[bytes]:
        """`rib_rows` as JSON arrays of up to 1,000 rows, as gobgpd streams the table.

        The read, decode, row building and encoding run in a worker thread on a blocking channel
        (gobgp/bulk.py): a 100k-route listing never sits in memory whole, and the event loop only
        forwards bytes. The maps are snapshotted here, on the loop, before the thread starts.
        """
        names, installed, reach, health = self._maps()
        asn = self.agent.cfg.machine.asn
        channel = self.agent.client().blocking_channel()
        families = bulk.families_for(prefix)

        def produce() -> Iterator[bytes]:
            with gc_paused():
                for fam in families:
                    for dests in bulk.list_destinations(channel, fam, prefix):
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
        # only the page's destinations are read from gobgpd, so a page of a 100k-route RIB costs
        # milliseconds instead of a full listing.
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

    async def peers(self) -> list[dict[str, Any]]:
        a = self.agent
        infos: dict[str, speaker.PeerInfo] = {}
        with contextlib.suppress(AgentError):
            infos = await speaker.list_peer_info(a.client())
        wg: dict[str, Any] = {}
        if a.wg is not None:
            for mesh in a.cfg.meshes:
                with contextlib.suppress(AgentError, OSError):
                    wg.update((await a.wg.device(mesh.ifname, allowed_ips=False)).peers)
        keys = {ref.address: ref.public_key for ref in a.members.values()}
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
                    "uptime": i.uptime if i else None,
                    "received": i.received if i else 0,
                    "accepted": i.accepted if i else 0,
                    "advertised": i.advertised if i else 0,
                    "wg_endpoint": w.endpoint if w else None,
                    "last_handshake": w.last_handshake if w else None,
                    "rx_bytes": w.rx_bytes if w else None,
                    "tx_bytes": w.tx_bytes if w else None,
                    "path_type": self._path_type(addr) if spec.kind == "member" else "-",
                    "liveness": a.member_liveness.view(addr) if spec.kind == "member" else _bfd_view(i),
                }
            )
        return out

    def _path_type(self, member: str) -> str:
        t = self.agent.transit
        return t.path_type(member) if t is not None else "Direct"

    async def announcements(self) -> list[dict[str, Any]]:
        from ..api.server import announcement_rows

        return announcement_rows(self.agent)

    async def policies(self) -> dict[str, Any]:
        st = self.agent.store.state
        return {
            "sets": [p.model_dump(mode="json", exclude_defaults=True) for p in st.policy_sets],
            "import_policies": list(st.import_policies),
            "export_policies": list(st.export_policies),
            "default_import": st.default_import,
            "default_export": st.default_export,
        }
