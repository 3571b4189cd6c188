"""BGP global, peers and local paths on gobgpd: the adapter the controller's reconcilers call.

Ownership: peers the agent made carry `durantic:<fingerprint>` in their description; the agent never
changes or removes a peer without that mark. Every local path in gobgpd is the agent's (it is the only
writer), and paths are always deleted by prefix, never with the family-wide DeletePath that wipes all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from ..core.types import PathSpec, PeerSpec
from ..errors import SidecarError
from .client import GobgpClient, translate_rpc_error
from .paths import make_path, make_wire_path
from .pb import GLOBAL, V4U, V6U, api
from .watch import reader_held

__all__ = [
    "GlobalSpec",
    "PeerInfo",
    "add_paths",
    "add_peer",
    "delete_paths",
    "delete_peer",
    "disable_peer",
    "enable_peer",
    "list_owned_peers",
    "list_peer_info",
    "reset_peer",
    "start_bgp",
]

OWNER_TAG = "durantic:"
_CHUNK = 1000  # paths per AddPathStream message: gobgpd takes large messages best (docs/gobgp.md)
_HOLD_MIN = 1000  # paths in one stream before the best-path watch is worth dropping for it
_HOLD_RATIO = 3  # ... and at most this many destinations already in gobgpd per streamed path


@dataclass(frozen=True)
class GlobalSpec:
    asn: int
    router_id: str
    listen_port: int
    listen_addresses: tuple[str, ...]


@dataclass(frozen=True)
class BfdInfo:
    state: str  # up | down | init | admin_down (gobgpd 4.8 reports no remote state or failure times)


@dataclass(frozen=True)
class PeerInfo:
    address: str
    asn: int
    description: str
    state: str
    uptime: int | None  # unix seconds when established
    received: int
    accepted: int
    advertised: int
    router_id: str
    flops: int
    out_queue: int  # updates gobgpd has queued for this peer but not yet written to the session
    prefix_limited: bool = False  # closed with a Cease for sending more than max_prefixes; held down
    reason: str = ""  # why the session last went down, as gobgpd says
    bfd: BfdInfo | None = None  # None: BFD not enabled on this peer
    local_restarting: bool = False  # gobgpd's own restart not over on it yet (no End-of-RIB, deferral running)
    admin_down: bool = False  # disabled (DisablePeer): kept configured, no session until EnablePeer


async def current_global(client: GobgpClient) -> GlobalSpec | None:
    g = await client.get_global()
    if g.asn == 0:
        return None
    return GlobalSpec(g.asn, g.router_id, g.listen_port, tuple(g.listen_addresses))


async def start_bgp(client: GobgpClient, spec: GlobalSpec) -> None:
    glob = api.Global(
        asn=spec.asn,
        router_id=spec.router_id,
        listen_port=spec.listen_port if spec.listen_port != 179 else 179,
        listen_addresses=list(spec.listen_addresses),
    )
    await client.call("StartBgp", api.StartBgpRequest(**{"global": glob}))


async def stop_bgp(client: GobgpClient) -> None:
    await client.call("StopBgp", api.StopBgpRequest())


def _peer_msg(spec: PeerSpec, local_restarting: bool, import_names: tuple[str, ...] = ()) -> Any:
    afis = []
    for fam in (V4U, V6U):
        afi = api.AfiSafi(config=api.AfiSafiConfig(family=fam, enabled=True))
        if spec.graceful_restart:
            afi.mp_graceful_restart.CopyFrom(api.MpGracefulRestart(config=api.MpGracefulRestartConfig(enabled=True)))
        if spec.max_prefixes:
            afi.prefix_limits.CopyFrom(api.PrefixLimit(family=fam, max_prefixes=spec.max_prefixes))
        afis.append(afi)
    peer = api.Peer(
        conf=api.PeerConf(
            neighbor_address=spec.address,
            peer_asn=spec.asn,
            description=f"{OWNER_TAG}{spec.fingerprint()}:{spec.name}",
            auth_password=spec.password or "",
        ),
        transport=api.Transport(
            local_address=spec.local_address or "",
            remote_port=spec.port,
            passive_mode=spec.passive,
            bind_interface=spec.bind_interface or "",
        ),
        timers=api.Timers(
            config=api.TimersConfig(
                connect_retry=spec.connect_retry,
                # after a hard reset gobgpd refuses the peer this long (its default: 30 s); one retry
                # interval lets the session come back as soon as it would after any other drop
                idle_hold_time_after_reset=spec.connect_retry,
                hold_time=spec.hold_time,
                keepalive_interval=spec.keepalive,
            )
        ),
        afi_safis=afis,
    )
    if spec.route_server_client:
        # its own RIB per client; paths pass with AS path and next hop unchanged (docs/gobgp.md)
        peer.route_server.CopyFrom(api.RouteServer(route_server_client=True))
    if import_names:
        # per-peer policy exists only for route-server clients: it filters what this client sends
        accept = api.RouteAction.Value("ROUTE_ACTION_ACCEPT")
        peer.apply_policy.CopyFrom(
            api.ApplyPolicy(
                import_policy=api.PolicyAssignment(
                    policies=[api.Policy(name=n) for n in import_names], default_action=accept
                ),
                export_policy=api.PolicyAssignment(default_action=accept),
            )
        )
    if spec.multihop_ttl:
        peer.ebgp_multihop.CopyFrom(api.EbgpMultihop(enabled=True, multihop_ttl=spec.multihop_ttl))
    if spec.bfd_interval_us is not None:
        peer.bfd.CopyFrom(
            api.BfdPeerConfig(
                enabled=True,
                desired_minimum_tx_interval=spec.bfd_interval_us,
                required_minimum_receive=spec.bfd_interval_us,
                detection_multiplier=spec.bfd_multiplier,
            )
        )
    if spec.graceful_restart:
        peer.graceful_restart.CopyFrom(
            api.GracefulRestart(
                enabled=True,
                restart_time=spec.restart_time,
                notification_enabled=True,
                deferral_time=spec.deferral_time,
                local_restarting=local_restarting,
            )
        )
    return peer


async def list_owned_peers(client: GobgpClient) -> dict[str, str]:
    """address -> fingerprint, only for peers carrying the agent's mark."""
    out: dict[str, str] = {}
    async for r in client.stream("ListPeer", api.ListPeerRequest()):
        desc = r.peer.conf.description
        if desc.startswith(OWNER_TAG):
            out[r.peer.conf.neighbor_address] = desc[len(OWNER_TAG) :].split(":", 1)[0]
    return out


