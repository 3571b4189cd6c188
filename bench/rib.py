"""`durantic rib --json` with 100,000 received routes vs `gobgp global rib -j` on the same gobgpd.

A plain gobgpd X peers with agent A and injects 100k /24s (AddPathStream, 1000 paths per message), so
A's RIB holds received routes as a real one would. Each listing runs twice, alternating; the agent's RSS
is sampled every 10 ms while it lists. Goal: durantic <= 1.5x gobgp, agent RSS <= 300 MB.

Also the helpers the other benchmarks share (injection, table counts, /proc readings, load).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durantic_agent.gobgp import raw as raw_msgs
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.paths import make_path
from durantic_agent.gobgp.pb import GLOBAL, V4U, api
from durantic_agent.gobgp.watch import _METHOD as _WATCH_METHOD
from durantic_agent.gobgp.watch import decode_paths
from tests.lab.harness import DURANTIC, GOBGP, ROOT, AgentHandle, Lab, run, wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")
# for helper processes that import bench.* (started with the venv python inside a namespace)
ROOT_ENV = {"PYTHONPATH": str(ROOT)}


# ----- shared helpers ------------------------------------------------------------------------------


def prefixes(n: int, base: int = 20 << 24, plen: int = 24) -> list[str]:
    step = 1 << (32 - plen)
    out = []
    for i in range(n):
        v = base + i * step
        out.append(f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}/{plen}")
    return out


def build_paths(pfx: Iterable[str], next_hop: str | None, **kw: Any) -> list[Any]:
    return [make_path(p, next_hop, **kw) for p in pfx]


async def inject(sock: Path | str, paths: list[Any], chunk: int = 1000) -> float:
    """AddPathStream, `chunk` paths per message; returns the RPC's duration (it ends once all are applied)."""
    client = GobgpClient(str(sock))

    async def gen() -> Any:
        for i in range(0, len(paths), chunk):
            yield api.AddPathStreamRequest(table_type=GLOBAL, paths=paths[i : i + chunk])

    try:
        t0 = time.monotonic()
        await client.stub.AddPathStream(gen())
        return time.monotonic() - t0
    finally:
        await client.close()


async def table_count(sock: Path | str, family: Any = V4U) -> int:
    client = GobgpClient(str(sock))
    try:
        r = await client.call("GetTable", api.GetTableRequest(table_type=GLOBAL, family=family))
        return int(r.num_destination)
    finally:
        await client.close()


def snapshot_seconds(sock: Path | str) -> tuple[float, int, float]:
    """What gobgpd alone takes to hand over its best paths: a fresh WatchEvent(BEST, init=True) on a
    scratch channel, timed until the first message (the whole table) has arrived, undecoded; its size in
    bytes; and what decoding it into best paths takes, as the agent's watch does (best of 2). Together,
    the floor under any consumer of GoBGP's API that starts from a full table."""
    import grpc

    channel = grpc.insecure_channel(f"unix://{sock}", options=[("grpc.max_receive_message_length", 1 << 30)])
    try:
        rpc = channel.unary_stream(_WATCH_METHOD, request_serializer=api.WatchEventRequest.SerializeToString)
        best = api.WatchEventRequest.Table.Filter(type=api.WatchEventRequest.Table.Filter.TYPE_BEST, init=True)
        t0 = time.monotonic()
        call = rpc(api.WatchEventRequest(table=api.WatchEventRequest.Table(filters=[best])))
        try:
            raw = next(iter(call))
            took = time.monotonic() - t0
        finally:
            call.cancel()
    finally:
        channel.close()
    return took, len(raw), min(_decode_seconds(raw) for _ in range(2))


def _decode_seconds(raw: bytes) -> float:
    t0 = time.perf_counter()
    decode_paths(raw_msgs.WatchEventResponse.FromString(raw).table.paths)
    return time.perf_counter() - t0


def count_now(sock: Path | str) -> int:
    return asyncio.run(table_count(sock))


class TableCounter:
    """GetTable on one long-lived blocking channel, for tight polls while something is timed: each
    count_now() builds an event loop and a channel (milliseconds of CPU taken from the process being
    timed, on a 2-core machine); this costs a fraction of that per poll."""

    def __init__(self, sock: Path | str) -> None:
        import grpc

        from durantic_agent.gobgp.pb import rpc

        self._channel = grpc.insecure_channel(f"unix://{sock}")
        self._stub = rpc.GoBgpServiceStub(self._channel)

    def __call__(self) -> int:
        return self.table()[0]

    def table(self) -> tuple[int, int]:
        """(destinations, paths)."""
        r = self._stub.GetTable(api.GetTableRequest(table_type=GLOBAL, family=V4U), timeout=10)
        return int(r.num_destination), int(r.num_path)

    def close(self) -> None:
        self._channel.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_idle(pid: int, quiet: float = 0.05, window: float = 1.0, timeout: float = 120) -> None:
    """Until the process used less than `quiet` of a core over `window` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - c0) / window < quiet:
            return
    raise TimeoutError(f"pid {pid} never went idle")


def _busy_jiffies() -> tuple[int, int]:
    f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(f) - f[3] - f[4], sum(f)  # (busy, all), idle and iowait left out of busy


def _ns_cpu(namespaces: list[str]) -> float:
    """CPU seconds used so far by the processes now in these network namespaces."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for ns in namespaces:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(f[11]) + int(f[12])) / tick
    return total


