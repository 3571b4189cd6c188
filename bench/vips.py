"""1,000 VIPs with health checks every 1 s (half TCP, half HTTP) against local servers.

Agent A runs alone in a namespace with its HTTP listener on; the servers are 3 processes sharing one
port (SO_REUSEPORT, backlog 4096, HTTP/1.1 keep-alive) so they are not the bottleneck. Once every check
passes, each window of 20 s reads the agent's CPU from /proc/<pid>/stat, its RSS from /proc/<pid>/status
(sampled), and the schedule-drift histogram from /metrics (difference of the bucket counts over the window).
Goals: CPU <= 25% of one core, RSS <= 150 MB, drift p99 < 100 ms.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import yaml

from bench.rib import ROOT_ENV, agent_pid, cpu_seconds, load, rss_mb
from tests.lab.harness import Lab, wait_for

HTTP = "127.0.0.1:9179"
PORT = 8080
N = 1000
SERVERS = 3
_RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def _conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_RESP)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.start_server(_conn, sock=sock, backlog=4096)
    async with server:
        await server.serve_forever()


def serve(port: int = PORT) -> None:
    """One server process (run by the benchmark inside the agent's namespace)."""
    asyncio.run(_serve(port))


def _doc(n: int) -> dict[str, object]:
    anns = []
    for i in range(n):
        hc: dict[str, object] = (
            {"tcp": {"host": "127.0.0.1", "port": PORT}}
            if i % 2
            else {"http": {"url": f"http://127.0.0.1:{PORT}/healthz/{i}"}}
        )
        anns.append(
            {
                "name": f"vip{i:04d}",
                "vip": f"10.60.{i >> 8}.{i & 255}",
                "health_check": {**hc, "interval": "1s", "timeout": "1s"},
            }
        )
    return {"announcements": anns}


def _drift_buckets(ns: str) -> dict[float, float]:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "curl", "-sS", f"http://{HTTP}/metrics"], capture_output=True, text=True, check=True
    ).stdout
    b: dict[float, float] = {}
    for line in out.splitlines():
        if line.startswith("durantic_check_schedule_drift_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            b[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return b


def main(n: int = N, windows: int = 2, window_s: float = 20.0) -> None:
    lab = Lab()
    try:
        a = lab.ns("a")
        for i in range(SERVERS):
            lab.spawn(
                f"srv{i}", a, [sys.executable, "-c", f"from bench.vips import serve; serve({PORT})"], env=ROOT_ENV
            )
        wait_for(lambda: lab.sh(a, f"curl -sf http://127.0.0.1:{PORT}/", check=False).returncode == 0, 10, "servers up")
        cfg = lab.agent_config("a", 4200000001, "10.98.0.1")
        cfg["api"]["http"] = HTTP
        h = lab.start_agent("a", a, cfg)
        pid = agent_pid(h)
        f = lab.base / "vips.yaml"
        f.write_text(yaml.safe_dump(_doc(n)))
        t0 = time.monotonic()
        r = h.cli("apply", "-f", str(f))
        assert r.returncode == 0, r.stderr

        def all_passing() -> bool:
            rows = h.api("GET", "/v1/checks")
            return len(rows) == n and all(c["passing"] for c in rows)

        wait_for(all_passing, 60, f"{n} checks passing", interval=0.5)
        print(f"setup: {n} VIPs applied, all checks passing after {time.monotonic() - t0:.1f} s")
        time.sleep(3)  # let the start-up burst (first probes, thresholds) settle
        for w in range(windows):
            ld0 = load()
            b0, c0, m0 = _drift_buckets(a), cpu_seconds(pid), time.monotonic()
            peak = 0.0
            while time.monotonic() - m0 < window_s:
                peak = max(peak, rss_mb(pid))
                time.sleep(0.25)
            c1, m1, b1 = cpu_seconds(pid), time.monotonic(), _drift_buckets(a)
            cpu = (c1 - c0) / (m1 - m0) * 100
            d = {le: b1[le] - b0.get(le, 0.0) for le in b1}
            total = d[float("inf")]
            p99 = next(le for le in sorted(d) if d[le] >= 0.99 * total)
            p50 = next(le for le in sorted(d) if d[le] >= 0.50 * total)
            under = d.get(0.1, 0.0) / total * 100 if total else 0.0
            with h.client(timeout=120) as cl:
                failing = sum(1 for c in cl.get("/v1/checks").json() if not c["passing"])
            print(
                f"window {w + 1} ({window_s:.0f} s): agent CPU {cpu:.1f}% of one core (goal <= 25), "
                f"RSS peak {peak:.0f} MB (goal <= 150), probes {total:.0f} ({total / (m1 - m0):.0f}/s), "
                f"drift p50 <= {p50 * 1000:g} ms, p99 <= {p99 * 1000:g} ms (bucket bound; {under:.2f}% under 100 ms), "
                f"failing checks {failing} ({ld0} at start, {load()} at end)"
            )
    finally:
        lab.close()


if __name__ == "__main__":
    main()
