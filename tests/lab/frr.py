"""FRR (zebra, bgpd, bfdd from Debian's `frr` package) as a router in one of the lab's namespaces.

Every path a daemon would share with another FRR on the machine is given explicitly and lives in the
router's own lab directory: the vty sockets (`--vty_socket`), the zebra API socket (`-z`), pid files
(`-i`), config files (`-f`) and bfdd's control socket (`--bfdctl`). `-N` is not used: it only changes
those defaults and creates a directory under /var/run/frr that would outlive the run. The daemons run in
the foreground as lab processes (killed by PID with the lab); `-u root -g frrvty` because FRR refuses a
user outside its vty group and the lab directory is root's.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .harness import Lab, Proc, run, wait_for

SBIN = Path("/usr/lib/frr")
BFD_PROFILE = "fast"


@dataclass
class Frr:
    name: str
    dir: Path
    procs: dict[str, Proc]

    def vtysh(self, *commands: str) -> str:
        argv = ["vtysh", "--vty_socket", str(self.dir)]
        for c in commands:
            argv += ["-c", c]
        return run(argv, check=False).stdout

    def json(self, command: str) -> Any:
        """A `show ... json` command's answer ({} while the daemon is not up yet or says nothing)."""
        out = self.vtysh(command)
        return json.loads(out) if out.strip() else {}

    def route(self, prefix: str) -> dict[str, Any] | None:
        """bgpd's entry for `prefix` (`show bgp ipv4 unicast PREFIX json`), None when it has no path."""
        got = self.json(f"show bgp ipv4 unicast {prefix} json")
        return got if got.get("paths") else None

    def neighbor(self, address: str) -> dict[str, Any]:
        got: dict[str, Any] = self.json(f"show bgp neighbors {address} json").get(address, {})
        return got

    def established(self, address: str) -> bool:
        return self.neighbor(address).get("bgpState") == "Established"

    def bfd_peer(self, address: str) -> dict[str, Any]:
        for p in self.json("show bfd peers json") or []:
            if p.get("peer") == address:
                return dict(p)
        return {}


def bgpd_config(router_id: str, asn: int, body: str) -> str:
    """bgpd.conf: FRR's `traditional` defaults, no RFC 8212 policy requirement (the test is about the
    agent's policy, not FRR's) and `network` statements that need no route in zebra's RIB."""
    return f"""frr defaults traditional
log stdout informational
router bgp {asn}
 bgp router-id {router_id}
 no bgp ebgp-requires-policy
 no bgp network import-check
{body}
"""


def bfdd_config(interval_ms: int, multiplier: int) -> str:
    return f"""log stdout informational
bfd
 profile {BFD_PROFILE}
  detect-multiplier {multiplier}
  receive-interval {interval_ms}
  transmit-interval {interval_ms}
 exit
exit
"""


def start_frr(lab: Lab, name: str, ns: str, bgpd_conf: str, bfdd_conf: str | None = None) -> Frr:
    for tool in ("vtysh", str(SBIN / "bgpd")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (Debian package frr): run `make setup`")
    d = lab.base / name
    d.mkdir(parents=True, exist_ok=True)
    common = ["--vty_socket", str(d), "-z", str(d / "zserv.api"), "-u", "root", "-g", "frrvty", "-P", "0"]
    procs: dict[str, Proc] = {}

    def daemon(daemon: str, conf: str, *extra: str) -> None:
        (d / f"{daemon}.conf").write_text(conf)
        argv = [str(SBIN / daemon), *common, "-f", str(d / f"{daemon}.conf"), "-i", str(d / f"{daemon}.pid"), *extra]
        p = procs[daemon] = lab.spawn(f"{name}-{daemon}", ns, argv)
        ready = d / ("zserv.api" if daemon == "zebra" else f"{daemon}.vty")
        wait_for(lambda: ready.exists() or not p.alive(), 10, f"{name}: {daemon} socket")
        assert p.alive(), p.log()

    # zebra first: bgpd and bfdd connect to its API socket, and BFD reaches bgpd through it
    daemon("zebra", "log stdout informational\n")
    if bfdd_conf is not None:
        daemon("bfdd", bfdd_conf, "--bfdctl", str(d / "bfdd.sock"))
    daemon("bgpd", bgpd_conf)
    return Frr(name, d, procs)
