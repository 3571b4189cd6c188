"""N-member meshes on one machine (N up to 30 on 2 cores): real agents, gobgpd and wireguard-go.

Members are named n01..nNN so that `dur-<lab prefix><name>m` stays within the 15-character interface
limit (from n100 on the trailing `m` is cut, which keeps the names distinct); all share one underlay
segment. Agents are started with at most `parallel` of them still booting at once: 30 Python processes
importing at the same moment on 2 cores would starve each other (and their gobgpd) for tens of seconds,
while a small window keeps both cores busy without queueing. Keys are made
in-process (no 30 `durantic mesh keygen` subprocesses).

Also here: a plain-gobgpd mesh of the same shape (the "raw" baseline for the benchmark; full, or with
route servers), configured from TOML files with the same timers and the same export statement.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durantic_agent.wg.keys import generate_private_key, public_key

from .harness import GOBGP, GOBGPD, AgentHandle, Lab, Proc, WaitTimeout, run, wait_for
from .mesh import Machine, mesh_config, write_members

MESH = "m"
ASN_BASE = 4200000000


def member_name(i: int) -> str:
    return f"n{i:02d}"


def underlay_addr(i: int) -> str:
    return f"10.98.0.{i}"


def mesh_addr(i: int) -> str:
    return f"100.64.0.{i}"


def machines(lab: Lab, n: int) -> list[Machine]:
    """n machines on one underlay segment."""
    if n > 250:
        raise ValueError("member addresses are x.x.0.1..x.x.0.250")
    ms = [
        Machine(member_name(i), lab.ns(member_name(i)), underlay_addr(i), mesh_addr(i), ASN_BASE + i)
        for i in range(1, n + 1)
    ]
    lab.segment("u", {m.ns: f"{m.underlay}/24" for m in ms})
    return ms


def keygen(lab: Lab, m: Machine) -> None:
    key = lab.base / m.name / "wg.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    priv = generate_private_key()
    key.write_text(priv + "\n")
    os.chmod(key, 0o600)
    m.keyfile, m.pubkey = str(key), public_key(priv)


def gobgpd_socket(h: AgentHandle) -> Path:
    return Path(h.config["runtime_dir"]) / "gobgpd" / "gobgpd.sock"


@dataclass
class ScaleMesh:
    lab: Lab
    machines: list[Machine]
    agents: dict[str, AgentHandle] = field(default_factory=dict)
    started_last: float = 0.0  # time.monotonic() when the last agent process was launched

    def agent(self, i: int) -> AgentHandle:
        return self.agents[member_name(i)]

    def mesh_addrs(self) -> list[str]:
        return [m.mesh_addr for m in self.machines]


def member_config(
    lab: Lab, m: Machine, members_file: str, bgp: dict[str, Any] | None = None, wg_keepalive: int | None = None
) -> dict[str, Any]:
    mesh = mesh_config(lab, m, MESH, 24, members_file)
    if wg_keepalive is not None:  # the lab's 1 s makes idle figures pessimistic; the product default is 5
        mesh["persistent_keepalive"] = wg_keepalive
    cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh])
    cfg["wireguard"] = {"backend": "userspace"}
    cfg["bgp"].update(bgp or {})
    return cfg


def start_scale_mesh(
    lab: Lab,
    n: int,
    parallel: int = 4,
    boot_timeout: float = 60.0,
    bgp: dict[str, Any] | None = None,
    on_up: Callable[[AgentHandle], None] | None = None,
    wg_keepalive: int | None = None,
    route_servers: list[str] | None = None,
) -> ScaleMesh:
    """Start n members (`bgp`: overrides of the agents' bgp section; `on_up` is called once per agent as
    soon as it answers; `wg_keepalive`: WireGuard persistent keepalive, default the lab's 1 s); returns
    once every agent answers (sessions may still be coming up)."""
    ms = machines(lab, n)
    for m in ms:
        keygen(lab, m)
    mf = write_members(lab, MESH, ms, route_servers)
    sm = ScaleMesh(lab, ms)
    booting: list[AgentHandle] = []

    def reap() -> None:
        nonlocal booting
        up = [h for h in booting if _answers(lab, h)]
        booting = [h for h in booting if h not in up]
        for h in up:
            if on_up is not None:
                on_up(h)

    for m in ms:
        while len(booting) >= parallel:
            reap()
            if len(booting) >= parallel:
                time.sleep(0.05)
        h = lab.start_agent(m.name, m.ns, member_config(lab, m, mf, bgp, wg_keepalive), wait=False)
        sm.agents[m.name] = h
        booting.append(h)
    sm.started_last = time.monotonic()
    deadline = time.monotonic() + boot_timeout
    while booting:
        reap()
        if booting and time.monotonic() > deadline:
            lab.wait_agent(booting[0], timeout=0)  # raises, naming the agent
        time.sleep(0.05)
    return sm


def _answers(lab: Lab, h: AgentHandle) -> bool:
    if not h.proc.alive():
        lab.wait_agent(h, timeout=0)  # raises with the agent's log
    try:
        return bool(h.api("GET", "/v1/status")["gobgpd"]["ready"])
    except Exception:  # not listening yet
        return False


def rib(sock: Path) -> dict[str, list[dict[str, Any]]]:
    """prefix -> paths, from the gobgp CLI against one member's gobgpd (IPv4 unicast)."""
    out = run([GOBGP, "--target", f"unix://{sock}", "global", "rib", "-a", "ipv4", "-j"]).stdout
    return dict(json.loads(out) or {}) if out.strip() else {}


def as_path(p: dict[str, Any]) -> list[int]:
    for a in p.get("attrs", []):
        if a.get("type") == 2:  # AS_PATH
            return [n for seg in a.get("as_paths", []) for n in seg.get("asns", [])]
    return []


def kernel_has(lab: Lab, ns: str, prefix: str) -> bool:
    return bool(run(["ip", "-n", ns, "route", "show", prefix]).stdout.strip())


def wait_everywhere(sm: ScaleMesh, prefixes: set[str], timeout: float, present: bool = True) -> float:
    """Wait until every member's RIB holds (or no longer holds) every one of `prefixes`; returns seconds."""
    t0 = time.monotonic()
    pending = {m.name for m in sm.machines}

    def done() -> bool:
        for name in sorted(pending):
            have = set(rib(gobgpd_socket(sm.agents[name])))
            if (prefixes <= have) if present else not (prefixes & have):
                pending.discard(name)
        return not pending

    verb = "in" if present else "gone from"
    try:
        wait_for(done, timeout, f"{sorted(prefixes)} {verb} every RIB", interval=0.2)
    except WaitTimeout as e:
        # say which members were still waiting, and which of their sessions were not up
        down = {}
        for name in sorted(pending):
            try:
                down[name] = {
                    n: p.get("state") for n, p in sm.agents[name].peers().items() if p.get("state") != "established"
                }
            except Exception as exc:  # a diagnostic must not hide the timeout
                down[name] = {"?": str(exc)}
        raise WaitTimeout(f"{e}; still pending: {sorted(pending)}; their sessions not established: {down}") from None
    return time.monotonic() - t0


# ----- the raw baseline: plain gobgpd, same timers, same one-relay-hop export statement ---------------

RAW_PORT = 1179
RAW_RS_PORT = 1790
RS_ASN = 4294967294


def raw_config(i: int, n: int, route_servers: list[int] | None = None) -> str:
    """Member i's gobgpd: a full mesh, or (route_servers: their member numbers) sessions to them only,
    sending them only its own routes, as the agents do."""
    lines = [
        "[global.config]",
        f"  as = {ASN_BASE + i}",
        f'  router-id = "{underlay_addr(i)}"',
        f"  port = {RAW_PORT}",
        "[global.apply-policy.config]",
        '  export-policy-list = ["mesh-out"]',
        '  default-export-policy = "accept-route"',
        "[[policy-definitions]]",
        '  name = "mesh-out"',
        "  [[policy-definitions.statements]]",
        '    name = "one-relay-hop"',
        "    [policy-definitions.statements.conditions.bgp-conditions.as-path-length]",
        '      operator = "ge"',
        f"      value = {3 if route_servers is None else 2}",
        "    [policy-definitions.statements.actions]",
        '      route-disposition = "reject-route"',
    ]
    if route_servers is not None:
        for j in route_servers:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{underlay_addr(j)}"',
                f"    peer-as = {RS_ASN}",
                "  [neighbors.timers.config]",
                "    connect-retry = 1",
                "    hold-time = 9",
                "    keepalive-interval = 3",
                "  [neighbors.transport.config]",
                f"    remote-port = {RAW_RS_PORT}",
            ]
        return "\n".join(lines) + "\n"
    for j in range(1, n + 1):
        if j != i:
            lines += _raw_neighbor(j)
    return "\n".join(lines) + "\n"


