"""The agent.yaml schema (docs/config.md is generated from it). Pure: no file I/O here; see load.py."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..core.probe import probe_address
from ..validation import ASN, Duration, IPAddr, IPIface, IPNet, Name, format_duration

__all__ = [
    "AgentConfig",
    "Api",
    "Bgp",
    "Fib",
    "Gobgpd",
    "Machine",
    "Mesh",
    "MeshLiveness",
    "MeshMember",
    "Neighbor",
    "NeighborBfd",
    "WireGuard",
]

WG_PREFIX = "dur-"
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")


def _wg_key(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("is not a WireGuard key (32 bytes, base64)")
    try:
        raw = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not a WireGuard key (32 bytes, base64)") from None
    if len(raw) != 32:
        raise ValueError("is not a WireGuard key (32 bytes, base64)")
    return v


def _endpoint(v: Any) -> str:
    s = str(v)
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)\Z", s) or re.match(r"^([^:\[\]\s]+):(\d+)\Z", s)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError("is not host:port (IPv6 as [addr]:port)")
    return s


def _hostport(v: Any) -> str:
    s = _endpoint(v)
    host = s.rsplit(":", 1)[0].strip("[]")
    try:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("must be a loopback address:port (the web view is local only)")
    except ValueError as e:
        if "loopback" in str(e):
            raise
        if host != "localhost":
            raise ValueError("must be a loopback address:port (the web view is local only)") from None
    return s


WgKey = Annotated[str, AfterValidator(_wg_key)]
Endpoint = Annotated[str, AfterValidator(_endpoint)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# routes per address family a peer may send before its session is closed with a Cease (GoBGP's prefix limit)
MaxPrefixes = Annotated[int, Field(ge=1, le=4_294_967_295)]


class Machine(_Model):
    name: Name
    asn: ASN
    router_id: ipaddress.IPv4Address | None = None

    @field_validator("router_id", mode="before")
    @classmethod
    def _rid(cls, v: Any) -> Any:
        if v is None:
            return v
        try:
            return ipaddress.IPv4Address(str(v))
        except ValueError:
            raise ValueError("is not an IPv4 address (a BGP router id is 32 bits)") from None


class Bgp(_Model):
    listen_port: Annotated[int, Field(ge=-1, le=65535)] = 179
    listen_addresses: list[IPAddr] | None = None
    hold_time: Annotated[int, Field(ge=3, le=65535)] = 9
    keepalive: Annotated[int, Field(ge=1, le=21845)] = 3
    connect_retry: Annotated[int, Field(ge=1, le=3600)] = 5
    graceful_restart: bool = True
    # How long peers keep our routes while we restart: twice a hitless restart (agent kill -9 + systemd
    # restart; docs/liveness.md), and no more: a silently dead machine stays stale that long at a GR
    # router without BFD.
    restart_time: Annotated[int, Field(ge=1, le=4095)] = 40
    deferral_time: Annotated[int, Field(ge=1, le=3600)] = 5

    @model_validator(mode="after")
    def _timers(self) -> Bgp:
        if self.keepalive * 3 > self.hold_time:
            raise ValueError(f"keepalive: {self.keepalive} must be at most a third of hold_time ({self.hold_time})")
        return self


class MeshMember(_Model):
    name: Name
    asn: ASN
    address: IPAddr
    public_key: WgKey
    endpoint: Endpoint | None = None
    max_prefixes: MaxPrefixes | None = None
    allowed_prefixes: list[IPNet] | None = None


def _detect_interval(v: float) -> float:
    if not 0.01 <= v <= 60:
        raise ValueError("must be between 10ms and 60s")
    if abs(v * 1000 - round(v * 1000)) > 1e-6:
        raise ValueError("must be a whole number of milliseconds")
    return v


class MeshLiveness(_Model):
    """Data-plane liveness of the members (docs/liveness.md): echo to each member's mesh address."""

    enabled: bool = True
    # A member that answered is down after interval x multiplier of silence (default 0.9 s).
    interval: Duration = 0.3
    multiplier: Annotated[int, Field(ge=2, le=255)] = 3
    # echo requests per interval: a lossy path then loses single echoes, not whole intervals
    probes: Annotated[int, Field(ge=1, le=20)] = 4
    # intervals of unbroken answers before a down member is up again (hysteresis)
    rise: Annotated[int, Field(ge=1, le=255)] = 3

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        return _detect_interval(v)

    @model_validator(mode="after")
    def _spacing(self) -> MeshLiveness:
        if self.interval / self.probes < 0.01:
            raise ValueError(
                f"probes: {self.probes} puts less than 10ms between two echoes "
                f"at interval {format_duration(self.interval)}"
            )
        return self


