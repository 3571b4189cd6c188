"""The agent's read model for the CLI, the API and the web page (implements views.provider.ViewProvider).

Reads gobgpd (ListPath, ListPeer) and WireGuard on demand; never mutates anything.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ..errors import AgentError
from ..gobgp import speaker
from ..gobgp.decode import decode_destination
from ..gobgp.pb import V4U, V6U, api
from ..views.model import RibPath
from ..views.rib import rib_rows, row_matches

if TYPE_CHECKING:
    from .app import Agent

__all__ = ["AgentViews"]


class AgentViews:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    async def status(self) -> dict[str, Any]:
        return self.agent.status()

    async def destinations(self, prefix: str | None = None) -> list[list[RibPath]]:
        client = self.agent.client()
        out: list[list[RibPath]] = []
        for fam in (V4U, V6U):
            if prefix and (":" in prefix) != (fam is V6U):
                continue
            req = api.ListPathRequest(table_type=api.GLOBAL, family=fam, sort_type=api.ListPathRequest.PREFIX)
            if prefix:
                req.prefixes.append(api.TableLookupPrefix(prefix=prefix))
            async for r in client.stream("ListPath", req):
                paths = decode_destination(r.destination)
                if paths:
                    out.append(paths)
        return out

    def _maps(self) -> tuple[dict[str, str], set[str], dict[str, str], dict[str, str]]:
        a = self.agent
        names = {addr: p.name for addr, p in a.last_desired.peers.items()}
        installed = set(a.fib.routes)
        for per_peer in a.fib.allowed.values():
            for ips in per_peer.values():
                installed.update(ips)
        reach = {addr: "direct" for addr in a.last_desired.peers}
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
        rows = await self.rib_rows()
        if prefix_filter:
            rows = [r for r in rows if row_matches(r, prefix_filter)]
        return {"total": len(rows), "routes": rows[offset : offset + limit]}

    async def peers(self) -> list[dict[str, Any]]:
        a = self.agent
        infos: dict[str, speaker.PeerInfo] = {}
        with contextlib.suppress(AgentError):
            infos = await speaker.list_peer_info(a.client())
        wg: dict[str, Any] = {}
        if a.wg is not None:
            for mesh in a.cfg.meshes:
                with contextlib.suppress(AgentError, OSError):
                    wg.update((await a.wg.device(mesh.ifname)).peers)
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
                    "path_type": "Direct" if spec.kind == "member" else "-",
                }
            )
        return out

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
