"""Member liveness wired into the agent: a member whose data plane is dead loses its BGP session at once.

Graceful restart keeps a silent peer's paths as stale for hold time + restart_time, which is right for
a BGP daemon restarting on a live machine and wrong for a dead machine. The data plane tells them apart:
when a member's echo stops answering, its session is administratively disabled (its paths are dropped,
not kept stale); kernel routes and AllowedIPs follow through the best-path watch. When it answers again
(with hysteresis) the session is enabled and peering resumes. A member whose BGP goes down while it keeps
answering is a restart: graceful restart as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from ..config import AgentConfig
from ..core.types import MemberRef
from ..desired import Desired
from ..errors import AgentError
from ..gobgp import speaker
from ..gobgp.client import GobgpClient
from ..gobgp.sidecar import Sidecar
from ..liveness.fsm import MemberState, Params, Verdict
from ..liveness.monitor import Monitor, Target
from ..metrics import AGENT_METRICS
from ..timefmt import rfc3339
from ..topology import is_route_server, route_server_addresses
from .controller import Controller
from .ribwatch import RibWatch
from .routeservers import RouteServersReconciler
from .wanted import Wanted


class Agent(Protocol):
    """What member liveness uses of the running agent (agent/app.py's Agent)."""

    cfg: AgentConfig
    members: dict[str, MemberRef]
    last_desired: Desired
    rib: RibWatch
    sidecar: Sidecar
    controller: Controller[Wanted]
    route_servers: RouteServersReconciler

    def client(self) -> GobgpClient: ...


__all__ = ["MemberLiveness"]

log = logging.getLogger("durantic.liveness")

_RETRY = 0.5  # seconds between attempts to set a session's admin state that gobgpd refused
_MOVE_TIMEOUT = 10.0  # a death whose paths have not moved by then is not measured
_COMMUNICATION = "durantic: data plane down"
_ALIVE = {Verdict.UP: 1, Verdict.DOWN: 0, Verdict.UNKNOWN: -1}


class MemberLiveness:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.monitor = Monitor(self._targets, self._changed)
        self._applied: dict[str, bool] = {}  # member address -> session enabled, as last set in gobgpd
        self._gobgpd: tuple[int | None, int] | None = None  # (pid, restarts) that `_applied` is about
        # the same for the sessions of this machine's route servers: mesh -> (their gobgpd, applied)
        self._rs_applied: dict[str, tuple[tuple[int | None, int], dict[str, bool]]] = {}
        self._wake = asyncio.Event()
        self._measuring: set[asyncio.Task[None]] = set()
        self._targets_for: tuple[object, object] | None = None
        self._targets_cache: dict[str, Target] = {}

    def _targets(self) -> dict[str, Target]:
        """The members to probe; the same object while config and members are (the monitor's cue)."""
        key = (self.agent.cfg, self.agent.members)
        if self._targets_for is not None and self._targets_for[0] is key[0] and self._targets_for[1] is key[1]:
            return self._targets_cache
        self._targets_for = key
        out: dict[str, Target] = {}
        meshes = {m.name: m for m in self.agent.cfg.meshes}
        # with route servers, a client probes only them: the route servers probe every member and withdraw a
        # dead one's paths from every client, so the mesh sends O(N) probes, not O(N^2)
        only = {
            m.name: set(route_server_addresses(m))
            for m in self.agent.cfg.meshes
            if m.route_servers and not is_route_server(m)
        }
        for addr, ref in self.agent.members.items():
            mesh = meshes.get(ref.mesh)
            if mesh is None or not mesh.liveness.enabled:
                continue
            if ref.mesh in only and addr not in only[ref.mesh]:
                continue
            lv = mesh.liveness
            out[addr] = Target(addr, ref.name, Params(lv.interval, lv.multiplier, lv.probes, lv.rise))
        self._targets_cache = out
        return out

    def _changed(self, t: Target, old: MemberState, new: MemberState) -> None:
        AGENT_METRICS.member_alive.labels(t.name).set(_ALIVE[new.verdict])
        if old.verdict is not Verdict.UNKNOWN:
            AGENT_METRICS.member_liveness_transitions.labels(t.name, new.verdict.value).inc()
        self._wake.set()

    # ----- loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        probing = asyncio.create_task(self.monitor.run(), name="liveness-probe")
        try:
            while True:
                self._wake.clear()
                await self._apply()
                if probing.done():
                    probing.result()  # a probing loop that died takes the agent down (crash-only)
                behind = any(self._want(a) not in (None, self._applied.get(a)) for a in self._addrs())
                behind = behind or self._rs_behind()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _RETRY if behind else 5.0)
        finally:
            probing.cancel()
            for t in (probing, *self._measuring):
                t.cancel()
            await asyncio.gather(probing, *self._measuring, return_exceptions=True)

    def _addrs(self) -> list[str]:
        return [a for a in self.monitor.states if a in self.agent.last_desired.peers]

    def down(self, addr: str) -> bool:
        """The member's data plane is known to be down (not merely unknown yet)."""
        st = self.monitor.states.get(addr)
        return st is not None and st.verdict is Verdict.DOWN

    def _want(self, addr: str) -> bool | None:
        """Session enabled? None: no verdict yet, leave it as it is."""
        st = self.monitor.states.get(addr)
        if st is None or st.verdict is Verdict.UNKNOWN:
            return None
        return st.verdict is Verdict.UP

    async def _apply(self) -> None:
        await self._apply_route_servers()
        sc = self.agent.sidecar
        gen = (sc.pid, sc.restarts)
        if gen != self._gobgpd:  # a new gobgpd has every peer enabled again (as the peers reconciler adds them)
            self._gobgpd = gen
            self._applied.clear()
        try:
            client = self.agent.client()
        except AgentError:
            return
        addrs = self._addrs()
        await _seed(client, self._applied, [a for a in addrs if self._want(a) is not None])
        for addr in addrs:
            want = self._want(addr)
            if want is None or addr not in self._applied or self._applied[addr] == want:
                continue  # no verdict yet, not in gobgpd yet, or already so
            st = self.monitor.states[addr]
            if not await _set_session(client, addr, want, "liveness"):
                continue
            self._applied[addr] = want
            if not want:
                task = asyncio.create_task(self._measure(addr, st.since), name=f"liveness-moved-{addr}")
                self._measuring.add(task)
                task.add_done_callback(self._measuring.discard)

    def _rs_behind(self) -> bool:
        for mesh, rs in self.agent.route_servers.running.items():
            applied = self._rs_applied.get(mesh, (None, {}))[1]
            if any(self._want(a) not in (None, applied.get(a)) for a in self.monitor.states if a in rs.spec.peers):
                return True
        return False

    async def _apply_route_servers(self) -> None:
        """A route server disables a dead member's session too: that withdraws the member's paths from
        every client at once (the clients have no session to it, so their own probes cannot)."""
        running = self.agent.route_servers.running
        for mesh in list(self._rs_applied):
            if mesh not in running:
                del self._rs_applied[mesh]
        for mesh, rs in running.items():
            sc = rs.sidecar
            gen = (sc.pid, sc.restarts)
            old = self._rs_applied.get(mesh)
            applied = old[1] if old is not None and old[0] == gen else {}
            self._rs_applied[mesh] = (gen, applied)
            client = sc.client
            if client is None or not sc.ready.is_set():
                continue
            addrs = [a for a in self.monitor.states if a in rs.spec.peers]
            await _seed(client, applied, [a for a in addrs if self._want(a) is not None])
            for addr in addrs:
                want = self._want(addr)
                if want is None or addr not in applied or applied[addr] == want:
                    continue
                if not await _set_session(client, addr, want, f"liveness: route server {mesh}"):
                    continue
                applied[addr] = want

    async def _measure(self, addr: str, decided: float) -> None:
        """Time from the down verdict to no best path via the member, applied to kernel and WireGuard."""
        deadline = decided + _MOVE_TIMEOUT
        while any(bp.next_hop == addr for bp in self.agent.rib.best.values()):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.005)
        if not await self.agent.controller.wait_converged(max(0.1, deadline - time.monotonic())):
            return
        took = time.monotonic() - decided
        AGENT_METRICS.failover_seconds.labels("member_death").observe(took)
        log.info("paths via %s moved %.1f ms after its data plane was judged down", addr, took * 1000)

    # ----- views ----------------------------------------------------------------------------------

    def view(self, addr: str) -> dict[str, Any] | None:
        """The member's liveness for `peers` / `status` (None: not probed)."""
        st = self.monitor.states.get(addr)
        if st is None:
            return None
        now, wall = time.monotonic(), time.time()
        rtt = self.monitor.rtt.get(addr)
        return {
            "state": st.verdict.value,
            "since": rfc3339(wall - (now - st.since)),
            "for_seconds": round(now - st.since, 3),
            "rtt_seconds": round(rtt, 6) if rtt is not None else None,
            "transitions": st.transitions,
            "session_enabled": self._applied.get(addr),
        }

    def summary(self) -> dict[str, Any]:
        counts = {v.value: 0 for v in Verdict}
        for st in self.monitor.states.values():
            counts[st.verdict.value] += 1
        return {"error": self.monitor.error, "members": counts}


async def _seed(client: GobgpClient, applied: dict[str, bool], addrs: list[str]) -> None:
    """Record what gobgpd has for the sessions `applied` knows nothing of yet: a new gobgpd has every peer
    enabled, an adopted one what the last agent set. Enabling an enabled peer is not a no-op in gobgpd
    (speaker.enable_peer), and a peer not added yet is left until it is."""
    if all(a in applied for a in addrs):
        return
    try:
        infos = await speaker.list_peer_info(client, timeout=2.0)
    except AgentError as e:
        log.debug("liveness: cannot list gobgpd's peers yet: %s", e)
        return
    for a in addrs:
        info = infos.get(a)
        if a not in applied and info is not None:
            applied[a] = not info.admin_down


async def _set_session(client: GobgpClient, addr: str, enabled: bool, who: str) -> bool:
    """Enable or disable one session; False (logged) when gobgpd refuses it for now."""
    try:
        if enabled:
            await speaker.enable_peer(client, addr)
        else:
            await speaker.disable_peer(client, addr, _COMMUNICATION)
    except AgentError as e:
        log.warning("%s: cannot %s the session to %s yet: %s", who, "enable" if enabled else "disable", addr, e)
        return False
    return True