class Mesh(_Model):
    name: Name
    interface: str | None = None
    address: IPIface
    listen_port: Port = 51820
    private_key_file: Path
    members_file: Path | None = None
    members: list[MeshMember] | None = None
    # A member is Direct while its tunnel shows life; after this many silent keepalive intervals its
    # traffic moves to a relay (transit). 2 s x 3 = 6 s stays under the default 9 s BGP hold time, so
    # the session to the member survives the move.
    persistent_keepalive: Annotated[int, Field(ge=0, le=65535)] = 2
    silent_keepalives: Annotated[int, Field(ge=2, le=100)] = 3
    liveness: MeshLiveness = MeshLiveness()
    max_prefixes: MaxPrefixes | None = None
    # Members whose agents run a route server (docs/scaling.md); none = every member peers with every other.
    route_servers: list[Name] | None = None
    route_server_port: Port = 1790
    # The route servers' own ASN: it only shows in their OPEN, never in an AS path (they do not prepend).
    route_server_asn: ASN = 4294967294

    @field_validator("interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        if v is not None and not _IFNAME_RE.match(v):
            raise ValueError("is not a valid interface name (at most 15 characters)")
        if v is not None and not v.startswith(WG_PREFIX):
            # the prefix marks interfaces the agent owns: it removes only those it no longer wants
            raise ValueError(f"must start with {WG_PREFIX!r} (the agent's ownership mark)")
        return v

    @model_validator(mode="after")
    def _ifname_default(self) -> Mesh:
        if self.interface is None and len(f"dur-{self.name}") > 15:
            raise ValueError(
                f"name: {self.name!r} makes interface 'dur-{self.name}' longer than 15 characters: set `interface`"
            )
        return self

    @model_validator(mode="after")
    def _members(self) -> Mesh:
        net = self.address.network
        seen: dict[str, dict[object, int]] = {"name": {}, "address": {}, "asn": {}, "public_key": {}}
        probes: dict[str, int] = {}
        for i, m in enumerate(self.members or []):
            if m.address.version != net.version or m.address not in net:
                raise ValueError(f"members[{i}].address: {str(m.address)!r} is outside the mesh prefix {net}")
            for key, values in seen.items():
                v = getattr(m, key)
                if v in values:
                    raise ValueError(f"members[{i}].{key}: {str(v)!r} duplicates members[{values[v]}]")
                values[v] = i
            probe = probe_address(str(m.address))  # from the last 48 bits of an IPv6 address
            if probe in probes:
                raise ValueError(
                    f"members[{i}].address: {str(m.address)!r} ends in the same 48 bits as members[{probes[probe]}] "
                    f"(both would probe the direct path at {probe})"
                )
            probes[probe] = i
        return self

    @model_validator(mode="after")
    def _route_servers(self) -> Mesh:
        if self.route_servers is None:
            return self
        if not self.route_servers:
            raise ValueError("route_servers: [] names no member (leave it out for a full mesh)")
        names = {m.name for m in self.members or []}
        seen: dict[str, int] = {}
        for i, name in enumerate(self.route_servers):
            if name in seen:
                raise ValueError(f"route_servers[{i}]: {name!r} duplicates route_servers[{seen[name]}]")
            seen[name] = i
            if name not in names:
                raise ValueError(f"route_servers[{i}]: {name!r} is not a member of mesh {self.name!r}")
        for i, m in enumerate(self.members or []):
            if m.asn == self.route_server_asn:
                raise ValueError(f"route_server_asn: {self.route_server_asn} is the ASN of members[{i}] ({m.name!r})")
        return self

    @property
    def ifname(self) -> str:
        return self.interface or f"{WG_PREFIX}{self.name}"


class NeighborBfd(_Model):
    """BFD (RFC 5880) on the session, run by gobgpd (docs/liveness.md); absent = off."""

    # Sent every interval; the session is down after interval x multiplier of silence (default 0.9 s).
    interval: Annotated[Duration, AfterValidator(_detect_interval)] = 0.3
    multiplier: Annotated[int, Field(ge=1, le=255)] = 3


class Neighbor(_Model):
    name: Name
    address: IPAddr
    asn: ASN
    port: Port = 179
    local_address: IPAddr | None = None
    password_file: Path | None = None
    multihop: Annotated[int, Field(ge=1, le=255)] | None = None
    passive: bool = False
    max_prefixes: MaxPrefixes | None = None
    accept_default_route: bool = False
    # RFC 8212: no routes in or out without a policy (peer_policy.py)
    import_: Literal["accept", "reject"] = Field("reject", alias="import")
    export: Literal["accept", "own"] = "own"
    bfd: NeighborBfd | None = None


class Api(_Model):
    socket: Path = Path("/run/durantic/agent.sock")
    http: Annotated[str, AfterValidator(_hostport)] | None = "127.0.0.1:9179"


class Gobgpd(_Model):
    path: Path | None = None
    log_level: Literal["info", "debug"] = "info"
    start_timeout: Annotated[Duration, Field(ge=1, le=600)] = 10.0


class WireGuard(_Model):
    backend: Literal["auto", "kernel", "userspace"] = "auto"
    wireguard_go: Path | None = None


class Fib(_Model):
    enabled: bool = True
    route_protocol: Annotated[int, Field(ge=1, le=255)] = 186
    deny: list[IPNet] = []


class AgentConfig(_Model):
    machine: Machine
    bgp: Bgp = Bgp()
    meshes: list[Mesh] = []
    neighbors: list[Neighbor] = []
    api: Api = Api()
    state_dir: Path = Path("/var/lib/durantic")
    runtime_dir: Path = Path("/run/durantic")
    gobgpd: Gobgpd = Gobgpd()
    wireguard: WireGuard = WireGuard()
    fib: Fib = Fib()
    resync_interval: Annotated[Duration, Field(ge=1, le=3600)] = 30.0

    @model_validator(mode="after")
    def _unique(self) -> AgentConfig:
        _dupes([n.name for n in self.neighbors], "neighbors", "name")
        _dupes([str(n.address) for n in self.neighbors], "neighbors", "address")
        _dupes([m.name for m in self.meshes], "meshes", "name")
        _dupes([m.ifname for m in self.meshes], "meshes", "interface")
        _dupes([m.listen_port for m in self.meshes], "meshes", "listen_port")
        return self

    @property
    def router_id(self) -> str:
        if self.machine.router_id is not None:
            return str(self.machine.router_id)
        for mesh in self.meshes:
            if mesh.address.version == 4:
                return str(mesh.address.ip)
        for n in self.neighbors:
            if n.local_address is not None and n.local_address.version == 4:
                return str(n.local_address)
        raise ValueError("no router id")


def _dupes(values: list[Any], where: str, key: str) -> None:
    seen: dict[Any, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            raise ValueError(f"{where}[{i}].{key}: {str(v)!r} duplicates {where}[{seen[v]}]")
        seen[v] = i
