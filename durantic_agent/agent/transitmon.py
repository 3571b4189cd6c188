"""Transit: which mesh members are Direct, and which relay carries each member that is not.

Samples each member's direct WireGuard peer every half keepalive and wakes the controller only when a
member's carrier (itself or a relay) changes. A member whose peer received nothing for a keepalive
interval gets an echo to its probe address (core/probe.py), which crosses the direct tunnel whatever
either end decided. The decisions are pure (transit.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from ..config import AgentConfig
from ..core.probe import probe_address
from ..core.types import MemberRef, RibPath
from ..errors import AgentError
from ..metrics import AGENT_METRICS
from ..topology import route_server_addresses
from ..transit import (
    Liveness,
    LivenessParams,
    PeerSample,
    choose_carriers,
    initial_liveness,
    step_liveness,
    wants_probe,
)
from ..wg.port import WireGuardBackend

__all__ = ["TransitMonitor"]

log = logging.getLogger("durantic.agent")

Lookup = Callable[[str], Awaitable[list[list[RibPath]]]]  # host prefix -> its destinations in gobgpd
Probe = Callable[[str, str, str], None]  # (interface, our probe address, the member's): one echo


class TransitMonitor:
    def __init__(
        self,
        cfg: Callable[[], AgentConfig],
        members: Callable[[], Mapping[str, MemberRef]],
        wg: WireGuardBackend,
        lookup: Lookup,
        wake: Callable[[], None],
        probe: Probe | None = None,
    ) -> None:
        self.cfg = cfg
        self.probe = probe
        self.clock = time.monotonic
        self.members = members
        self.wg = wg
        self.lookup = lookup
        self.wake = wake
        self.liveness: dict[str, Liveness] = {}  # member mesh address -> direct-path liveness
        self.carriers: dict[str, str] = {}  # member mesh address -> relay (members not Direct only)

    def poll_interval(self) -> float:
        """Half a keepalive interval: a silence is seen at most half an interval late, and a 30-member
        mesh does not spend a core re-reading every WireGuard peer."""
        kas = [m.persistent_keepalive for m in self.cfg().meshes if m.persistent_keepalive > 0]
        return max(0.25, min(kas) / 2) if kas else 1.0

    def path_type(self, member: str) -> str:
        relay = self.carriers.get(member)
        if relay is not None:
            ref = self.members().get(relay)
            return f"Transit via {ref.name if ref else relay}"
        lv = self.liveness.get(member)
        # not Direct and no relay: traffic stays on the silent direct tunnel, which keeps probing
        return "Direct" if lv is None or lv.direct else "Silent (no relay)"

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval())
            try:
                await self.tick()
            except (AgentError, OSError) as e:
                log.debug("transit: %s", e)

    async def tick(self) -> None:
        # one snapshot of config and members for the whole tick: a reload during one of its awaits
        # must not pair the new members with the old config (a new member would look endpoint-less,
        # so not Direct, and be sent through a relay while its own end still sends directly)
        cfg, members = self.cfg(), self.members()
        self.liveness = await self._sample(cfg, members)
        direct = {a for a, lv in self.liveness.items() if lv.direct}
        not_direct = [a for a, lv in self.liveness.items() if not lv.direct]
        paths = {}
        for addr in not_direct:  # usually none: ListPath only for members that need a relay
            host = f"{addr}/128" if ":" in addr else f"{addr}/32"
            paths[addr] = [p for dest in await self.lookup(host) for p in dest]
        rs = {a for mesh in cfg.meshes for a in route_server_addresses(mesh)}
        carriers = choose_carriers(not_direct, paths, direct, cfg.machine.asn, rs)
        if carriers != self.carriers:
            self._count_switches(carriers)
            self.carriers = carriers
            self.wake()

    async def _sample(self, cfg: AgentConfig, members: Mapping[str, MemberRef]) -> dict[str, Liveness]:
        now, wall = self.clock(), time.time()
        endpoints = {str(m.address): m.endpoint for mesh in cfg.meshes for m in mesh.members or []}
        liveness: dict[str, Liveness] = {}
        for mesh in cfg.meshes:
            if mesh.persistent_keepalive == 0:
                continue  # nothing probes an idle direct path: every member counts as Direct
            # floor: while Direct, the member's BGP keepalives alone arrive this often
            params = LivenessParams(
                float(mesh.persistent_keepalive),
                fall=mesh.silent_keepalives,
                min_silence=float(cfg.bgp.keepalive),
            )
            dev = await self.wg.device(mesh.ifname, allowed_ips=False)
            own_probe = probe_address(str(mesh.address.ip))
            for addr, ref in members.items():
                if ref.ifname != mesh.ifname:
                    continue
                prev = self.liveness.get(addr) or initial_liveness(endpoints.get(addr) is not None, now)
                ps = dev.peers.get(ref.public_key)
                sample = None
                if ps is not None:
                    age = wall - ps.last_handshake if ps.last_handshake else None
                    sample = PeerSample(ps.rx_bytes, age)
                lv = liveness[addr] = step_liveness(prev, sample, now, params)
                if self.probe is not None and ps is not None and wants_probe(lv, now, params):
                    self.probe(mesh.ifname, own_probe, probe_address(addr))  # its answer: bytes at the next sample
        return liveness

    def _count_switches(self, carriers: dict[str, str]) -> None:
        names = {a: r.name for a, r in self.members().items()}
        for addr in set(carriers) | set(self.carriers):
            old, new = self.carriers.get(addr), carriers.get(addr)
            if old == new:
                continue
            name = names.get(addr, addr)
            if new is None:
                log.info("mesh member %s: direct again", name)
                AGENT_METRICS.transit_switches.labels(name, "direct").inc()
            else:
                log.info("mesh member %s: transit via %s", name, names.get(new, new))
                AGENT_METRICS.transit_switches.labels(name, "transit").inc()
