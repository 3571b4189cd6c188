"""The anchor for `bench machine-death`: plain gobgpd 4.8 with BFD 300 ms x 3 and nothing else. An
observer y learns one prefix from two origins x1 and x2 (configured from TOML files, no agent); the
origin y uses is powered off; measured: until y's best path is via the other origin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from durantic_agent.gobgp.sidecar import GOBGPD_QUIET_FLAGS
from tests.lab.harness import GOBGP, GOBGPD, Lab, run, wait_for

PREFIX = "10.53.0.10/32"
NET = "10.95.0"
OBSERVER = f"{NET}.254"
ORIGINS = {"x1": f"{NET}.1", "x2": f"{NET}.2"}
HOLD = 90

_NEIGHBOR = """
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{addr}"
    peer-as = {asn}
  [neighbors.timers.config]
    hold-time = {hold}
    keepalive-interval = {keepalive}
    connect-retry = 1
  [neighbors.bfd.config]
    enabled = true
    desired-minimum-tx-interval = 300000
    required-minimum-receive = 300000
    detection-multiplier = 3
"""
_GLOBAL = """
[global.config]
  as = {asn}
  router-id = "{rid}"
  port = 179
"""


def _asn(name: str) -> int:
    return 4200000200 + (0 if name == "y" else int(name[1:]))


@dataclass
class Anchor:
    lab: Lab
    ns: dict[str, str]
    links: dict[str, str]  # namespace -> interface
    socks: dict[str, Path]

    def start(self, name: str) -> None:
        d = self.lab.base / f"anchor-{name}"
        d.mkdir(parents=True, exist_ok=True)
        rid = OBSERVER if name == "y" else ORIGINS[name]
        conf = _GLOBAL.format(asn=_asn(name), rid=rid)
        peers = ORIGINS if name == "y" else {"y": OBSERVER}
        for n, addr in peers.items():
            conf += _NEIGHBOR.format(addr=addr, asn=_asn(n), hold=HOLD, keepalive=HOLD // 3)
        (d / "gobgpd.toml").write_text(conf)
        sock = d / "gobgpd.sock"
        sock.unlink(missing_ok=True)
        argv = [GOBGPD, "-f", str(d / "gobgpd.toml"), f"--api-hosts=unix://{sock}", *GOBGPD_QUIET_FLAGS, "-p"]
        proc = self.lab.spawn(f"anchor-{name}", self.ns[name], argv)
        wait_for(lambda: sock.exists() or not proc.alive(), 10, f"{name} socket")
        self.socks[name] = sock
        if name != "y":
            wait_for(lambda: self._cli(name, "global") is not None, 10, f"{name}: global config")
            run([GOBGP, "--target", f"unix://{sock}", "global", "rib", "add", PREFIX, "-a", "ipv4"])

    def _cli(self, name: str, *args: str) -> object:
        r = run([GOBGP, "--target", f"unix://{self.socks[name]}", *args, "-j"], check=False)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None

    def best(self) -> str | None:
        """The origin of y's best path (None: no path)."""
        rib = self._cli("y", "global", "rib", "-a", "ipv4", PREFIX)
        for path in (rib or {}).get(PREFIX, []) if isinstance(rib, dict) else []:
            if path.get("best"):
                src = path.get("peer-address")
                return next((n for n, a in ORIGINS.items() if a == src), None)
        return None

    def ready(self) -> bool:
        """Both sessions at y Established with BFD up, and both paths in y's table."""
        peers = self._cli("y", "neighbor")
        if not isinstance(peers, list) or len(peers) != 2:
            return False
        for p in peers:
            st = p.get("state", {})
            # the CLI's JSON carries the enums' numbers: 6 = ESTABLISHED, 1 = BFD UP
            if st.get("session_state") != 6 or (st.get("bfd_state") or {}).get("session_state") != 1:
                return False
        rib = self._cli("y", "global", "rib", "-a", "ipv4", PREFIX)
        return isinstance(rib, dict) and len(rib.get(PREFIX, [])) == 2


def build(lab: Lab) -> Anchor:
    ns = {n: lab.ns(f"an{n}") for n in ("y", *ORIGINS)}
    links = lab.segment("an", {ns["y"]: f"{OBSERVER}/24", **{ns[n]: f"{a}/24" for n, a in ORIGINS.items()}})
    a = Anchor(lab, ns, links, {})
    for n in ("y", *ORIGINS):
        a.start(n)
    return a
