"""What wireguard-go itself costs a mesh: idle at two keepalives, and carrying the liveness probes.

N wireguard-go (the machine's, as the agents run it) in N namespaces on one underlay segment, a full
WireGuard mesh configured over UAPI, no agent and no gobgpd. CPU of the N wireguard-go over 10 s, in
% of one core, for: keepalive 1 s and 10 s with no traffic; then keepalive 10 s with the agents' own
liveness prober (durantic_agent.liveness.monitor, default thresholds) running in every namespace in
the pattern of each topology: `full`, every member probes every other; `rs`, members probe the two
route servers (n04, n05) and those probe everyone. The probers' own CPU is not counted: it is the
agent's share, measured by `bench liveness-cpu`.

    DURANTIC_BENCH_SIZES=10,30 DURANTIC_BENCH_KEEPALIVES=1,10 DURANTIC_BENCH_TOPOLOGIES=full,rs \
        python -m bench wg-cost   # the defaults

The idle rows alone at N = 100 and the product's keepalive (2 s), the floor of a 100-member mesh on
wireguard-go: DURANTIC_BENCH_SIZES=100 DURANTIC_BENCH_KEEPALIVES=2 DURANTIC_BENCH_TOPOLOGIES= .
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from durantic_agent.liveness.fsm import Params
from durantic_agent.liveness.monitor import Monitor, Target
from durantic_agent.wg.keys import b64_to_hex
from tests.lab.harness import Lab, Proc
from tests.lab.mesh import Machine
from tests.lab.scale import keygen, machines

SECONDS = 10.0
SETTLE = float(os.environ.get("DURANTIC_BENCH_SETTLE", "3"))  # seconds after each change
ROUTE_SERVERS = (3, 4)  # n04, n05, as in bench mesh-scale
_HZ = os.sysconf("SC_CLK_TCK")
_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


def _uapi(ifname: str, text: str) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(f"/var/run/wireguard/{ifname}.sock")
        s.sendall(text.encode())
        buf = b""
        while not buf.endswith(b"\n\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    if b"errno=0" not in buf:
        raise RuntimeError(f"{ifname}: UAPI set failed: {buf!r}")


def _configure(ms: list[Machine], ifnames: list[str], keepalive: int) -> None:
    for i, m in enumerate(ms):
        lines = ["set=1", f"private_key={b64_to_hex(Path(m.keyfile).read_text().strip())}", "listen_port=51820"]
        lines.append("replace_peers=true")
        for j, o in enumerate(ms):
            if j != i:
                lines += [f"public_key={b64_to_hex(o.pubkey)}", f"endpoint={o.underlay}:51820"]
                lines += [f"persistent_keepalive_interval={keepalive}", f"allowed_ip={o.mesh_addr}/32"]
        _uapi(ifnames[i], "\n".join(lines) + "\n\n")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / _HZ


def _echo_replies(lab: Lab, namespaces: list[str]) -> int:
    """Echo replies sent so far in `namespaces` (each namespace has its own ICMP counters)."""
    total = 0
    for ns in namespaces:
        lines = [ln.split() for ln in lab.sh(ns, "cat /proc/net/snmp").stdout.splitlines() if ln.startswith("Icmp:")]
        total += int(dict(zip(lines[0], lines[1], strict=True))["OutEchoReps"])
    return total


def _measure(lab: Lab, ms: list[Machine], pids: list[int]) -> tuple[float, float]:
    """% of one core of the wireguard-go, and the echo replies per second the mesh actually sent."""
    time.sleep(SETTLE)  # what the last change started (handshakes, first probes) settles first
    namespaces = [m.ns for m in ms]
    e0 = _echo_replies(lab, namespaces)
    c0, w0 = _cpu_seconds(pids), time.monotonic()
    time.sleep(SECONDS)
    c1, w1 = _cpu_seconds(pids), time.monotonic()
    e1 = _echo_replies(lab, namespaces)
    return (c1 - c0) / (w1 - w0) * 100, (e1 - e0) / (w1 - w0)


def _targets(i: int, n: int, topology: str) -> list[int]:
    if topology == "full" or i in ROUTE_SERVERS:
        return [j for j in range(n) if j != i]
    return [j for j in ROUTE_SERVERS if j != i]


def _probers(lab: Lab, ms: list[Machine], topology: str) -> tuple[list[Proc], int]:
    procs, streams = [], 0
    for i, m in enumerate(ms):
        addrs = [ms[j].mesh_addr for j in _targets(i, len(ms), topology)]
        streams += len(addrs)
        argv = [sys.executable, "-m", "bench.wg_cost", "probe", *addrs]
        procs.append(lab.spawn(f"probe-{m.name}", m.ns, argv))
    return procs, streams


def _row(n: int, label: str, measured: tuple[float, float]) -> None:
    pct, echoes = measured
    print(
        f"  N={n:2d} {label:<44s} wireguard-go {pct:6.1f} % of one core ({pct / n:.2f} % each), "
        f"{echoes:.0f} echoes answered/s, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def _run(n: int) -> None:
    lab = Lab()
    try:
        ms = machines(lab, n)
        ifnames = [f"dur-{lab.prefix}w{i}" for i in range(1, n + 1)]
        wgs = []
        for m, ifname in zip(ms, ifnames, strict=True):
            keygen(lab, m)
            wgs.append(lab.spawn(f"wg-{m.name}", m.ns, ["wireguard-go", "-f", ifname], _ENV))
        for m, ifname in zip(ms, ifnames, strict=True):
            deadline = time.monotonic() + 10
            while not Path(f"/var/run/wireguard/{ifname}.sock").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ifname}: wireguard-go did not start")
                time.sleep(0.02)
            lab.sh(m.ns, f"ip addr add {m.mesh_addr}/24 dev {ifname} && ip link set {ifname} up")
        pids = [p.popen.pid for p in wgs]  # `ip netns exec` execs wireguard-go, which stays in the foreground
        keepalive = 0
        for keepalive in _ints("DURANTIC_BENCH_KEEPALIVES", "1,10"):
            _configure(ms, ifnames, keepalive)
            _row(n, f"keepalive {keepalive} s, no traffic", _measure(lab, ms, pids))
        p = Params()
        topologies = [t for t in os.environ.get("DURANTIC_BENCH_TOPOLOGIES", "full,rs").split(",") if t]
        if topologies and keepalive != 10:
            _configure(ms, ifnames, 10)
        for topology in topologies if n > max(ROUTE_SERVERS) + 1 else [t for t in topologies if t == "full"]:
            probers, streams = _probers(lab, ms, topology)
            label = f"keepalive 10 s + liveness {topology} ({streams / p.spacing:.0f} echoes/s due)"
            _row(n, label, _measure(lab, ms, pids))
            for pr in probers:
                lab.kill(pr)
    finally:
        lab.close()


async def _probe(addrs: list[str]) -> None:
    """The agent's prober against `addrs` until killed (run inside one member's namespace)."""
    targets = {a: Target(a, a, Params()) for a in addrs}
    await Monitor(lambda: targets, lambda t, old, new: None).run()


def _ints(var: str, default: str) -> list[int]:
    return [int(s) for s in os.environ.get(var, default).split(",") if s]


def main() -> None:
    sizes = _ints("DURANTIC_BENCH_SIZES", "10,30")
    version = subprocess.run(["wireguard-go", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"{version}, full WireGuard mesh, no agents; CPU of every wireguard-go over {SECONDS:g} s")
    for n in sizes:
        _run(n)


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        asyncio.run(_probe(sys.argv[2:]))
    else:
        main()
