"""Composition root and lifecycle of one agent process.

startup: load config + objects, start gobgpd (adopt a configured one), health engine, controller, API.
run:     one TaskGroup; a task that dies takes the process down (crash-only; systemd restarts it).
stop:    SIGTERM withdraws every announcement and waits until peers no longer receive them, then stops
         gobgpd, so traffic moves in milliseconds instead of after the hold time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from .. import GOBGP_VERSION, __version__
from ..aioutil import gc_paused
from ..config import AgentConfig, load_config
from ..config.schema import WG_PREFIX
from ..desired import Desired, DrainPhase, PathSpec, desired
from ..errors import AgentError, ConfigError, SidecarError
from ..fib import BestPath, Fib, MemberRef, mesh_members
from ..gobgp import speaker
from ..gobgp.client import GobgpClient
from ..gobgp.policy import reconcile_policies
from ..gobgp.sidecar import Sidecar, find_gobgpd
from ..gobgp.watch import watch_best
from ..health.engine import HealthEngine
from ..mesh_policy import mesh_policies
from ..metrics import AGENT_METRICS
from ..netlink.addrs import LoopbackAddrs
from ..netlink.routes import KernelRoutes, Route
from ..netlink.routes import diff as routes_diff
from ..netlink.sysctl import enable_forwarding
from ..objects.store import ObjectStore
from ..policy.model import PolicyAssignment
from ..policy.translate import DesiredPolicies, translate
from ..transit import Liveness, LivenessParams, PeerSample, choose_carriers, initial_liveness, step_liveness
from ..wg.keys import public_key
from ..wg.port import PeerSpec as WgPeerSpec
from ..wg.port import WireGuardBackend
from ..wg.select import open_backend
from .controller import Controller
from .fibsync import FibSync
from .views import AgentViews

__all__ = ["Agent"]

log = logging.getLogger("durantic.agent")

# A check's state decides which paths are announced; "policies" recomputes the desired state they read.
_HEALTH_RECONCILERS = frozenset({"policies", "paths"})


class Agent:
    def __init__(self, config_path: Path, cfg: AgentConfig) -> None:
        self.config_path = config_path
        self.cfg = cfg
        self.started_at = time.time()
        self.store = ObjectStore(cfg.state_dir, peer_names=self.peer_names)
        self.controller = Controller(
            [
                ("policies", self._reconcile_policies),
                ("paths", self._reconcile_paths),
                # WireGuard before peers: mesh sessions bind to the interface and ride the tunnel
                ("wireguard", self._reconcile_wireguard),
                ("peers", self._reconcile_peers),
                ("vips", self._reconcile_vips),
                ("fib", self._reconcile_fib),
            ]
        )
        self.health = HealthEngine(on_change=lambda: self.controller.wake(only=_HEALTH_RECONCILERS))
        self.sidecar = Sidecar(
            find_gobgpd(cfg.gobgpd.path),
            cfg.runtime_dir / "gobgpd",
            self._on_gobgpd_ready,
            log_level=cfg.gobgpd.log_level,
        )
        self.loopback = LoopbackAddrs(proto=cfg.fib.route_protocol)
        self.kernel_routes = KernelRoutes(proto=cfg.fib.route_protocol)
        self.wg: WireGuardBackend | None = None
        self.private_keys: dict[str, str] = {}  # mesh name -> base64 private key
        self.own_public_keys: dict[str, str] = {}
        self.members: dict[str, MemberRef] = {}
        self.best: dict[str, BestPath] = {}
        self.fib = Fib()
        self.liveness: dict[str, Liveness] = {}  # member mesh address -> direct-path liveness
        self.carriers: dict[str, str] = {}  # member mesh address -> relay (members not Direct only)
        self._wg_ready: set[str] = set()
        self._wg_applied: dict[str, dict[str, WgPeerSpec]] = {}
        self._routes_applied: dict[str, Route] | None = None
        self._routes_task: asyncio.Task[int] | None = None  # kernel routes being written (see _start_routes)
        self._fib_sync = FibSync()  # what changed since the FIB was computed / applied (incremental passes)
        self._policies_applied: DesiredPolicies | None = None
        self._vips_applied: set[str] | None = None
        self.passwords: dict[str, str] = {}
        self.drain = DrainPhase.NONE
        self.stopping = False
        self._paths_applied: dict[str, PathSpec] | None = None  # None = unknown (fresh gobgpd / adopted)
        self._local_restarting = False
        self._running_marker = cfg.state_dir / "running"
        self._stop = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self.last_desired = Desired()
        self._drain_task: asyncio.Task[None] | None = None

    # ----- inputs -------------------------------------------------------------------------------

    def peer_names(self) -> set[str]:
        names = {n.name for n in self.cfg.neighbors}
        for mesh in self.cfg.meshes:
            names.update(m.name for m in mesh.members or [])
        return names

    def _read_passwords(self, cfg: AgentConfig) -> dict[str, str]:
        out = {}
        for i, n in enumerate(cfg.neighbors):
            if n.password_file is not None:
                try:
                    out[n.name] = n.password_file.read_text().strip()
                except OSError as e:
                    raise ConfigError(
                        [f"neighbors[{i}].password_file: {str(n.password_file)!r} cannot be read: {e.strerror}"]
                    ) from None
        return out

    def compute_desired(self) -> Desired:
        d = desired(
            self.cfg,
            self.store.state,
            self.health.passing,
            drain=self.drain,
            passwords=self.passwords,
            stopping=self.stopping,
        )
        self.last_desired = d
        return d

    def global_spec(self) -> speaker.GlobalSpec:
        b = self.cfg.bgp
        addrs = tuple(str(a) for a in b.listen_addresses) if b.listen_addresses else ()
        return speaker.GlobalSpec(self.cfg.machine.asn, self.cfg.router_id, b.listen_port, addrs)

    # ----- gobgpd ---------------------------------------------------------------------------------

    async def _on_gobgpd_ready(self, client: GobgpClient, fresh: bool) -> None:
        cur = None if fresh else await speaker.current_global(client)
        want = self.global_spec()
        if cur is not None and (cur.asn, cur.router_id) != (want.asn, want.router_id):
            log.info("adopted gobgpd has asn %s / router id %s; restarting BGP with ours", cur.asn, cur.router_id)
            await speaker.stop_bgp(client)
            cur = None
        if cur is None:
            await speaker.start_bgp(client, want)
            # gobgpd lost everything: if the agent or gobgpd went down uncleanly, tell peers we restart
            # so they keep our routes (graceful restart) until EoR.
            self._local_restarting = self.sidecar.restarts > 0 or self._running_marker.exists()
            if self.sidecar.restarts:
                AGENT_METRICS.gobgpd_restarts.inc()
            self._paths_applied = {}
        else:
            self._paths_applied = None
        self._policies_applied = None
        self._running_marker.touch()
        self.controller.wake()

    def client(self) -> GobgpClient:
        c = self.sidecar.client
        if c is None or not self.sidecar.ready.is_set():
            raise SidecarError("gobgpd is not ready")
        return c

    # ----- reconcilers ----------------------------------------------------------------------------

    async def _reconcile_policies(self) -> int:
        d = self.compute_desired()
        st = self.store.state
        assignment = PolicyAssignment(
            import_policies=st.import_policies,
            export_policies=st.export_policies,
            default_import=st.default_import,
            default_export=st.default_export,
        )
        neighbors: dict[str, list[str]] = {}
        for addr, spec in d.peers.items():
            neighbors.setdefault(spec.name, []).append(addr)
        mesh = mesh_policies(self.members)
        want = translate(
            st.policy_sets,
            assignment,
            my_asn=self.cfg.machine.asn,
            neighbors=neighbors,
            agent_defined_sets=mesh.defined_sets,
            agent_import=mesh.import_policies,
            agent_export=mesh.export_policies,
        )
        if want == self._policies_applied:
            return 0
        change = await reconcile_policies(self.client(), want)
        self._policies_applied = want
        if change.import_changed and self._paths_applied:
            self._paths_applied = {}  # local paths meet the import policy only when added: re-add them
        return (
            len(change.added_sets)
            + len(change.deleted_sets)
            + len(change.added_policies)
            + int(change.import_changed or change.export_changed)
        )

    async def _reconcile_paths(self) -> int:
        d = self.last_desired
        client = self.client()
        applied = self._paths_applied
        if applied is None:
            # Adopted gobgpd: re-add what we want (replacing is harmless) and drop local paths we don't.
            present = await speaker.list_local_paths(client)
            stale = [PathSpec(prefix=p) for p in present if p not in d.paths]
            await speaker.delete_paths(client, stale)
            await speaker.add_paths(client, d.paths.values())
            self._paths_applied = dict(d.paths)
            return len(stale) + len(d.paths)
        remove = [s for p, s in applied.items() if p not in d.paths]
        add = [s for p, s in d.paths.items() if p not in applied or applied[p].attrs() != s.attrs()]
        if remove:
            await speaker.delete_paths(client, remove)
            for s in remove:
                applied.pop(s.prefix, None)
        if add:
            await speaker.add_paths(client, add)
            for s in add:
                applied[s.prefix] = s
        self._observe_changes(remove, add)
        return len(remove) + len(add)

    def _observe_changes(self, removed: list[PathSpec], added: list[PathSpec]) -> None:
        now = time.monotonic()
        checked = set(self.health.names())
        for spec, action in [(s, "withdrawn") for s in removed] + [(s, "announced") for s in added]:
            if not spec.owner or spec.owner.startswith("mesh:"):
                continue
            AGENT_METRICS.announcement_change(spec.owner, action == "announced")
            if spec.owner in checked:
                decided = self.health.status(spec.owner).decided_at_monotonic
                if decided is not None and now - decided < 60:
                    AGENT_METRICS.failover_seconds.observe(now - decided)
                    log.info("%s %s %.1f ms after the deciding probe", spec.owner, action, (now - decided) * 1000)

    async def _reconcile_peers(self) -> int:
        d = self.last_desired
        client = self.client()
        current = await speaker.list_owned_peers(client)
        changes = 0
        for addr, fp in current.items():
            spec = d.peers.get(addr)
            if spec is None or spec.fingerprint() != fp:
                await speaker.delete_peer(client, addr)
                changes += 1
        for addr, spec in d.peers.items():
            if current.get(addr) != spec.fingerprint():
                await speaker.add_peer(client, spec, local_restarting=self._local_restarting)
                changes += 1
        return changes

    def _load_keys(self, cfg: AgentConfig) -> tuple[dict[str, str], dict[str, str]]:
        priv, pub = {}, {}
        for i, mesh in enumerate(cfg.meshes):
            try:
                key = mesh.private_key_file.read_text().strip()
                pk = public_key(key)
            except (OSError, ValueError) as e:
                why = e.strerror if isinstance(e, OSError) else "is not a WireGuard private key"
                raise ConfigError([f"meshes[{i}].private_key_file: {str(mesh.private_key_file)!r} {why}"]) from None
            for j, m in enumerate(mesh.members or []):
                if m.public_key == pk and m.address != mesh.address.ip:
                    raise ConfigError(
                        [
                            f"meshes[{i}].members[{j}].address: {str(m.address)!r} has this machine's key "
                            f"but this machine's mesh address is {mesh.address.ip}"
                        ]
                    )
            priv[mesh.name], pub[mesh.name] = key, pk
        return priv, pub

    def _wg_restarted(self, ifname: str) -> None:
        self._wg_ready.discard(ifname)
        self._wg_applied.pop(ifname, None)
        self.controller.wake()

    def compute_fib(self) -> Fib:
        with gc_paused():
            self.fib = self._fib_sync.compute(self.fib, self.cfg, self.best, self.members, self.carriers)
        return self.fib

    async def _reconcile_wireguard(self) -> int:
        fib = self.compute_fib()
        self._start_routes()
        # every peer's spec is built before the first await, so the pending changes are consumed whole
        pending = self._fib_sync.take_peers()
        specs = {
            mesh.ifname: {
                m.public_key: WgPeerSpec(
                    public_key=m.public_key,
                    endpoint=m.endpoint,
                    allowed_ips=self._fib_sync.peer_allowed(
                        (mesh.ifname, m.public_key), pending, fib.allowed.get(mesh.ifname, {})
                    ),
                    persistent_keepalive=mesh.persistent_keepalive,
                )
                for m in mesh.members or []
                if m.public_key != self.own_public_keys.get(mesh.name)
            }
            for mesh in self.cfg.meshes
        }
        if self.wg is None:
            return 0
        changes = 0
        wanted = {m.ifname for m in self.cfg.meshes}
        for ifname in await self.wg.interfaces():
            if ifname not in wanted:
                await self.wg.delete_interface(ifname)
                self._wg_ready.discard(ifname)
                self._wg_applied.pop(ifname, None)
                changes += 1
        for mesh in self.cfg.meshes:
            if mesh.ifname not in self._wg_ready:
                await self.wg.ensure_interface(
                    mesh.ifname, self.private_keys[mesh.name], mesh.listen_port, str(mesh.address)
                )
                self._wg_ready.add(mesh.ifname)
                self._wg_applied.pop(mesh.ifname, None)
                changes += 1
            peers = specs[mesh.ifname]
            if self._wg_applied.get(mesh.ifname) != peers:
                await self.wg.set_peers(mesh.ifname, peers)
                self._wg_applied[mesh.ifname] = peers
                changes += 1
        return changes

    def _start_routes(self) -> None:
        """Starts writing the kernel routes of the FIB just computed, for _reconcile_fib to collect: the
        kernel's share (most of a 50k-route install) runs in a worker thread without the GIL while the
        WireGuard pass builds and writes the AllowedIPs, instead of after it."""
        if self._routes_task is None and self.cfg.fib.enabled and self._fib_sync.routes_pending != set():
            self._routes_task = asyncio.create_task(self._apply_routes(), name="kernel-routes")

    async def _reconcile_fib(self) -> int:
        task, self._routes_task = self._routes_task, None
        changes = await task if task is not None else 0
        return changes + await self._apply_routes()

    async def _apply_routes(self) -> int:
        pending = self._fib_sync.take_routes()
        if not self.cfg.fib.enabled or self.stopping:
            self._fib_sync.routes_pending = None
            return 0
        want = self.fib.routes
        current = self._routes_applied
        try:
            if current is None:
                current = await self.kernel_routes.dump()
                pending = None
            # only the destinations that changed since the last pass, unless that is unknown
            with gc_paused():
                to_replace, to_delete = routes_diff(want, current, pending)
            if to_delete:
                await self.kernel_routes.delete(to_delete)
            if to_replace:
                await self.kernel_routes.replace(to_replace)
        except BaseException:
            self._fib_sync.routes_pending = None  # partly applied, perhaps: diff everything next time
            raise
        if pending is None or self._routes_applied is None:
            self._routes_applied = dict(want)
        else:
            applied = self._routes_applied
            for dst in pending:
                if (r := want.get(dst)) is None:
                    applied.pop(dst, None)
                else:
                    applied[dst] = r
        return len(to_replace) + len(to_delete)

    async def _watch_rib(self) -> None:
        """Keeps `self.best` equal to gobgpd's best paths; resubscribes after a gobgpd restart."""
        while True:
            await self.sidecar.ready.wait()
            client = self.sidecar.client
            if client is None:
                await asyncio.sleep(0.05)
                continue
            try:
                seen = 0
                sync = self._fib_sync
                async for init, changes in watch_best(client, known=lambda: self.best):
                    if init:
                        self.best = {}
                        sync.best_reset()
                    for bp, withdrawn in changes:
                        if withdrawn:
                            self.best.pop(bp.prefix, None)
                            sync.best_change(bp.prefix, None)
                        else:
                            self.best[bp.prefix] = bp
                            sync.best_change(bp.prefix, bp)
                    self.controller.wake_batched()
                    seen += len(changes)
                    if seen >= 512:
                        # A backlog of buffered events is read without ever suspending: yield now and
                        # then so the API and the reconcilers are not starved during a burst.
                        seen = 0
                        await asyncio.sleep(0)
            except SidecarError as e:
                log.debug("best-path watch ended: %s", e)
            await asyncio.sleep(0.05)

    # ----- transit ----------------------------------------------------------------------------------

    def _transit_poll(self) -> float:
        """Half a keepalive interval: a silence is seen at most half an interval late, and a 30-member
        mesh does not spend a core re-reading every WireGuard peer (measured at keepalive/8)."""
        kas = [m.persistent_keepalive for m in self.cfg.meshes if m.persistent_keepalive > 0]
        return max(0.25, min(kas) / 2) if kas else 1.0

    async def _watch_transit(self) -> None:
        """Samples each member's direct WireGuard peer, and wakes the controller only when a member's
        carrier (itself or a relay) changes."""
        views = AgentViews(self)
        while True:
            await asyncio.sleep(self._transit_poll())
            try:
                await self._transit_tick(views)
            except (AgentError, OSError) as e:
                log.debug("transit: %s", e)

    async def _transit_tick(self, views: AgentViews) -> None:
        self.liveness = await self._sample_liveness()
        direct = {a for a, lv in self.liveness.items() if lv.direct}
        not_direct = [a for a, lv in self.liveness.items() if not lv.direct]
        paths = {}
        for addr in not_direct:  # usually none: ListPath only for members that need a relay
            host = f"{addr}/128" if ":" in addr else f"{addr}/32"
            paths[addr] = [p for dest in await views.destinations(host) for p in dest]
        carriers = choose_carriers(not_direct, paths, direct, self.cfg.machine.asn)
        if carriers != self.carriers:
            self._count_switches(carriers)
            self.carriers = carriers
            self.controller.wake()

    async def _sample_liveness(self) -> dict[str, Liveness]:
        assert self.wg is not None
        now, wall = time.monotonic(), time.time()
        endpoints = {str(m.address): m.endpoint for mesh in self.cfg.meshes for m in mesh.members or []}
        liveness: dict[str, Liveness] = {}
        for mesh in self.cfg.meshes:
            if mesh.persistent_keepalive == 0:
                continue  # nothing probes an idle direct path: every member counts as Direct
            # floor: while Direct, the member's BGP keepalives alone arrive this often
            params = LivenessParams(
                float(mesh.persistent_keepalive),
                fall=mesh.silent_keepalives,
                min_silence=float(self.cfg.bgp.keepalive),
            )
            dev = await self.wg.device(mesh.ifname, allowed_ips=False)
            for addr, ref in self.members.items():
                if ref.ifname != mesh.ifname:
                    continue
                prev = self.liveness.get(addr) or initial_liveness(endpoints.get(addr) is not None, now)
                ps = dev.peers.get(ref.public_key)
                sample = None
                if ps is not None:
                    age = wall - ps.last_handshake if ps.last_handshake else None
                    sample = PeerSample(ps.rx_bytes, age)
                liveness[addr] = step_liveness(prev, sample, now, params)
        return liveness

    def _count_switches(self, carriers: dict[str, str]) -> None:
        names = {a: r.name for a, r in self.members.items()}
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

    async def _reconcile_vips(self) -> int:
        """Every VIP of this machine is on `lo` (announced or not), so local services can bind it;
        removed when its announcement is deleted, and on a planned stop."""
        wanted = set() if self.stopping else set(self.last_desired.vips)
        before = self._vips_applied
        if before is None:  # first pass: read back what an earlier run left marked on lo
            before = await self.loopback.owned()
        if before != wanted:
            await self.loopback.ensure(wanted)
        self._vips_applied = wanted
        return len(before ^ wanted)

    # ----- operations (API) -------------------------------------------------------------------------

    async def reload(self) -> None:
        """Re-read agent.yaml; refuse (and keep running as before) if it is invalid."""
        cfg = await asyncio.to_thread(load_config, self.config_path)
        passwords = self._read_passwords(cfg)
        priv, pub = self._load_keys(cfg)
        if cfg.meshes and self.wg is None:
            raise ConfigError(["meshes: adding the first mesh needs an agent restart"])
        if cfg.machine.asn != self.cfg.machine.asn or cfg.router_id != self.cfg.router_id:
            # A new identity needs a new BGP instance: restart BGP in gobgpd, re-push everything.
            client = self.client()
            self.cfg, self.passwords = cfg, passwords
            await speaker.stop_bgp(client)
            await self._on_gobgpd_ready(client, True)
        elif cfg.state_dir != self.cfg.state_dir or cfg.api != self.cfg.api:
            raise ConfigError(["state_dir/api changes need an agent restart"])
        self.cfg, self.passwords = cfg, passwords
        self.private_keys, self.own_public_keys = priv, pub
        self.members = mesh_members(cfg, pub)
        await self.controller.wait_converged()

    async def set_drain(self, drained: bool, grace: float) -> None:
        """drain: tag every announcement GRACEFUL_SHUTDOWN (RFC 8326) so peers move away, then withdraw after
        `grace` seconds. undrain: announce normally again. Persisted: a drained machine stays drained."""
        self.store.commit(self.store.state.model_copy(update={"drained": drained}))
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._drain_task = None
        if not drained:
            self.drain = DrainPhase.NONE
        else:
            self.drain = DrainPhase.TAGGING
            self._drain_task = asyncio.create_task(self._drain_after(grace), name="drain")
        await self.controller.wait_converged()

    async def _drain_after(self, grace: float) -> None:
        await asyncio.sleep(grace)
        self.drain = DrainPhase.WITHDRAWN
        self.controller.wake()

    def sync_health(self) -> None:
        self.health.set_checks(
            {a.name: a.health_check for a in self.store.state.announcements if a.health_check is not None}
        )
        for a in self.store.state.announcements:
            if a.health_check is not None:
                if a.enabled:
                    self.health.enable(a.name)
                else:
                    self.health.disable(a.name)

    def objects_changed(self) -> None:
        self.sync_health()
        self.controller.wake()

    def status(self) -> dict[str, Any]:
        return {
            "machine": {
                "name": self.cfg.machine.name,
                "asn": self.cfg.machine.asn,
                "router_id": self.cfg.router_id,
            },
            "version": __version__,
            "gobgpd": {
                "version": GOBGP_VERSION,
                "pid": self.sidecar.pid,
                "restarts": self.sidecar.restarts,
                "ready": self.sidecar.ready.is_set(),
                "started_at": self.sidecar.started_at,
            },
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started_at, 3),
            "drain": self.drain.value,
            "reconcile": {
                n: {"ok": r.ok, "error": r.error, "changed": r.changed, "at": r.at, "seconds": round(r.seconds, 4)}
                for n, r in self.controller.results.items()
            },
        }

    # ----- lifecycle --------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload_requested.set()

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_requested.wait()
            self._reload_requested.clear()
            try:
                await self.reload()
                log.info("config reloaded")
            except (AgentError, OSError) as e:
                log.error("reload refused, keeping the running config: %s", e)

    async def _withdraw_all(self, timeout: float = 3.0) -> None:
        self.stopping = True
        try:
            await self.controller.wait_converged(timeout)
            await self._wait_withdrawn(timeout)
        except (AgentError, OSError) as e:
            log.warning("could not withdraw cleanly before stopping: %s", e)

    async def _wait_withdrawn(self, timeout: float) -> None:
        """Until gobgpd has written our withdrawals to every established session (or timeout).

        DeletePath queues the WITHDRAW on each session synchronously; an empty output queue means it is
        on the wire, ahead of the Cease that stopping gobgpd sends next on the same TCP stream. Two empty
        polls in a row guard against a queue that is being refilled.
        """
        client = self.client()
        deadline = time.monotonic() + timeout
        empty = 0
        while time.monotonic() < deadline:
            infos = await speaker.list_peer_info(client)
            if all(i.out_queue == 0 or i.state != "established" for i in infos.values()):
                empty += 1
                if empty >= 2:
                    return
            else:
                empty = 0
            await asyncio.sleep(0.01)
        log.warning("withdrawals still queued after %.1fs; stopping anyway", timeout)

    async def run(self) -> int:
        from ..api.server import ApiServer

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self.passwords = self._read_passwords(self.cfg)
        self.private_keys, self.own_public_keys = self._load_keys(self.cfg)
        self.members = mesh_members(self.cfg, self.own_public_keys)
        self.store.load()
        if self.cfg.meshes:
            self.wg = await open_backend(
                self.cfg.wireguard.backend,
                WG_PREFIX,
                str(self.cfg.wireguard.wireguard_go) if self.cfg.wireguard.wireguard_go else None,
                on_restart=self._wg_restarted,
            )
            await enable_forwarding()
        self.drain = DrainPhase.WITHDRAWN if self.store.state.drained else DrainPhase.NONE
        self.cfg.runtime_dir.mkdir(parents=True, exist_ok=True)
        api = ApiServer(self)
        await self.sidecar.start()
        self.sync_health()
        await self.health.start()
        await api.start()
        # Everything built so far (config, objects, stubs, checks) lives for the whole run: keep it out of
        # the cyclic collector, whose full passes over it showed up as 100+ ms probe delays at 1,000 checks.
        gc.collect()
        gc.freeze()
        log.info(
            "agent %s up: asn %s, router id %s, gobgpd pid %s",
            self.cfg.machine.name,
            self.cfg.machine.asn,
            self.cfg.router_id,
            self.sidecar.pid,
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self.sidecar.run(), name="sidecar"),
                    tg.create_task(self.controller.run(), name="controller"),
                    tg.create_task(self._reload_loop(), name="reload"),
                    tg.create_task(self._watch_rib(), name="rib-watch"),
                ]
                if self.wg is not None:
                    tasks.append(tg.create_task(self._watch_transit(), name="transit"))
                await self._stop.wait()
                log.info("stopping: withdrawing announcements first")
                await self._withdraw_all()
                for t in tasks:
                    t.cancel()
        finally:
            await api.stop()
            await self.health.stop()
            await self.sidecar.stop()
            await self.loopback.close()
            if self._routes_task is not None:  # its worker thread is using the socket
                await asyncio.gather(self._routes_task, return_exceptions=True)
            await self.kernel_routes.close()
            if self.wg is not None:
                await self.wg.close()
            with contextlib.suppress(FileNotFoundError):
                self._running_marker.unlink()
        log.info("stopped")
        return 0
