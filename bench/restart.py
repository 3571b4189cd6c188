"""kill -9 of an agent's gobgpd: time until a new gobgpd answers, until the session to an independent
gobgpd is Established again, and until that peer has the agent's route back. 3 runs."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable

from tests.lab.harness import AgentHandle, Lab, gobgp_cli, wait_for


def agent_and_peer(lab: Lab, route: str) -> tuple[AgentHandle, Callable[[], bool]]:
    """An agent announcing `route` to an independent gobgpd x; returns it and "x has the route"."""
    a, x = lab.ns("a"), lab.ns("x")
    lab.link(a, "10.96.0.1/24", x, "10.96.0.3/24")
    _, xsock = lab.start_peer_gobgpd("gobgpd-x", x, 65000, "10.96.0.3", {"10.96.0.1": 4200000001})
    nb = {"name": "x", "address": "10.96.0.3", "asn": 65000, "import": "accept", "export": "accept"}
    h = lab.start_agent("a", a, lab.agent_config("a", 4200000001, "10.96.0.1", neighbors=[nb]))
    h.cli("announce", "add", "lan", "--route", route)

    def has_route() -> bool:
        return route in (gobgp_cli(xsock, "global", "rib", "-a", "ipv4") or {})

    wait_for(lambda: h.established("x") and has_route(), 40, "initial session and route")
    return h, has_route


def main(runs: int = 3) -> None:
    lab = Lab()
    try:
        h, has_route = agent_and_peer(lab, "192.168.90.0/24")
        ready, est, back = [], [], []
        for _ in range(runs):
            st = h.api("GET", "/v1/status")["gobgpd"]
            t0 = time.monotonic()
            subprocess.run(["kill", "-9", str(st["pid"])], check=True)
            wait_for(
                lambda st=st: (  # type: ignore[misc]
                    h.api("GET", "/v1/status")["gobgpd"]["restarts"] > st["restarts"]
                    and h.api("GET", "/v1/status")["gobgpd"]["ready"]
                ),
                20,
                "gobgpd back",
                interval=0.005,
            )
            ready.append(time.monotonic() - t0)
            wait_for(lambda: h.established("x"), 60, "session back", interval=0.02)
            est.append(time.monotonic() - t0)
            wait_for(has_route, 30, "route back", interval=0.02)
            back.append(time.monotonic() - t0)

        def fmt(v: list[float]) -> str:
            return f"median {statistics.median(v):.3f} s (min {min(v):.3f}, max {max(v):.3f})"

        print(f"gobgpd kill -9 -> new gobgpd ready and re-configured: {fmt(ready)}")
        print(f"gobgpd kill -9 -> session to independent gobgpd Established: {fmt(est)}")
        print(f"gobgpd kill -9 -> route back on the independent peer: {fmt(back)}")
        print("(GoBGP waits rand[5,10) s before its first connect to a new peer; that dominates re-peering)")
    finally:
        lab.close()


if __name__ == "__main__":
    main()
