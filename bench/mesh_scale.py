"""Mesh at scale: N members on one machine (N = 10, 20, 30), agents side by side with a raw gobgpd mesh.

For each N and each topology, in the same run, first a raw mesh (N plain gobgpd on one underlay, the
same timers and the same export statement as the agents, configured from TOML), then the agent mesh (N
agents with their gobgpd and wireguard-go). Topologies: `full` (every member peers with every other) and
`rs` (members n04 and n05 also run a route-server gobgpd, every member peers only with those two;
docs/scaling.md). Measured on both:

- start:    last member launched -> every member holds every member's /32 and the VIP;
- Tdown:    a route deleted on its only origin -> gone from every member's RIB (and, agents, kernel);
- failover: the VIP's better origin fails -> every member that used it has its best path on the other
            origin (agents: from the deciding probe; raw: from DeletePath) (agents: also AllowedIPs);
- stop:     a member stopped with SIGTERM -> its /32 and route gone from every other member's RIB;
- idle:     RSS per member (agent + gobgpd + wireguard-go) and CPU of the whole idle mesh over 10 s.

How it is timed: every member's gobgpd (the agents' own at <runtime_dir>/gobgpd/gobgpd.sock) is watched
from this process with one WatchEvent(BEST) stream each; each event is stamped with time.monotonic() on
arrival, and a figure ends at the event after which the condition holds on every member. Kernel routes:
`ip -n NS monitor route` per member, each line stamped on arrival. t0 is taken just before the action
(the API call, DeletePath, SIGTERM), or is the deciding probe's end (`decided_at_monotonic` from the
agent's /v1/checks; CLOCK_MONOTONIC is shared by every process on the machine). AllowedIPs have no event
stream: they are read from every moving member's wireguard-go UAPI socket in a loop, so that figure is an
upper bound by one sweep. The machine is shared (2 cores): the load average is printed with the figures.

    python -m bench mesh-scale                    # N = 10, 20, 30, both topologies
    DURANTIC_BENCH_SIZES=30 DURANTIC_BENCH_TOPOLOGIES=rs python -m bench mesh-scale
    DURANTIC_BENCH_SIZES=10 DURANTIC_BENCH_RUNS=20 DURANTIC_BENCH_STOP_RUNS=3 python -m bench mesh-scale
    DURANTIC_BENCH_IDLE_ONLY=1 DURANTIC_BENCH_WG_KEEPALIVE=5 python -m bench mesh-scale   # steady state only
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.failover import exec_vip_doc
from durantic_agent.core.types import PathSpec
from durantic_agent.errors import SidecarError
from durantic_agent.gobgp import speaker
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.watch import watch_best
from tests.lab.harness import GOBGP, AgentHandle, Lab, run, wait_for
from tests.lab.mesh import wg_allowed
from tests.lab.scale import (
    RawMesh,
    ScaleMesh,
    as_path,
    gobgpd_socket,
    member_name,
    mesh_addr,
    rib,
    start_raw_mesh,
    start_scale_mesh,
    underlay_addr,
)

VIP = "10.50.0.10/32"
ROUTE = "10.201.0.0/24"  # the Tdown route, on n03
STOP_ROUTE = "10.210.0.0/24"  # the stopped member's route
TIMEOUT = 60.0
# WireGuard persistent keepalive of the agents (None: the lab's 1 s; the product default is 5 s): it sets
# both wireguard-go's keepalive traffic and how often the agent samples peers for transit.
_KA = os.environ.get("DURANTIC_BENCH_WG_KEEPALIVE")
WG_KEEPALIVE = int(_KA) if _KA else None
IDLE_ONLY = os.environ.get("DURANTIC_BENCH_IDLE_ONLY") == "1"  # start + steady state only
# the route servers of the `rs` topology: not a VIP origin (n01, n02), the Tdown origin (n03) or the
# stopped member (the last)
ROUTE_SERVERS = [4, 5]


def p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]


def summary(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {"n": len(s), "p50": s[len(s) // 2], "p99": p99(s), "max": s[-1], "min": s[0]}


class _EventStamped:
    """A watcher that sets `changed` and stamps `last_t` (time.monotonic()) on every relevant arrival."""

    changed: asyncio.Event
    last_t: float

    async def until(self, pred: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> float:
        """The arrival time of the event after which `pred` holds."""
        deadline = time.monotonic() + timeout
        while not pred():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return self.last_t


class Watch(_EventStamped):
    """Every member's best paths (prefix -> next hop, "" for a local path), from WatchEvent(BEST)."""

    def __init__(self) -> None:
        self.best: dict[str, dict[str, str]] = {}
        self.changed = asyncio.Event()
        self.last_t = 0.0
        self.tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, sock: Path) -> None:
        self.best[name] = {}
        self.tasks.append(asyncio.create_task(self._run(name, sock)))

    async def _run(self, name: str, sock: Path) -> None:
        while True:  # the socket may not exist yet, or the member is being restarted
            client = GobgpClient(str(sock))
            try:
                async for is_init, changes in watch_best(client):
                    t = time.monotonic()
                    table = self.best[name]
                    if is_init:
                        table.clear()
                    for bp, withdrawn in changes:
                        if withdrawn:
                            table.pop(bp.prefix, None)
                        else:
                            table[bp.prefix] = "" if bp.local else bp.next_hop
                    self.last_t = t
                    self.changed.set()
            except Exception:  # not up yet, or gone for a restart: retry
                pass
            finally:
                await client.close()
            await asyncio.sleep(0.05)

    def holds(self, names: Iterable[str], prefixes: set[str]) -> bool:
        return all(prefixes <= self.best[n].keys() for n in names)

    def lacks(self, names: Iterable[str], prefixes: set[str]) -> bool:
        return all(not (prefixes & self.best[n].keys()) for n in names)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class KernelWatch(_EventStamped):
    """`ip monitor route` in every member's namespace: which of `prefixes` each kernel holds, and when."""

    prefixes: set[str]
    have: dict[str, set[str]] = field(default_factory=dict)
    last_t: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def add(self, name: str, ns: str) -> None:
        p = await asyncio.create_subprocess_exec(
            "ip", "-n", ns, "monitor", "route", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        self.procs.append(p)
        self.have[name] = {pf for pf in self.prefixes if run(["ip", "-n", ns, "route", "show", pf]).stdout.strip()}
        self.tasks.append(asyncio.create_task(self._read(name, p)))

    async def _read(self, name: str, p: asyncio.subprocess.Process) -> None:
        assert p.stdout is not None
        async for raw in p.stdout:
            t = time.monotonic()
            words = raw.decode().split()
            deleted = bool(words) and words[0] == "Deleted"
            pf = words[1] if deleted and len(words) > 1 else (words[0] if words else "")
            if pf in self.prefixes:
                (self.have[name].discard if deleted else self.have[name].add)(pf)
                self.last_t = t
                self.changed.set()

    async def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            await p.wait()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# ----- process accounting ------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _ns_pids(ns: str) -> list[int]:
    return [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]


def _proc(pid: int) -> tuple[str, int, int] | None:
    """(comm, RSS kB, utime+stime ticks)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    rss = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
    return comm, rss, int(fields[11]) + int(fields[12])


def _kind(comm: str) -> str:
    return "gobgpd" if comm == "gobgpd" else "wireguard-go" if comm.startswith("wireguard") else "agent"


async def idle_usage(namespaces: dict[str, str], window: float = 10.0, settle: float = 10.0) -> dict[str, Any]:
    """RSS per member (by process kind) and CPU of all member processes over `window` seconds, after
    `settle` seconds of quiet (steady state, not the tail of the start-up)."""
    await asyncio.sleep(settle)

    def snap() -> dict[int, tuple[str, str, int, int]]:
        out = {}
        for name, ns in namespaces.items():
            for pid in _ns_pids(ns):
                pr = _proc(pid)
                if pr is not None:
                    out[pid] = (name, *pr)
        return out

    a = await asyncio.to_thread(snap)
    t0 = time.monotonic()
    await asyncio.sleep(window)
    b = await asyncio.to_thread(snap)
    dt = time.monotonic() - t0
    ticks = sum(b[p][3] - a[p][3] for p in b if p in a)
    cpu_by_kind: dict[str, float] = {}
    for p in b:
        if p in a:
            k = _kind(b[p][1])
            cpu_by_kind[k] = cpu_by_kind.get(k, 0.0) + 100 * (b[p][3] - a[p][3]) / _TICK / dt
    per_member: dict[str, dict[str, float]] = {}
    for name, comm, rss, _ in b.values():
        m = per_member.setdefault(name, {})
        m[_kind(comm)] = m.get(_kind(comm), 0.0) + rss / 1024
    totals = [sum(v.values()) for v in per_member.values()]
    kinds = sorted({k for v in per_member.values() for k in v})
    return {
        "rss_mb_per_member_max": round(max(totals), 1),
        "rss_mb_per_member_mean": round(sum(totals) / len(totals), 1),
        "rss_mb_per_member_median": round(sorted(totals)[len(totals) // 2], 1),
        "rss_mb_by_kind_mean": {
            k: round(sum(v.get(k, 0.0) for v in per_member.values()) / len(per_member), 1) for k in kinds
        },
        "cpu_pct_of_one_core": round(100 * ticks / _TICK / dt, 1),
        "cpu_pct_by_kind": {k: round(v, 1) for k, v in sorted(cpu_by_kind.items())},
    }


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


# ----- the raw mesh -------------------------------------------------------------------------------------


async def _raw_add(sock: Path, prefixes: list[str], timeout: float = 20.0) -> None:
    """AddPath, retried while gobgpd has its socket but is not serving yet (or not configured yet)."""
    deadline = time.monotonic() + timeout
    c = GobgpClient(str(sock))
    try:
        while True:
            try:
                await speaker.add_paths(c, [PathSpec(p) for p in prefixes])
                return
            except SidecarError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await c.close()


async def _raw_del(sock: Path, prefixes: list[str]) -> None:
    c = GobgpClient(str(sock))
    try:
        await speaker.delete_paths(c, [PathSpec(p) for p in prefixes])
    finally:
        await c.close()


def _own(i: int) -> list[str]:
    return [f"{mesh_addr(i)}/32"] + ([VIP] if i in (1, 2) else [])


async def bench_raw(n: int, runs: int, stop_runs: int, rs: bool = False) -> dict[str, Any]:
    lab = Lab()
    w = Watch()
    try:
        names = [member_name(i) for i in range(1, n + 1)]
        everything = {f"{mesh_addr(i)}/32" for i in range(1, n + 1)} | {VIP}
        for name in names:
            w.add(name, lab.base / f"raw-{name}" / "gobgpd.sock")
        rm = await asyncio.to_thread(start_raw_mesh, lab, n, ROUTE_SERVERS if rs else None)
        await asyncio.gather(*(_raw_add(rm.sockets[member_name(i)], _own(i)) for i in range(1, n + 1)))
        t_all = await w.until(lambda: w.holds(names, everything), "raw: all /32s and the VIP everywhere", 120)
        out: dict[str, Any] = {"start_s": round(t_all - rm.started_last, 2)}
        out["idle"] = await idle_usage({m.name: m.ns for m in rm.machines})
        if IDLE_ONLY:
            return out
        owner = {underlay_addr(1): 1, underlay_addr(2): 2}
        out["tdown_ms"] = await _tdown(
            w,
            names,
            add=lambda: _raw_add(rm.sockets["n03"], [ROUTE]),
            delete=lambda: _raw_del(rm.sockets["n03"], [ROUTE]),
            runs=runs,
        )
        out["failover_ms"] = await _raw_failover(rm, w, names, owner, runs)
        out["stop_ms"] = await _raw_stop(rm, w, names, everything, stop_runs)
        return out
    finally:
        await w.close()
        await asyncio.to_thread(lab.close)


async def _tdown(
    w: Watch,
    names: list[str],
    add: Callable[[], Any],
    delete: Callable[[], Any],
    runs: int,
    kernel: KernelWatch | None = None,
    kernel_names: list[str] | None = None,
) -> dict[str, Any]:
    rib_lat, k_lat = [], []
    for _ in range(runs):
        await add()
        await w.until(lambda: w.holds(names, {ROUTE}), "Tdown route everywhere")
        if kernel is not None and kernel_names:
            await kernel.until(lambda: all(ROUTE in kernel.have[k] for k in kernel_names), "Tdown route in kernels")
        t0 = time.monotonic()
        await delete()
        t1 = await w.until(lambda: w.lacks(names, {ROUTE}), "Tdown route gone everywhere")
        rib_lat.append((t1 - t0) * 1000)
        if kernel is not None and kernel_names:
            t2 = await kernel.until(lambda: all(ROUTE not in kernel.have[k] for k in kernel_names), "kernels")
            k_lat.append((max(t1, t2) - t0) * 1000)
    res: dict[str, Any] = {"rib": summary(rib_lat)}
    if k_lat:
        res["rib_and_kernel"] = summary(k_lat)
    return res


def _moved(w: Watch, names: list[str], next_hop: str) -> Callable[[], bool]:
    return lambda: all(w.best[n].get(VIP) == next_hop for n in names)


def _poll_wg(handles: list[AgentHandle], key: str, done: dict[str, float], stop: list[bool]) -> None:
    """Read each member's AllowedIPs until the VIP sits on `key` (no event stream exists for them)."""
    pending = list(handles)
    while pending and not stop:
        for h in list(pending):
            if VIP in wg_allowed(h).get(key, set()):
                done[h.name] = time.monotonic()
                pending.remove(h)


def _vip_at_route_servers(rs_socks: Iterable[Path], origins: Iterable[str]) -> bool:
    """Every route server has the VIP from both origins (it sends each client only its best of them,
    so a client never holds both)."""
    for s in rs_socks:
        for addr in origins:
            out = run([GOBGP, "--target", f"unix://{s}", "neighbor", addr, "adj-in", "-j"], check=False).stdout
            if VIP not in out:
                return False
    return True


def _both_vip_paths(socks: Iterable[Path], origin_asns: set[int]) -> bool:
    for s in socks:
        direct = {as_path(p)[0] for p in rib(s).get(VIP, []) if len(as_path(p)) == 1}
        if direct != origin_asns:
            return False
    return True


async def _raw_failover(rm: RawMesh, w: Watch, names: list[str], owner: dict[str, int], runs: int) -> dict[str, Any]:
    others = [n for n in names if n not in ("n01", "n02")]
    socks = [rm.sockets[n] for n in others]
    lat = []
    asns = {rm.machines[0].asn, rm.machines[1].asn}
    rs_socks = [rm.lab.base / f"raw-rs-{member_name(i)}" / "gobgpd.sock" for i in rm.route_servers or []]
    origins = [underlay_addr(1), underlay_addr(2)]
    for _ in range(runs):
        if rs_socks:
            ready = lambda: _vip_at_route_servers(rs_socks, origins) and all(VIP in w.best[n] for n in others)  # noqa: E731
        else:
            ready = lambda: _both_vip_paths(socks, asns)  # noqa: E731
        await asyncio.to_thread(wait_for, ready, 30, "both VIP paths everywhere")
        moving = [n for n in others if owner.get(w.best[n].get(VIP, "")) == 1]
        victim = 1
        if len(moving) < len(others) / 2:
            victim = 2
            moving = [n for n in others if owner.get(w.best[n].get(VIP, "")) == 2]
        other_nh = underlay_addr(3 - victim)
        vs = rm.sockets[member_name(victim)]
        t0 = time.monotonic()
        await _raw_del(vs, [VIP])
        t1 = await w.until(_moved(w, moving, other_nh), "raw VIP moved")
        lat.append((t1 - t0) * 1000)
        await _raw_add(vs, [VIP])
    return {"best_path": summary(lat), "moving_members": len(moving)}


async def _raw_stop(rm: RawMesh, w: Watch, names: list[str], everything: set[str], runs: int) -> dict[str, Any]:
    victim = names[-1]
    i = len(names)
    rest = names[:-1]
    lat = []
    theirs = {f"{mesh_addr(i)}/32", STOP_ROUTE}
    for _ in range(runs):
        await _raw_add(rm.sockets[victim], [STOP_ROUTE])
        await w.until(lambda: w.holds(rest, theirs), "stop victim's routes everywhere")
        t0 = time.monotonic()
        os.kill(rm.procs[victim].popen.pid, signal.SIGTERM)
        t1 = await w.until(lambda: w.lacks(rest, theirs), "stopped member's routes gone")
        lat.append((t1 - t0) * 1000)
        await asyncio.to_thread(rm.procs[victim].popen.wait, 15)
        rm.start_member(i)
        await asyncio.to_thread(rm.wait_member, victim)
        await _raw_add(rm.sockets[victim], _own(i))
        await w.until(lambda: w.holds(names, everything), "restarted member back", 90)
    return {"routes_gone": summary(lat)}


# ----- the agent mesh -----------------------------------------------------------------------------------


def _vip_doc(flag: Path) -> dict[str, Any]:
    return exec_vip_doc(VIP.removesuffix("/32"), flag)


def _decided(h: AgentHandle) -> float:
    for r in h.api("GET", "/v1/checks"):
        if r["name"] == "vip":
            return float(r["decided_at_monotonic"])
    raise KeyError("vip")


async def bench_agents(n: int, runs: int, stop_runs: int, rs: bool = False) -> dict[str, Any]:
    lab = Lab()
    w = Watch()
    kw = KernelWatch({ROUTE, STOP_ROUTE})
    try:
        names = [member_name(i) for i in range(1, n + 1)]
        everything = {f"{mesh_addr(i)}/32" for i in range(1, n + 1)} | {VIP}
        for name in names:
            w.add(name, lab.base / name / "run" / "gobgpd" / "gobgpd.sock")
        flags = {name: lab.base / f"ok-{name}" for name in ("n01", "n02")}
        for f in flags.values():
            f.touch()

        def on_up(h: AgentHandle) -> None:
            if h.name in flags:
                h.api("POST", "/v1/apply", _vip_doc(flags[h.name]))

        servers = [member_name(i) for i in ROUTE_SERVERS] if rs else None
        sm = await asyncio.to_thread(start_scale_mesh, lab, n, 4, 60.0, None, on_up, WG_KEEPALIVE, servers)
        t_all = await w.until(lambda: w.holds(names, everything), "agents: all /32s and the VIP everywhere", 180)
        out: dict[str, Any] = {"start_s": round(t_all - sm.started_last, 2)}
        out["idle"] = await idle_usage({m.name: m.ns for m in sm.machines})
        if IDLE_ONLY:
            return out
        for m in sm.machines:
            await kw.add(m.name, m.ns)
        n03 = sm.agent(3)
        route_doc = {"announcements": [{"name": "tdown", "route": ROUTE}]}
        out["tdown_ms"] = await _tdown(
            w,
            names,
            add=lambda: asyncio.to_thread(n03.api, "POST", "/v1/apply", route_doc),
            delete=lambda: asyncio.to_thread(n03.api, "DELETE", "/v1/announcements/tdown"),
            runs=runs,
            kernel=kw,
            kernel_names=[x for x in names if x != "n03"],
        )
        out["failover_ms"] = await _agent_failover(sm, w, names, flags, runs, rs)
        out["stop_ms"] = await _agent_stop(sm, w, kw, names, everything, stop_runs)
        return out
    finally:
        await kw.close()
        await w.close()
        await asyncio.to_thread(lab.close)


async def _agent_failover(
    sm: ScaleMesh, w: Watch, names: list[str], flags: dict[str, Path], runs: int, rs: bool = False
) -> dict[str, Any]:
    others = [x for x in names if x not in flags]
    socks = [gobgpd_socket(sm.agents[x]) for x in others]
    owner = {mesh_addr(1): 1, mesh_addr(2): 2}
    asns = {sm.machines[0].asn, sm.machines[1].asn}
    best_lat, wg_lat = [], []
    moving: list[str] = []
    rs_socks = [
        Path(sm.agents[member_name(i)].config["runtime_dir"]) / "route-server-m" / "gobgpd.sock"
        for i in ROUTE_SERVERS
        if rs
    ]
    origins = [mesh_addr(1), mesh_addr(2)]
    for _ in range(runs):
        if rs_socks:
            ready = lambda: _vip_at_route_servers(rs_socks, origins) and all(VIP in w.best[x] for x in others)  # noqa: E731
        else:
            ready = lambda: _both_vip_paths(socks, asns)  # noqa: E731
        await asyncio.to_thread(wait_for, ready, 30, "both VIP paths everywhere")
        victim = 1
        moving = [x for x in others if owner.get(w.best[x].get(VIP, "")) == 1]
        if len(moving) < len(others) / 2:
            victim = 2
            moving = [x for x in others if owner.get(w.best[x].get(VIP, "")) == 2]
        other = sm.machines[2 - victim]  # the surviving origin
        vname = member_name(victim)
        wg_done: dict[str, float] = {}
        stop: list[bool] = []
        handles = [sm.agents[x] for x in moving]
        poller = asyncio.create_task(asyncio.to_thread(_poll_wg, handles, other.pubkey, wg_done, stop))
        flags[vname].unlink()
        t1 = await w.until(_moved(w, moving, other.mesh_addr), "VIP moved")
        try:
            await asyncio.wait_for(poller, 20)
        finally:
            stop.append(True)
        t0 = await asyncio.to_thread(_decided, sm.agents[vname])
        best_lat.append((t1 - t0) * 1000)
        if len(wg_done) == len(moving) and moving:
            wg_lat.append((max(wg_done.values()) - t0) * 1000)
        flags[vname].touch()
    return {
        "best_path": summary(best_lat),
        "allowed_ips": summary(wg_lat) if wg_lat else None,
        "moving_members": len(moving),
    }


async def _agent_stop(
    sm: ScaleMesh, w: Watch, kw: KernelWatch, names: list[str], everything: set[str], runs: int
) -> dict[str, Any]:
    victim = names[-1]
    h = sm.agents[victim]
    rest = names[:-1]
    theirs = {f"{sm.machines[-1].mesh_addr}/32", STOP_ROUTE}
    lat, k_lat = [], []
    doc = {"announcements": [{"name": "stopme", "route": STOP_ROUTE}]}
    await asyncio.to_thread(h.api, "POST", "/v1/apply", doc)  # persisted: it comes back with the restart
    for _ in range(runs):
        await w.until(lambda: w.holds(rest, theirs), "stop victim's routes everywhere", 90)
        await kw.until(lambda: all(STOP_ROUTE in kw.have[x] for x in rest), "stop route in kernels")
        t0 = time.monotonic()
        os.kill(h.proc.popen.pid, signal.SIGTERM)
        t1 = await w.until(lambda: w.lacks(rest, theirs), "stopped member's routes gone")
        t2 = await kw.until(lambda: all(STOP_ROUTE not in kw.have[x] for x in rest), "stopped member's route")
        lat.append((t1 - t0) * 1000)
        k_lat.append((max(t1, t2) - t0) * 1000)
        await asyncio.to_thread(h.proc.popen.wait, 30)
        await asyncio.to_thread(sm.lab.start_agent, victim, h.ns, h.config)
        await w.until(lambda: w.holds(names, everything), "restarted member back", 90)
    return {"rib": summary(lat), "rib_and_kernel": summary(k_lat)}


# ----- report ---------------------------------------------------------------------------------------------


def _fmt(s: dict[str, Any] | None) -> str:
    if not s:
        return "-"
    return f"p50 {s['p50']:.0f} / p99 {s['p99']:.0f} / max {s['max']:.0f} ms (n={s['n']})"


async def _main(sizes: list[int], runs: int, stop_runs: int, topologies: list[str]) -> list[dict[str, Any]]:
    results = []
    for n in sizes:
        for topo in topologies:
            for kind, fn in (("raw gobgpd", bench_raw), ("agents", bench_agents)):
                load0 = loadavg()
                t = time.monotonic()
                r = await fn(n, runs, stop_runs, topo == "rs")
                label = kind if topo == "full" else f"{kind}, route servers"
                r.update({"n": n, "kind": label, "load1_before": load0, "load1_after": loadavg()})
                r["wall_s"] = round(time.monotonic() - t, 1)
                results.append(r)
                print(json.dumps(r), flush=True)
    return results


def main() -> None:
    sizes = [int(x) for x in os.environ.get("DURANTIC_BENCH_SIZES", "10,20,30").split(",")]
    runs = int(os.environ.get("DURANTIC_BENCH_RUNS", "20"))
    stop_runs = int(os.environ.get("DURANTIC_BENCH_STOP_RUNS", "3"))
    topologies = os.environ.get("DURANTIC_BENCH_TOPOLOGIES", "full,rs").split(",")
    bad = [t for t in topologies if t not in ("full", "rs")]
    if bad:
        raise SystemExit(f"DURANTIC_BENCH_TOPOLOGIES: {bad[0]!r} is not full or rs")
    results = asyncio.run(_main(sizes, runs, stop_runs, topologies))
    print()
    print(
        "| N | mesh | start | Tdown RIB | Tdown RIB+kernel | failover best | failover AllowedIPs | stop "
        "| RSS/member | CPU idle |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "tdown_ms" not in r:
            print(f"| {r['n']} | {r['kind']} | {r['start_s']:.1f} s | | | | | | {r['idle']} |")
            continue
        fo = r["failover_ms"]
        st = r["stop_ms"]
        print(
            f"| {r['n']} | {r['kind']} | {r['start_s']:.1f} s | {_fmt(r['tdown_ms']['rib'])} "
            f"| {_fmt(r['tdown_ms'].get('rib_and_kernel'))} | {_fmt(fo['best_path'])} | {_fmt(fo.get('allowed_ips'))} "
            f"| {_fmt(st.get('rib_and_kernel') or st.get('routes_gone'))} "
            f"| {r['idle']['rss_mb_per_member_median']} (max {r['idle']['rss_mb_per_member_max']}) MB "
            f"| {r['idle']['cpu_pct_of_one_core']}% |"
        )


if __name__ == "__main__":
    main()
