"""VIP failover: from the agent's deciding failed probe to the observer's best-path change.

A and B announce one VIP with exec checks (interval 100 ms, thresholds 1); an independent gobgpd X peers
with both and is watched with WatchEvent(BEST) from this process. Each run fails the origin of X's
current best path; t0 is the deciding probe's end (the check's `decided_at_monotonic`, CLOCK_MONOTONIC is
shared by every process on the machine), t1 is when X's BEST event arrives here.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.watch import watch_best
from tests.lab.harness import GOBGP, Lab, run, wait_for

VIP = "10.50.0.10/32"
ASNS = {"a": 4200000001, "b": 4200000002}


def exec_vip_doc(vip: str, flag: Path) -> dict[str, Any]:
    """One VIP whose exec check passes while `flag` exists, probed every 100 ms, thresholds 1: deleting
    the file is a failover whose deciding probe the agent timestamps."""
    check = {
        "exec": {"command": ["/usr/bin/test", "-e", str(flag)]},
        "interval": "100ms",
        "timeout": "100ms",
        "healthy_threshold": 1,
        "unhealthy_threshold": 1,
    }
    return {"announcements": [{"name": "vip", "vip": vip, "health_check": check}]}


async def _watch(sock: str, events: list[tuple[float, str]], ready: asyncio.Event) -> None:
    client = GobgpClient(sock)
    try:
        async for _, changes in watch_best(client):
            ready.set()
            for bp, withdrawn in changes:
                if bp.prefix == VIP and not withdrawn:
                    events.append((time.monotonic(), bp.next_hop))
    finally:
        await client.close()


async def _bench(lab: Lab, runs: int) -> None:
    a, b, x = lab.ns("a"), lab.ns("b"), lab.ns("x")
    lab.segment("u", {a: "10.95.0.1/24", b: "10.95.0.2/24", x: "10.95.0.3/24"})
    _, xsock = lab.start_peer_gobgpd(
        "gobgpd-x", x, 65000, "10.95.0.3", {"10.95.0.1": ASNS["a"], "10.95.0.2": ASNS["b"]}
    )
    t = f"unix://{xsock}"
    handles: dict[str, Any] = {}
    flags = {}
    for name, ns, ip in (("a", a, "10.95.0.1"), ("b", b, "10.95.0.2")):
        cfg = lab.agent_config(
            name,
            ASNS[name],
            ip,
            neighbors=[{"name": "x", "address": "10.95.0.3", "asn": 65000, "import": "accept", "export": "accept"}],
        )
        h = lab.start_agent(name, ns, cfg)
        flag = lab.base / f"ok-{name}"
        flag.touch()
        flags[name] = flag
        doc = exec_vip_doc("10.50.0.10", flag)
        f = lab.base / f"{name}.yaml"
        f.write_text(yaml.safe_dump(doc))
        h.cli("apply", "-f", str(f))
        handles[name] = h
    for h in handles.values():
        await asyncio.to_thread(wait_for, lambda h=h: h.established("x"), 40, f"{h.name} session")
    events: list[tuple[float, str]] = []
    ready = asyncio.Event()
    task = asyncio.create_task(_watch(str(xsock), events, ready))
    await ready.wait()
    nh_owner = {"10.95.0.1": "a", "10.95.0.2": "b"}

    def both_present() -> bool:
        out = run([GOBGP, "--target", t, "global", "rib", "-a", "ipv4", VIP, "-j"]).stdout
        return len(next(iter(yaml.safe_load(out).values()), [])) == 2

    await asyncio.to_thread(wait_for, both_present, 20, "both paths on x")
    lat = []
    for i in range(runs):
        await asyncio.sleep(0.05)
        victim = nh_owner[events[-1][1]] if events else "a"
        other = "b" if victim == "a" else "a"
        n0 = len(events)
        flags[victim].unlink()
        deadline = time.monotonic() + 10
        while not any(nh_owner[e[1]] == other for e in events[n0:]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {i}: no best change on x")
            await asyncio.sleep(0.002)
        t1 = next(e[0] for e in events[n0:] if nh_owner[e[1]] == other)
        lat.append(t1 - _decided(handles[victim]))
        flags[victim].touch()
        await asyncio.to_thread(wait_for, both_present, 20, "both paths back on x")
    task.cancel()
    lat_ms = sorted(v * 1000 for v in lat)
    p99 = lat_ms[min(len(lat_ms) - 1, round(0.99 * (len(lat_ms) - 1)))]
    print(
        f"failover, deciding probe -> observer best-path change, {runs} runs: "
        f"p50 {statistics.median(lat_ms):.1f} ms, p99 {p99:.1f} ms, max {lat_ms[-1]:.1f} ms, min {lat_ms[0]:.1f} ms"
    )


def _decided(h: Any) -> float:
    for r in h.api("GET", "/v1/checks"):
        if r["name"] == "vip":
            return float(r["decided_at_monotonic"])
    raise KeyError("vip")


def main(runs: int = 50) -> None:
    lab = Lab()
    try:
        asyncio.run(_bench(lab, runs))
    finally:
        lab.close()


if __name__ == "__main__":
    main()