_STATES = {
    v.number: v.name.removeprefix("SESSION_STATE_").lower() for v in api.PeerState.SessionState.DESCRIPTOR.values
}
_REASONS = {
    v.number: v.name.removeprefix("DISCONNECT_REASON_").lower().replace("_", " ")
    for v in api.PeerState.DisconnectReason.DESCRIPTOR.values
    if v.number
}


_BFD_STATES = {
    v.number: v.name.removeprefix("BFD_SESSION_STATE_").lower() for v in api.BfdSessionState.DESCRIPTOR.values
}


def _bfd_info(p: Any) -> BfdInfo | None:
    if not p.bfd.enabled:
        return None
    b = p.state.bfd_state
    return BfdInfo(
        state=_BFD_STATES.get(b.session_state, "unknown"),
    )


async def list_peer_info(client: GobgpClient, timeout: float | None = None) -> dict[str, PeerInfo]:
    out: dict[str, PeerInfo] = {}
    async for r in client.stream("ListPeer", api.ListPeerRequest(enable_advertised=True), timeout=timeout):
        p = r.peer
        received = accepted = advertised = 0
        for afi in p.afi_safis:
            received += afi.state.received
            accepted += afi.state.accepted
            advertised += afi.state.advertised
        up = p.timers.state.uptime.seconds if p.timers.state.HasField("uptime") else None
        out[p.conf.neighbor_address] = PeerInfo(
            address=p.conf.neighbor_address,
            asn=p.conf.peer_asn,
            description=p.conf.description,
            state=_STATES.get(p.state.session_state, "unknown"),
            uptime=up or None,
            received=received,
            accepted=accepted,
            advertised=advertised,
            router_id=p.state.router_id,
            flops=p.state.flops,
            out_queue=p.state.queues.output + p.state.out_q,
            prefix_limited=p.state.admin_state == api.PeerState.ADMIN_STATE_PFX_CT,
            reason=_reason(p.state),
            bfd=_bfd_info(p),
            local_restarting=p.graceful_restart.local_restarting,
            admin_down=p.state.admin_state == api.PeerState.ADMIN_STATE_DOWN,
        )
    return out