def _raw_neighbor(j: int) -> list[str]:
    """Member j's gobgpd as a neighbour in a raw gobgpd's TOML, with the mesh's timers."""
    return [
        "[[neighbors]]",
        "  [neighbors.config]",
        f'    neighbor-address = "{underlay_addr(j)}"',
        f"    peer-as = {ASN_BASE + j}",
        "  [neighbors.timers.config]",
        "    connect-retry = 1",
        "    hold-time = 9",
        "    keepalive-interval = 3",
        "  [neighbors.transport.config]",
        f"    remote-port = {RAW_PORT}",
    ]


def raw_rs_config(i: int, n: int) -> str:
    """The route-server gobgpd beside member i's: every member (i included) a route-server client."""
    lines = [
        "[global.config]",
        f"  as = {RS_ASN}",
        f'  router-id = "{underlay_addr(i)}"',
        f"  port = {RAW_RS_PORT}",
        f'  local-address-list = ["{underlay_addr(i)}"]',
    ]
    for j in range(1, n + 1):
        lines += [*_raw_neighbor(j), "  [neighbors.route-server.config]", "    route-server-client = true"]
    return "\n".join(lines) + "\n"


@dataclass
class RawMesh:
    lab: Lab
    machines: list[Machine]
    procs: dict[str, Proc] = field(default_factory=dict)
    sockets: dict[str, Path] = field(default_factory=dict)
    started_last: float = 0.0
    route_servers: list[int] | None = None  # member numbers that also run a route-server gobgpd

    def _spawn(self, label: str, ns: str, toml: str) -> Path:
        d = self.lab.base / label
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "gobgpd.toml"
        conf.write_text(toml)
        sock = d / "gobgpd.sock"
        sock.unlink(missing_ok=True)
        argv = [GOBGPD, "-f", str(conf), f"--api-hosts=unix://{sock}", "--pprof-disable", "--log-plain"]
        self.procs[label] = self.lab.spawn(label, ns, argv)
        return sock

    def start_member(self, i: int) -> None:
        """(Re)start member i's gobgpd; does not wait for it."""
        m = self.machines[i - 1]
        n = len(self.machines)
        self.sockets[m.name] = self._spawn(f"raw-{m.name}", m.ns, raw_config(i, n, self.route_servers))
        self.procs[m.name] = self.procs[f"raw-{m.name}"]

    def start_route_server(self, i: int) -> None:
        m = self.machines[i - 1]
        self._spawn(f"raw-rs-{m.name}", m.ns, raw_rs_config(i, len(self.machines)))

    def wait_member(self, name: str, timeout: float = 20.0) -> None:
        sock, p = self.sockets[name], self.procs[name]
        wait_for(lambda: sock.exists() or not p.alive(), timeout, f"raw gobgpd {name} socket")
        assert p.alive(), p.log()


def start_raw_mesh(lab: Lab, n: int, route_servers: list[int] | None = None) -> RawMesh:
    """n plain gobgpd on one underlay, configured from TOML (with `route_servers`, those members also run
    a route-server gobgpd and every member peers only with them); returns once every API socket exists."""
    rm = RawMesh(lab, machines(lab, n), route_servers=route_servers)
    for i in route_servers or []:
        rm.start_route_server(i)
    for i in range(1, n + 1):
        rm.start_member(i)
    rm.started_last = time.monotonic()
    for name in rm.sockets:
        rm.wait_member(name)
    return rm
