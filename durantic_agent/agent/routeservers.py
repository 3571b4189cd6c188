"""The route-server gobgpds this machine runs (one per mesh that names it a route server; topology.py).

Each is a second gobgpd beside the agent's own, supervised the same way (sidecar.py: restarted when it
dies, killed when it hangs), listening on the mesh address and `route_server_port`, with every member as
a route-server client. It holds no paths and no policies of its own: it only passes the members' paths
on. The agent's own gobgpd is one of its clients, like every other member's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.schema import Gobgpd
from ..core.policies import PolicyProgram
from ..errors import SidecarError
from ..gobgp import speaker
from ..gobgp.client import GobgpClient
from ..gobgp.port import GobgpSpeaker
from ..gobgp.sidecar import Sidecar
from ..topology import RouteServerSpec
from .reconcilers.peers import PeersReconciler
from .wanted import Wanted

__all__ = ["RouteServer", "RouteServersReconciler"]

log = logging.getLogger("durantic.routeserver")


def _global(spec: RouteServerSpec) -> speaker.GlobalSpec:
    return speaker.GlobalSpec(spec.asn, spec.router_id, spec.port, (spec.address,))


class RouteServer:
    """One mesh's route-server gobgpd and its sessions."""

    def __init__(
        self, spec: RouteServerSpec, binary: Path, runtime_dir: Path, settings: Gobgpd, wake: Callable[[], None]
    ) -> None:
        self.spec = spec
        self.wake = wake
        self.sidecar = Sidecar(
            binary, runtime_dir, self._ready, log_level=settings.log_level, start_timeout=settings.start_timeout
        )
        self.speaker = GobgpSpeaker(self._client)
        self.peers = PeersReconciler(self.speaker, lambda: False, select=lambda _w: self.spec.peers)
        self.task: asyncio.Task[None] | None = None
        self._policies_applied: PolicyProgram | None = None

    def _client(self) -> GobgpClient:
        c = self.sidecar.client
        if c is None or not self.sidecar.ready.is_set():
            raise SidecarError(f"the route server of mesh {self.spec.mesh} is not ready")
        return c

    async def _ready(self, client: GobgpClient, fresh: bool) -> None:
        cur = None if fresh else await speaker.current_global(client)
        want = _global(self.spec)
        if cur is not None and cur != want:
            await speaker.stop_bgp(client)
            cur = None
        if cur is None:
            await speaker.start_bgp(client, want)
        self.peers.forget()
        self._policies_applied = None
        self.wake()

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        """Policies first: a client's session names its import policy, which must exist."""
        policies = self.spec.policies
        changed = 0
        if resync or policies != self._policies_applied:
            change = await self.speaker.apply_policies(policies)
            self._policies_applied = policies
            changed += int(change.changed)
        return changed + await self.peers.reconcile(want, resync)

    async def start(self) -> None:
        await self.sidecar.start()
        self.task = asyncio.create_task(self.sidecar.run(), name=f"route-server-{self.spec.mesh}")
        log.info("route server of mesh %s up on %s port %d", self.spec.mesh, self.spec.address, self.spec.port)

    def check(self) -> None:
        """A supervising task that died is an error of the next pass (and so retried)."""
        if self.task is not None and self.task.done() and not self.task.cancelled():
            exc = self.task.exception()
            if exc is not None:
                raise exc

    async def stop(self) -> None:
        await self.sidecar.stop()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    def view(self) -> dict[str, Any]:
        return {
            "mesh": self.spec.mesh,
            "address": self.spec.address,
            "port": self.spec.port,
            "asn": self.spec.asn,
            "clients": len(self.spec.peers),
            "pid": self.sidecar.pid,
            "ready": self.sidecar.ready.is_set(),
            "restarts": self.sidecar.restarts,
        }


class RouteServersReconciler:
    """Starts, reconfigures and stops this machine's route servers to match the desired ones."""

    name = "route-servers"

    def __init__(
        self,
        binary: Callable[[], Path],
        runtime_dir: Callable[[], Path],
        settings: Callable[[], Gobgpd],
        wake: Callable[[], None],
    ) -> None:
        self.binary = binary
        self.runtime_dir = runtime_dir
        self.settings = settings  # the agent's `gobgpd` section: the route servers' gobgpd run the same way
        self.wake = wake
        self.running: dict[str, RouteServer] = {}

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        wanted = want.desired.route_servers
        changes = 0
        for mesh, old in list(self.running.items()):
            spec = wanted.get(mesh)
            if spec is None or _global(spec) != _global(old.spec):
                await old.stop()  # a new address, port or ASN is a new BGP instance
                del self.running[mesh]
                changes += 1
        for mesh, spec in wanted.items():
            rs = self.running.get(mesh)
            if rs is None:
                rs = RouteServer(
                    spec, self.binary(), self.runtime_dir() / f"route-server-{mesh}", self.settings(), self.wake
                )
                try:
                    await rs.start()
                except BaseException:
                    await rs.stop()  # no half-started gobgpd left behind; the next pass tries again
                    raise
                self.running[mesh] = rs
                changes += 1
            rs.spec = spec
            rs.check()
            if rs.sidecar.ready.is_set():
                changes += await rs.reconcile(want, resync)
        return changes

    def view(self) -> list[dict[str, Any]]:
        return [rs.view() for rs in self.running.values()]

    async def close(self) -> None:
        for rs in self.running.values():
            await rs.stop()
        self.running.clear()