def _reason(state: Any) -> str:
    if state.admin_state == api.PeerState.ADMIN_STATE_PFX_CT:
        return "prefix limit exceeded (max_prefixes): closed with a Cease, held down"
    why = _REASONS.get(state.disconnect_reason, "")
    return f"{why}: {state.disconnect_message}" if why and state.disconnect_message else why


async def add_peer(
    client: GobgpClient, spec: PeerSpec, local_restarting: bool = False, import_names: tuple[str, ...] = ()
) -> None:
    """`import_names`: the gobgpd names of `spec.import_policies` (policy_build.gobgp_policy_names)."""
    await client.call("AddPeer", api.AddPeerRequest(peer=_peer_msg(spec, local_restarting, import_names)))


async def delete_peer(client: GobgpClient, address: str) -> None:
    """Remove a peer; gobgpd closes its session with a Cease NOTIFICATION (Peer De-configured)."""
    await client.call("DeletePeer", api.DeletePeerRequest(address=address))


async def reset_peer(client: GobgpClient, address: str, hard: bool) -> None:
    """hard: close the session with a Cease (Administrative Reset; sent as Hard Reset to a peer that
    negotiated the RFC 8538 N-bit, so it drops the routes instead of keeping them stale) and let it
    re-establish; soft: re-send and re-evaluate the routes in both directions, the session untouched."""
    req = api.ResetPeerRequest(address=address, soft=not hard)
    if not hard:
        req.direction = api.ResetPeerRequest.DIRECTION_BOTH
    await client.call("ResetPeer", req)


async def disable_peer(client: GobgpClient, address: str, communication: str = "") -> None:
    """Close the session with a Cease (Administrative Shutdown, `communication` as its RFC 8203 message)
    and keep it down, configured, until enable_peer."""
    await client.call("DisablePeer", api.DisablePeerRequest(address=address, communication=communication))


async def enable_peer(client: GobgpClient, address: str) -> None:
    """Let a disabled peer connect again. Only for a peer that is disabled: gobgpd 4.8 takes an enable of
    an enabled peer as a change (it flips its own admin-down flag and logs "code logic bug")."""
    await client.call("EnablePeer", api.EnablePeerRequest(address=address))


def _spec_path(spec: PathSpec, withdraw: bool = False) -> Any:
    # IPv4 as BGP wire bytes (cheap to build); IPv6 needs MP_REACH_NLRI, built as protobuf Any
    build = make_path if ":" in spec.prefix else make_wire_path
    return build(
        spec.prefix,
        next_hop=spec.next_hop,
        communities=spec.communities,
        large_communities=spec.large_communities,
        med=spec.med,
        withdraw=withdraw,
    )


def hold_watch(streamed: int, table: int) -> bool:
    """Drop the best-path watch while `streamed` paths go into a table of `table` destinations?

    Without a watcher gobgpd takes 10k paths in about half the time (see watch.reader_held), but the
    snapshot the watch then starts from carries the whole table: worth it only for a bulk stream that is
    a good part of that table (a 10k-route apply, not 1000 routes next to 100k received ones)."""
    return streamed >= _HOLD_MIN and table <= _HOLD_RATIO * streamed


