"""Composition root and lifecycle of one agent process.

startup: load config + objects, start gobgpd (adopt a configured one), health engine, controller, API.
run:     one TaskGroup; a task that dies takes the process down (crash-only; systemd restarts it).
stop:    SIGTERM withdraws every announcement and waits until peers no longer receive them, then stops
         gobgpd, so traffic moves in milliseconds instead of after the hold time.

The work itself is elsewhere: what is wanted (desired.py, fib.py, policy/translate.py, mesh_policy.py),
one reconciler per kind of state (reconcilers/), the best-path watch (ribwatch.py), transit (transitmon.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import GOBGP_VERSION, __version__
from ..aioutil import gc_paused
from ..config import AgentConfig, load_config
from ..config.schema import WG_PREFIX
from ..core.policies import PolicyChange, PolicyProgram
from ..core.probe import probe_address
from ..core.types import MemberRef, PathSpec
from ..desired import Desired, DrainPhase, desired
from ..errors import AgentError, ConfigError, SidecarError
from ..fib import Fib, mesh_members
from ..files import FileProblem, lock_dir, read_secret
from ..gobgp import speaker
from ..gobgp.client import GobgpClient
from ..gobgp.port import GobgpSpeaker
from ..gobgp.sidecar import Sidecar, find_gobgpd
from ..health.engine import HealthEngine
from ..health.fsm import Transition, is_failover
from ..limits import raise_nofile_limit
from ..liveness.direct import DirectProbe
from ..mesh_policy import mesh_policies
from ..metrics import AGENT_METRICS
from ..netlink.addrs import LoopbackAddrs
from ..netlink.routes import KernelRoutes
from ..netlink.sysctl import enable_forwarding
from ..objects.store import ObjectStore
from ..peer_policy import neighbour_defaults, peer_policies
from ..policy.model import PolicyAssignment
from ..policy.translate import translate
from ..timefmt import age_seconds, rfc3339
from ..topology import route_server_addresses
from ..wg.keys import public_key
from ..wg.port import WireGuardBackend
from ..wg.select import open_backend
from .controller import Controller
from .fibsync import FibSync
from .liveness import MemberLiveness
from .reconcilers.paths import PathsReconciler
from .reconcilers.peers import PeersReconciler
from .reconcilers.policies import PoliciesReconciler
from .reconcilers.routes import RoutesReconciler
from .reconcilers.vips import VipsReconciler
from .reconcilers.wireguard import WireGuardReconciler
from .restarthold import RestartHold
from .ribwatch import RibWatch
from .routeservers import RouteServersReconciler
from .transitmon import TransitMonitor
from .views import AgentViews
from .wanted import Wanted, WgInterface, WgMember

if TYPE_CHECKING:
    from ..api.server import ApiServer

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
        self.health = HealthEngine(on_change=lambda: self.controller.wake(only=_HEALTH_RECONCILERS))
        self.sidecar = Sidecar(
            find_gobgpd(cfg.gobgpd.path),
            cfg.runtime_dir / "gobgpd",
            self._on_gobgpd_ready,
            log_level=cfg.gobgpd.log_level,
            start_timeout=cfg.gobgpd.start_timeout,
        )
        self.speaker = GobgpSpeaker(self.client)
        self.loopback = LoopbackAddrs(proto=cfg.fib.route_protocol)
        self.kernel_routes = KernelRoutes(proto=cfg.fib.route_protocol)
        self.wg: WireGuardBackend | None = None
        self.private_keys: dict[str, str] = {}  # mesh name -> base64 private key
        self.own_public_keys: dict[str, str] = {}
        self.members: dict[str, MemberRef] = {}
        self.fib = Fib()
        self.fib_sync = FibSync()  # what changed since the FIB was computed / applied (incremental passes)
        self.rib = RibWatch(self.sidecar, self.fib_sync, lambda: self.controller.wake_batched())
        self.transit: TransitMonitor | None = None
        self.direct_probe = DirectProbe()  # transit's echoes across each direct tunnel
        self.passwords: dict[str, str] = {}
        self.drain = DrainPhase.NONE
        self.stopping = False
        self.last_desired = Desired()
        self._local_restarting = False
        self._running_marker = cfg.state_dir / "running"
        self._stop = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._reset_in_task: asyncio.Task[None] | None = None
        self._locks: list[int] = []  # runtime_dir (and state_dir) locks, held for the agent's life
        self.api_server: ApiServer | None = None
        self.member_liveness = MemberLiveness(self)
        self.views = AgentViews(self)  # the read side: CLI/API rows, the web page, /metrics peer series
        self._failovers_seen: dict[str, float] = {}  # announcement -> decision already measured

        self.paths = PathsReconciler(self.speaker, observe=self._observe_changes)
        self.policies = PoliciesReconciler(self.speaker, on_change=self._policies_changed)
        # kernel routes and AllowedIPs a previous run left stay until gobgpd has restarted (restarthold.py)
        self.restart_hold = RestartHold()
        self.wireguard = WireGuardReconciler(self.fib_sync, WG_PREFIX, hold=self.restart_hold.active)
        self.peers = PeersReconciler(self.speaker, lambda: self._local_restarting)
        self.vips = VipsReconciler(self.loopback)
        self.routes = RoutesReconciler(self.kernel_routes, self.fib_sync, hold=self.restart_hold.active)
        self.route_servers = RouteServersReconciler(
            lambda: self.sidecar.binary,
            lambda: self.cfg.runtime_dir,
            lambda: self.cfg.gobgpd,
            lambda: self.controller.wake(only={"route-servers"}),
        )
        self.controller: Controller[Wanted] = Controller(
            # policies before paths, so a new path meets the policy it is meant to; WireGuard before
            # peers: mesh sessions bind to the interface and ride the tunnel; route servers listen on it
            [self.policies, self.paths, self.wireguard, self.peers, self.route_servers, self.vips, self.routes],
            self._compute,
            resync_interval=cfg.resync_interval,
        )
        AGENT_METRICS.known_reconcilers(r.name for r in self.controller.reconcilers)

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
                field = f"neighbors[{i}].password_file"
                try:
                    out[n.name] = read_secret(n.password_file, field)
                except FileProblem as e:
                    raise ConfigError([str(e)]) from None
                except OSError as e:
                    raise ConfigError([f"{field}: {str(n.password_file)!r} cannot be read: {e.strerror}"]) from None
        return out

    def _load_keys(self, cfg: AgentConfig) -> tuple[dict[str, str], dict[str, str]]:
        priv, pub = {}, {}
        for i, mesh in enumerate(cfg.meshes):
            try:
                key = read_secret(mesh.private_key_file, f"meshes[{i}].private_key_file")
                pk = public_key(key)
            except FileProblem as e:
                raise ConfigError([str(e)]) from None
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

    # ----- what one pass wants ------------------------------------------------------------------

    def _compute(self) -> Wanted:
        d = desired(
            self.cfg,
            self.store.state,
            self.health.passing,
            drain=self.drain,
            passwords=self.passwords,
            stopping=self.stopping,
        )
        self.last_desired = d
        carriers = self.transit.carriers if self.transit is not None else {}
        with gc_paused():
            self.fib = self.fib_sync.compute(self.fib, self.cfg, self.rib.best, self.members, carriers)
        return Wanted(
            desired=d,
            policies=self._policies(d),
            fib=self.fib,
            interfaces=self._interfaces(),
            fib_enabled=self.cfg.fib.enabled and not self.stopping,
        )

    def _policies(self, d: Desired) -> PolicyProgram:
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
        rs = [a for m in self.cfg.meshes for a in route_server_addresses(m)]
        mesh = mesh_policies([*self.members, *rs], route_servers=rs)
        hostile = peer_policies(self.restricted_members(), self.no_default_route_from())
        nb = neighbour_defaults(
            [str(n.address) for n in self.cfg.neighbors if n.import_ == "reject"],
            [str(n.address) for n in self.cfg.neighbors if n.export == "own"],
        )
        return translate(
            st.policy_sets,
            assignment,
            my_asn=self.cfg.machine.asn,
            neighbors=neighbors,
            agent_defined_sets=[*hostile.defined_sets, *mesh.defined_sets, *nb.defined_sets],
            agent_import=[*hostile.import_policies, *mesh.import_policies],
            agent_export=mesh.export_policies,
            agent_import_last=nb.import_policies,
            agent_export_last=nb.export_policies,
        )

    def restricted_members(self) -> dict[str, tuple[str, list[str]]]:
        """Mesh address -> (name, allowed_prefixes) of every other member that has allowed_prefixes."""
        return {
            str(m.address): (m.name, [str(n) for n in m.allowed_prefixes])
            for mesh in self.cfg.meshes
            for m in mesh.members or []
            if m.allowed_prefixes is not None and str(m.address) in self.members
        }

    def no_default_route_from(self) -> list[str]:
        """Addresses of the external neighbours whose default route is rejected on import."""
        return [str(n.address) for n in self.cfg.neighbors if not n.accept_default_route]

    def _interfaces(self) -> dict[str, WgInterface]:
        return {
            mesh.ifname: WgInterface(
                ifname=mesh.ifname,
                private_key=self.private_keys.get(mesh.name, ""),
                listen_port=mesh.listen_port,
                address=str(mesh.address),
                members=tuple(
                    WgMember(m.public_key, m.endpoint, mesh.persistent_keepalive)
                    for m in mesh.members or []
                    if m.public_key != self.own_public_keys.get(mesh.name)
                ),
            )
            for mesh in self.cfg.meshes
        }

    def _policies_changed(self, change: PolicyChange) -> None:
        if change.import_changed:
            self.paths.replay()  # local paths meet the import policy only when added
            # received routes too: gobgpd applies a new import policy to its Adj-RIB-In only on a soft reset
            self._reset_in_task = asyncio.get_running_loop().create_task(self._soft_reset_in(), name="reset-in")

    async def _soft_reset_in(self) -> None:
        client = self.sidecar.client
        if client is None:
            return
        try:
            for addr, info in (await speaker.list_peer_info(client, timeout=5.0)).items():
                if info.state == "established":
                    await speaker.soft_reset_in(client, addr)
        except AgentError as e:
            log.warning("could not re-apply the import policy to the received routes: %s", e)

    def _observe_changes(self, removed: Sequence[PathSpec], added: Sequence[PathSpec]) -> None:
        now = time.monotonic()
        checked = set(self.health.names())
        for spec, action in [(s, "withdrawn") for s in removed] + [(s, "announced") for s in added]:
            if not spec.owner or spec.owner.startswith("mesh:"):
                continue
            AGENT_METRICS.announcement_change(spec.owner, action == "announced")
            if spec.owner in checked and self.drain is DrainPhase.NONE and not self.stopping:
                st = self.health.status(spec.owner)
                decided = st.decided_at_monotonic
                if decided is None or now - decided >= 60 or self._failovers_seen.get(spec.owner) == decided:
                    continue
                if is_failover([Transition(r.from_state, r.to_state) for r in st.recent], action == "announced"):
                    self._failovers_seen[spec.owner] = decided
                    AGENT_METRICS.failover_seconds.labels("health_check").observe(now - decided)
                    log.info("%s %s %.1f ms after the deciding probe", spec.owner, action, (now - decided) * 1000)

    # ----- gobgpd ---------------------------------------------------------------------------------

    def global_spec(self) -> speaker.GlobalSpec:
        b = self.cfg.bgp
        addrs = tuple(str(a) for a in b.listen_addresses) if b.listen_addresses else ()
        return speaker.GlobalSpec(self.cfg.machine.asn, self.cfg.router_id, b.listen_port, addrs)

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
            if self._local_restarting:
                self.restart_hold.begin(self.cfg.bgp.restart_time)
            if self.sidecar.restarts:
                AGENT_METRICS.gobgpd_restarts.inc()
        self.paths.forget(empty=cur is None)
        self.policies.forget()
        self.peers.forget()
        try:
            self._running_marker.touch()
        except OSError as e:  # a full state disk must not stop BGP; only a restart's GR hint is lost
            log.warning("cannot mark the state dir as running: %s", e.strerror)
        self.controller.wake()

    async def _peer_infos(self) -> dict[str, speaker.PeerInfo]:
        return await speaker.list_peer_info(self.client(), timeout=2.0)

    def _wanted_sessions(self) -> list[str]:
        """The sessions a restart hold waits for: a member whose data plane is down will not come back soon."""
        members = [a for a in self.members if not self.member_liveness.down(a)]
        return [*members, *(str(n.address) for n in self.cfg.neighbors)]

    def client(self) -> GobgpClient:
        c = self.sidecar.client
        if c is None or not self.sidecar.ready.is_set():
            raise SidecarError("gobgpd is not ready")
        return c

    def _wg_restarted(self, ifname: str) -> None:
        self.wireguard.forget(ifname)
        self.controller.wake()

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
        self.controller.resync_interval = cfg.resync_interval
        AGENT_METRICS.known_members(ref.name for ref in self.members.values())
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
        AGENT_METRICS.known_announcements(a.name for a in self.store.state.announcements)
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
        now = time.time()
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
                "started_at": rfc3339(self.sidecar.started_at),
                "responsive": self.sidecar.responsive,
                "unresponsive_since": rfc3339(self.sidecar.unresponsive_since),
                "missed_probes": self.sidecar.misses,
                "hung_kills": self.sidecar.hung_kills,
            },
            "pid": os.getpid(),
            "started_at": rfc3339(self.started_at),
            "uptime_seconds": age_seconds(self.started_at, now),
            "drain": self.drain.value,
            "liveness": self.member_liveness.summary(),
            "web": self.api_server.web_status() if self.api_server is not None else None,
            "meshes": self.mesh_status(),
            "route_servers": self.route_servers.view(),
            "reconcile": {
                n: {
                    "ok": r.ok,
                    "error": r.error,
                    "changed": r.changed,
                    "at": rfc3339(r.at),
                    "duration_seconds": round(r.seconds, 4),
                }
                for n, r in self.controller.results.items()
            },
        }

    def mesh_status(self) -> list[dict[str, Any]]:
        """Each mesh as configured and keyed: interface, own address and public key, member count."""
        return [
            {
                "name": mesh.name,
                "interface": mesh.ifname,
                "address": str(mesh.address),
                "listen_port": mesh.listen_port,
                "public_key": self.own_public_keys.get(mesh.name),
                "members": sum(1 for ref in self.members.values() if ref.ifname == mesh.ifname),
                "up": self.wireguard.is_ready(mesh.ifname),
                "probe_address": probe_address(str(mesh.address.ip)),
                "probe_error": self.direct_probe.error(mesh.ifname),
            }
            for mesh in self.cfg.meshes
        ]

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

        self._locks = [lock_dir(self.cfg.runtime_dir, "runtime_dir")]
        if self.cfg.state_dir.resolve() != self.cfg.runtime_dir.resolve():
            self._locks.append(lock_dir(self.cfg.state_dir, "state_dir"))
        raise_nofile_limit()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self.passwords = self._read_passwords(self.cfg)
        self.private_keys, self.own_public_keys = self._load_keys(self.cfg)
        self.members = mesh_members(self.cfg, self.own_public_keys)
        AGENT_METRICS.known_members(ref.name for ref in self.members.values())
        self.store.load()
        if self.cfg.meshes:
            self.wg = await open_backend(
                self.cfg.wireguard.backend,
                WG_PREFIX,
                str(self.cfg.wireguard.wireguard_go) if self.cfg.wireguard.wireguard_go else None,
                on_restart=self._wg_restarted,
            )
            self.wireguard.backend = self.wg
            self.transit = TransitMonitor(
                lambda: self.cfg,
                lambda: self.members,
                self.wg,
                self.views.destinations,
                self.controller.wake,
                self.direct_probe.send,
            )
            await enable_forwarding()
        self.drain = DrainPhase.WITHDRAWN if self.store.state.drained else DrainPhase.NONE
        self.cfg.runtime_dir.mkdir(parents=True, exist_ok=True)
        api = self.api_server = ApiServer(self)
        await self.sidecar.start()
        self.sync_health()
        await self.health.start()
        await api.start()
        # Everything built so far (config, objects, stubs, checks) lives for the whole run: keep it out of
        # the cyclic collector, whose full passes over it would delay probes when there are many checks.
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
                    tg.create_task(self.rib.run(), name="rib-watch"),
                    tg.create_task(
                        self.restart_hold.run(self._peer_infos, self._wanted_sessions, self.controller.wake),
                        name="restart-hold",
                    ),
                ]
                if self.transit is not None:
                    tasks.append(tg.create_task(self.transit.run(), name="transit"))
                    tasks.append(tg.create_task(self.member_liveness.run(), name="liveness"))
                await self._stop.wait()
                log.info("stopping: withdrawing announcements first")
                await self._withdraw_all()
                for t in tasks:
                    t.cancel()
        finally:
            await api.stop()
            await self.health.stop()
            await self.route_servers.close()  # after our withdrawals: they leave through it too
            await self.sidecar.stop()
            await self.loopback.close()
            await self.routes.close()
            await self.kernel_routes.close()
            self.direct_probe.close()
            if self.wg is not None:
                await self.wg.close()
            with contextlib.suppress(FileNotFoundError):
                self._running_marker.unlink()
            for fd in self._locks:
                os.close(fd)
        log.info("stopped")
        return 0
