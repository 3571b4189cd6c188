"""SIGSTOP of an agent's gobgpd: `durantic status` latency while it is hung, beside the same command with
gobgpd healthy (the anchor, same run); time from the stop until status says unresponsive, until the
watchdog has killed it and a new gobgpd is ready, and until an independent peer has the route back.
3 runs."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time

from bench.restart import agent_and_peer
from tests.lab.harness import DURANTIC, AgentHandle, Lab, wait_for


def _status(h: AgentHandle) -> tuple[float, str]:
    env = dict(os.environ, DURANTIC_SOCKET=str(h.socket))
    t = time.monotonic()
    out = subprocess.run(
        ["ip", "netns", "exec", h.ns, DURANTIC, "status"], text=True, capture_output=True, env=env, timeout=30
    ).stdout
    return time.monotonic() - t, out


def main(runs: int = 3) -> None:
    lab = Lab()
    try:
        h, has_route = agent_and_peer(lab, "192.168.91.0/24")
        healthy: list[float] = []
        hung: list[float] = []
        said, killed, back = [], [], []
        cli_at: list[tuple[float, float]] = []  # (latency, seconds since the stop) of `durantic status`
        api: list[tuple[float, float]] = []  # (latency, seconds since the stop) of GET /v1/status
        for _ in range(runs):
            healthy.extend(_status(h)[0] for _ in range(5))
            st = h.api("GET", "/v1/status")["gobgpd"]
            pid = st["pid"]
            t0 = time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            seen = None
            while True:
                dt, out = _status(h)
                hung.append(dt)
                cli_at.append((dt, time.monotonic() - t0))
                if seen is None and "UNRESPONSIVE" in out:
                    seen = time.monotonic() - t0
                t = time.monotonic()
                g = h.api("GET", "/v1/status")["gobgpd"]
                api.append((time.monotonic() - t, time.monotonic() - t0))
                if g["hung_kills"] > st["hung_kills"] and g["ready"]:
                    killed.append(time.monotonic() - t0)
                    break
                if time.monotonic() - t0 > 60:
                    raise AssertionError("the watchdog did not restart the stopped gobgpd in 60 s")
            said.append(seen if seen is not None else float("nan"))
            wait_for(has_route, 180, "route back", interval=0.02)
            back.append(time.monotonic() - t0)
            wait_for(lambda: h.established("x"), 60, "session back")

        def fmt(v: list[float]) -> str:
            return f"median {statistics.median(v):.3f} s (min {min(v):.3f}, max {max(v):.3f}, n {len(v)})"

        print(f"durantic status, gobgpd healthy (anchor): {fmt(healthy)}")
        print(f"durantic status, gobgpd stopped:          {fmt(hung)}; worst ending at {max(cli_at)[1]:.1f} s")
        worst = max(api)
        print(f"GET /v1/status, gobgpd stopped:           {fmt([v for v, _ in api])}; worst at {worst[1]:.1f} s")
        print(f"SIGSTOP -> status says UNRESPONSIVE:       {fmt(said)}")
        print(f"SIGSTOP -> killed, new gobgpd ready:       {fmt(killed)}")
        print(f"SIGSTOP -> route back on the independent peer: {fmt(back)}")
        print("(floor: the watchdog's 3 misses of 2 s after a 1 s interval, ~7-9 s; then GoBGP's first connect)")
    finally:
        lab.close()


if __name__ == "__main__":
    main()