async def _table_size(client: GobgpClient) -> int | None:
    """Destinations in gobgpd's global RIB (both families); None if gobgpd would not say."""
    total = 0
    for fam in (V4U, V6U):
        try:
            r = await client.call("GetTable", api.GetTableRequest(table_type=GLOBAL, family=fam))
        except SidecarError:
            return None
        total += r.num_destination
    return total


async def _stream(client: GobgpClient, specs: Sequence[PathSpec], withdraw: bool) -> None:
    async def gen() -> Any:
        # built a chunk at a time: gobgpd (on the other core) takes in one chunk while the next is built
        for i in range(0, len(specs), _CHUNK):
            paths = [_spec_path(s, withdraw) for s in specs[i : i + _CHUNK]]
            yield api.AddPathStreamRequest(table_type=GLOBAL, paths=paths)

    hold = False
    if len(specs) >= _HOLD_MIN:
        table = await _table_size(client)
        hold = table is not None and hold_watch(len(specs), table)
    try:
        with reader_held(client) if hold else contextlib.nullcontext():
            # a deadline that grows with the stream: ~100k paths/s is gobgpd's pace on a loaded machine
            await client.stub.AddPathStream(gen(), timeout=30.0 + len(specs) / 10_000)
    except grpc.aio.AioRpcError as e:
        raise translate_rpc_error(e, "AddPathStream") from None


async def add_paths(client: GobgpClient, specs: Iterable[PathSpec]) -> None:
    """Add or replace (same prefix = implicit withdraw of the old attributes) local paths."""
    specs = list(specs)
    if len(specs) == 1:
        await client.call("AddPath", api.AddPathRequest(table_type=GLOBAL, path=_spec_path(specs[0])))
    elif specs:
        await _stream(client, specs, withdraw=False)


async def delete_paths(client: GobgpClient, specs: Iterable[PathSpec]) -> None:
    specs = list(specs)
    if len(specs) == 1:
        p = _spec_path(specs[0], withdraw=True)
        await client.call("DeletePath", api.DeletePathRequest(table_type=GLOBAL, family=p.family, path=p))
    elif specs:
        await _stream(client, specs, withdraw=True)


async def list_local_paths(client: GobgpClient) -> set[str]:
    """Prefixes of local paths in gobgpd (used to adopt a running gobgpd after an agent restart)."""
    out: set[str] = set()
    for fam in (V4U, V6U):
        async for r in client.stream("ListPath", api.ListPathRequest(table_type=GLOBAL, family=fam)):
            for p in r.destination.paths:
                if p.neighbor_ip in ("<nil>", "") and not p.is_withdraw:
                    out.add(r.destination.prefix)
                    break
    return out


async def local_paths_among(client: GobgpClient, prefixes: Iterable[str]) -> set[str]:
    """Which of `prefixes` have a local path in gobgpd: exact lookups, so a resync does not list a
    learned table of 50k routes to check the agent's few announcements."""
    by_fam: dict[int, list[Any]] = {}
    for p in prefixes:
        fam = 6 if ":" in p else 4
        by_fam.setdefault(fam, []).append(api.TableLookupPrefix(prefix=p, type=api.TableLookupPrefix.TYPE_EXACT))
    out: set[str] = set()
    for fam, lookups in by_fam.items():
        for i in range(0, len(lookups), _CHUNK):
            req = api.ListPathRequest(
                table_type=GLOBAL, family=V4U if fam == 4 else V6U, prefixes=lookups[i : i + _CHUNK]
            )
            async for r in client.stream("ListPath", req):
                if any(p.neighbor_ip in ("<nil>", "") and not p.is_withdraw for p in r.destination.paths):
                    out.add(r.destination.prefix)
    return out


async def soft_reset_in(client: GobgpClient, address: str) -> None:
    """Re-evaluate the routes received from `address` against the current import policy (session kept)."""
    req = api.ResetPeerRequest(address=address, soft=True, direction=api.ResetPeerRequest.DIRECTION_IN)
    await client.call("ResetPeer", req)