def wait_quiet(
    quiet: float = 0.1, window: float = 0.5, timeout: float = 120, namespaces: list[str] | None = None
) -> None:
    """Until the lab's processes (those in `namespaces`; without them, the whole machine) used less than
    `quiet` of one core over `window` seconds: the processes around the one being measured have finished
    their share of a burst, so the figure is its own work. Naming the lab's namespaces lets a shared
    machine's other work go on without the wait lasting for ever."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if namespaces is not None:
            c0 = _ns_cpu(namespaces)
            time.sleep(window)
            if _ns_cpu(namespaces) - c0 < quiet * window:
                return
            continue
        b0, a0 = _busy_jiffies()
        time.sleep(window)
        b1, a1 = _busy_jiffies()
        if a1 > a0 and (b1 - b0) / (a1 - a0) * cores < quiet:
            return
    raise TimeoutError("the machine never went quiet")


class RssSampler:
    """Peak VmRSS of a process while a block runs (sampled every 10 ms in a thread)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, env=env)
    return time.monotonic() - t0


def agent_pid(h: AgentHandle) -> int:
    return int(h.api("GET", "/v1/status")["pid"])


def gobgpd_sock(h: AgentHandle) -> Path:
    return Path(h.config["runtime_dir"]) / "gobgpd" / "gobgpd.sock"


# ----- a RIB of received routes -----------------------------------------------------------------


@dataclass
class RibLab:
    agent: AgentHandle
    xsock: Path
    n: int
    inject_s: float
    arrive_s: float


def rib_lab(lab: Lab, n: int, http: str | None = None) -> RibLab:
    a, x = lab.ns("a"), lab.ns("x")
    lab.link(a, "10.97.0.1/24", x, "10.97.0.2/24")
    _, xsock = lab.start_gobgpd("gobgpd-x", x)
    t = f"unix://{xsock}"
    run([GOBGP, "--target", t, "global", "as", "65000", "router-id", "10.97.0.2", "listen-port", "179"])
    run([GOBGP, "--target", t, "neighbor", "add", "10.97.0.1", "as", "4200000001"])
    cfg = lab.agent_config(
        "a",
        4200000001,
        "10.97.0.1",
        neighbors=[{"name": "x", "address": "10.97.0.2", "asn": 65000, "import": "accept", "export": "accept"}],
    )
    if http:
        cfg["api"]["http"] = http
    h = lab.start_agent("a", a, cfg)
    wait_for(lambda: h.established("x"), 40, "session a-x")
    paths = build_paths(prefixes(n), "10.97.0.2", communities=["65000:100"], med=10)
    t0 = time.monotonic()
    inj = asyncio.run(inject(xsock, paths))
    asock = gobgpd_sock(h)
    wait_for(lambda: count_now(asock) >= n, 120, f"{n} routes in the agent's RIB", interval=0.1)
    arrive = time.monotonic() - t0
    # the agent installs them into the kernel too; list only once it is quiet again
    wait_idle(agent_pid(h))
    return RibLab(h, xsock, n, inj, arrive)


def main(n: int = 100_000, runs: int = 2) -> None:
    lab = Lab()
    try:
        r = rib_lab(lab, n)
        h = r.agent
        pid = agent_pid(h)
        print(f"setup: {n} routes injected on X in {r.inject_s:.2f} s, all in the agent's RIB after {r.arrive_s:.2f} s")
        asock = gobgpd_sock(h)
        gob = [GOBGP, "--target", f"unix://{asock}", "global", "rib", "-a", "ipv4", "-j"]
        env = dict(os.environ, DURANTIC_SOCKET=str(h.socket))
        dur = ["ip", "netns", "exec", h.ns, DURANTIC, "rib", "--json"]
        res = subprocess.run(dur, capture_output=True, text=True, env=env)
        assert res.returncode == 0, res.stderr
        out = res.stdout
        assert out.count('"prefix"') == n, f"durantic rib listed {out.count(chr(34) + 'prefix' + chr(34))} routes"
        del out
        g_t, d_t, peaks = [], [], []
        for i in range(runs):
            ld = load()
            g_t.append(timed(gob))
            rss0 = rss_mb(pid)
            with RssSampler(pid) as s:
                d_t.append(timed(dur, env))
            peaks.append(s.peak)
            print(
                f"run {i + 1}: gobgp global rib -j {g_t[-1]:.2f} s | durantic rib --json {d_t[-1]:.2f} s "
                f"(ratio {d_t[-1] / g_t[-1]:.2f}x) | agent RSS {rss0:.0f} MB before, peak {s.peak:.0f} MB ({ld})"
            )
        ratio = max(d / g for d, g in zip(d_t, g_t, strict=True))
        print(
            f"rib {n} routes: worst ratio {ratio:.2f}x (goal <= 1.5x) {'OK' if ratio <= 1.5 else 'MISSED'}; "
            f"agent peak RSS {max(peaks):.0f} MB (goal <= 300) {'OK' if max(peaks) <= 300 else 'MISSED'}"
        )
    finally:
        lab.close()


if __name__ == "__main__":
    main()
