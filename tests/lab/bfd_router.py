"""A BIRD 2 router learning one VIP from two agents (a, b) over BGP with BFD on: shared by the lab test
and `bench machine-death`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .harness import AgentHandle, Lab, run, wait_for

VIP = "10.52.0.10"
NET = "10.94.0"
ROUTER = f"{NET}.254"
ORIGINS = {"ra": (f"{NET}.1", 4200000001), "rb": (f"{NET}.2", 4200000002)}
# A long hold time: whatever moves the VIP well inside it is BFD, not BGP's hold timer.
HOLD = 90

BIRD_CONF = """
router id {router};
log stderr all;
protocol device {{}}
protocol bfd {{
  interface "*" {{ interval 300 ms; multiplier 3; }};
}}
{sessions}
"""
BIRD_SESSION = """
protocol bgp p{name} {{
  local {router} as 4200000100;
  neighbor {addr} as {asn};
  hold time {hold}; keepalive time {keepalive}; connect retry time 1; connect delay time 1; error wait time 1, 2;
  bfd on;
  ipv4 {{ import all; export none; }};
}}
"""


@dataclass
class BfdRouter:
    agents: dict[str, AgentHandle]
    links: dict[str, str]  # namespace -> underlay interface
    sock: Path  # BIRD's control socket


def birdc(sock: Path, *args: str) -> str:
    return run(["birdc", "-s", str(sock), *args], check=False).stdout


def best_origin(sock: Path) -> str | None:
    """The agent whose path is BIRD's best for the VIP (None: no route)."""
    m = re.search(r"\[p(\w+) [^\]]*\] \*", birdc(sock, "show", "route", f"{VIP}/32"))
    return m.group(1) if m else None


def bfd_up(sock: Path, addr: str) -> bool:
    return any(addr in line and " Up " in line for line in birdc(sock, "show", "bfd", "sessions").splitlines())


def last_error(sock: Path, name: str) -> str:
    for line in birdc(sock, "show", "protocols", "all", f"p{name}").splitlines():
        if "Last error:" in line:
            return line.split("Last error:", 1)[1].strip()
    return ""


def build(lab: Lab) -> BfdRouter:
    r = lab.ns("r")
    nss = {n: lab.ns(n) for n in ORIGINS}
    links = lab.segment("n", {r: f"{ROUTER}/24", **{nss[n]: f"{a}/24" for n, (a, _) in ORIGINS.items()}})
    sessions = "".join(
        BIRD_SESSION.format(name=n, router=ROUTER, addr=a, asn=asn, hold=HOLD, keepalive=HOLD // 3)
        for n, (a, asn) in ORIGINS.items()
    )
    _, sock = lab.start_bird("bird-r", r, BIRD_CONF.format(router=ROUTER, sessions=sessions))
    agents = {}
    for n, (addr, asn) in ORIGINS.items():
        cfg = lab.agent_config(
            n, asn, addr, neighbors=[{"name": "r", "address": ROUTER, "asn": 4200000100, "bfd": {"interval": "300ms"}}]
        )
        cfg["bgp"].update(hold_time=HOLD, keepalive=HOLD // 3)
        agents[n] = h = lab.start_agent(n, nss[n], cfg)
        check = {"exec": {"command": ["/bin/true"]}, "interval": "1s", "healthy_threshold": 1}
        f = lab.base / f"vip-{n}.yaml"
        f.write_text(yaml.safe_dump({"announcements": [{"name": "vip", "vip": VIP, "health_check": check}]}))
        assert h.cli("apply", "-f", str(f)).returncode == 0
    return BfdRouter(agents, links, sock)


def wait_ready(t: BfdRouter, timeout: float = 90) -> None:
    """Both sessions Established with BFD up on both ends, and BIRD has both paths."""
    for n, h in t.agents.items():
        wait_for(lambda h=h: h.established("r"), timeout, f"{n}: session to the router")  # type: ignore[misc]
        wait_for(lambda h=h: (h.peers()["r"]["liveness"] or {}).get("state") == "up", timeout, f"{n}: BFD up")  # type: ignore[misc]
        wait_for(lambda a=ORIGINS[n][0]: bfd_up(t.sock, a), timeout, f"router: BFD to {n} up")  # type: ignore[misc]
    wait_for(lambda: birdc(t.sock, "show", "route", f"{VIP}/32").count("unicast") == 2, timeout, "router: 2 paths")
