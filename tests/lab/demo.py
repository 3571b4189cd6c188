"""`make demo`: three agents in a WireGuard mesh, a VIP announced by two of them, and a failover to watch.

Run as root from the repository root:  .venv/bin/python -m tests.lab.demo [--once]

Machines a, b and c are network namespaces on one underlay switch, each running a real agent (gobgpd and
wireguard-go under it). a and b announce the VIP 10.50.0.10 with an exec health check (a flag file exists);
c prefers a's path by policy (LOCAL_PREF 200). Each agent's web page (api.http, 127.0.0.1:9179 inside its
namespace) is forwarded to the host's loopback. The demo fails a's check, shows the VIP moving to b,
restores it, and keeps running until Ctrl-C (with --once or DEMO_ONCE=1 it stops after that round).
Teardown always runs: namespaces, daemons and temp files are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from .forward import Forwarder
from .harness import DURANTIC, AgentHandle, Lab, wait_for
from .mesh import Machine, keygen, mesh_config, write_members

__all__ = ["VIP", "DemoLab", "best_source", "build", "cli_wrappers", "main"]

VIP = "10.50.0.10"
VIP_PREFIX = f"{VIP}/32"
WEB_PORT = 9179  # api.http inside each namespace (the product default)
HOST_PORTS = {"a": 9181, "b": 9182, "c": 9183}


@dataclass
class DemoLab:
    lab: Lab
    machines: dict[str, Machine]
    agents: dict[str, AgentHandle]
    flags: dict[str, Path]
    forwards: dict[str, Forwarder] = field(default_factory=dict)

    def forward(self, name: str, host_port: int = 0) -> Forwarder:
        """Make agent `name`'s web listener reachable on the host (a busy port falls back to any free one)."""
        ns = self.agents[name].ns
        try:
            fwd = Forwarder(ns=ns, upstream_port=WEB_PORT, listen_port=host_port).start()
        except OSError:
            fwd = Forwarder(ns=ns, upstream_port=WEB_PORT).start()
        self.forwards[name] = fwd
        return fwd

    def close(self) -> None:
        for f in self.forwards.values():
            f.close()
        self.forwards.clear()
        self.lab.close()


def vip_doc(flag: Path) -> dict[str, Any]:
    return {
        "announcements": [
            {
                "name": "web",
                "vip": VIP,
                "health_check": {
                    "exec": {"command": ["/usr/bin/test", "-e", str(flag)]},
                    "interval": "500ms",
                    "timeout": "400ms",
                    "healthy_threshold": 1,
                    "unhealthy_threshold": 2,
                },
            }
        ]
    }


PREFER_A: dict[str, Any] = {
    "policy_sets": [
        {
            "name": "prefer-a",
            "rules": [
                {
                    # originated by a and heard from a itself: when a withdraws, the copy of b's path that a
                    # relays must not keep the preference (matching on the neighbour would)
                    "name": "vip-from-a",
                    "match": {"prefixes": ["10.50.0.0/16 le 32"], "as_path": "^4200000001$"},
                    "actions": {"local_pref": 200, "result": "accept"},
                }
            ],
        }
    ],
    "import_policies": ["prefer-a"],
}


def apply(lab: Lab, h: AgentHandle, name: str, doc: dict[str, Any]) -> None:
    f = lab.base / f"{name}-{h.name}.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = h.cli("apply", "-f", str(f))
    if r.returncode != 0:
        raise RuntimeError(f"{h.name}: durantic apply {name} failed: {r.stderr.strip()}")


def vip_row(h: AgentHandle) -> dict[str, Any] | None:
    rows = h.api("GET", f"/v1/rib?prefix={VIP_PREFIX}")
    return next((r for r in rows if r["prefix"] == VIP_PREFIX), None)


def path_count(h: AgentHandle) -> int:
    row = vip_row(h)
    return len(row["paths"]) if row else 0


def best_source(h: AgentHandle) -> str | None:
    """Name of the peer (or 'local') whose path to the VIP is best in `h`'s RIB."""
    row = vip_row(h)
    if not row or not row["paths"] or not row["paths"][0].get("best"):
        return None
    return str(row["paths"][0]["source"])


def build(lab: Lab, extra: dict[str, Any] | None = None) -> DemoLab:
    """The demo topology, converged: sessions up, c's best VIP path is via a with b's as the alternative.
    `extra` is merged into every agent.yaml."""
    ms = {
        "a": Machine("a", lab.ns("a"), "10.96.0.1", "100.64.0.1", 4200000001),
        "b": Machine("b", lab.ns("b"), "10.96.0.2", "100.64.0.2", 4200000002),
        "c": Machine("c", lab.ns("c"), "10.96.0.3", "100.64.0.3", 4200000003),
    }
    lab.segment("u", {m.ns: f"{m.underlay}/24" for m in ms.values()})
    for m in ms.values():
        keygen(lab, m)
    members = write_members(lab, "demo", list(ms.values()))
    agents: dict[str, AgentHandle] = {}
    for m in ms.values():
        cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, "demo", 24, members)])
        cfg["wireguard"] = {"backend": "userspace"}
        cfg["api"]["http"] = f"127.0.0.1:{WEB_PORT}"
        cfg.update(extra or {})
        agents[m.name] = lab.start_agent(m.name, m.ns, cfg)
    flags = {}
    for n in ("a", "b"):
        flags[n] = lab.base / f"healthy-{n}"
        flags[n].touch()
    apply(lab, agents["c"], "policy", PREFER_A)
    for n in ("a", "b"):
        apply(lab, agents[n], "vip", vip_doc(flags[n]))
    demo = DemoLab(lab, ms, agents, flags)
    for n, h in agents.items():
        others = [o for o in agents if o != n]
        wait_for(partial(h.established, *others), 60, f"{n}: sessions to {', '.join(others)}")
    c = agents["c"]
    wait_for(lambda: best_source(c) == "a" and path_count(c) == 2, 30, "c: VIP best via a, b alternative")
    return demo


def _say(text: str) -> None:
    print(text, flush=True)


def _section(title: str) -> None:
    _say(f"\n=== {title} " + "=" * max(0, 76 - len(title)))


def _show(h: AgentHandle, *args: str) -> None:
    _say(f"$ durantic {' '.join(args)}        # on {h.name}")
    r = h.cli(*args)
    _say((r.stdout + r.stderr).rstrip())


def failover_round(demo: DemoLab, pause: float) -> None:
    c = demo.agents["c"]
    _section("VIP failover")
    _say(f"c reaches {VIP} via a (LOCAL_PREF 200 by c's policy prefer-a); b's path is the alternative.")
    _show(c, "rib", VIP_PREFIX, "--explain")
    _say(f"\nIn {pause:.0f} s a's health check starts failing (its flag file is removed): watch the page.")
    time.sleep(pause)
    demo.flags["a"].unlink()
    t0 = time.monotonic()
    wait_for(lambda: best_source(c) == "b", 20, "c: VIP best via b")
    _say(f"a's check failed; a withdrew the VIP; c moved it to b in {time.monotonic() - t0:.1f} s:")
    _show(c, "rib", VIP_PREFIX, "--explain")
    _show(demo.agents["a"], "checks")
    _say(f"\nIn {pause:.0f} s a's check recovers.")
    time.sleep(pause)
    demo.flags["a"].touch()
    t0 = time.monotonic()
    wait_for(lambda: best_source(c) == "a" and path_count(c) == 2, 20, "c: VIP back via a")
    _say(f"a is healthy again; c prefers a's path again after {time.monotonic() - t0:.1f} s:")
    _show(c, "rib", VIP_PREFIX, "--explain")


def cli_wrappers(demo: DemoLab) -> dict[str, Path]:
    """One `durantic-<machine>` script per agent: the CLI with that agent's socket (unix sockets live
    on the shared filesystem, so no namespace is needed)."""
    bindir = demo.lab.base / "bin"
    bindir.mkdir(exist_ok=True)
    out = {}
    for n, h in demo.agents.items():
        w = bindir / f"durantic-{n}"
        w.write_text(f'#!/bin/sh\nexec env DURANTIC_SOCKET={h.socket} {DURANTIC} "$@"\n')
        w.chmod(0o755)
        out[n] = w
    return out


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--once", action="store_true", help="exit after one failover round (also DEMO_ONCE=1)")
    ap.add_argument("--pause", type=float, default=5.0, help="seconds to wait before each step (default 5)")
    args = ap.parse_args(argv)
    once = args.once or os.environ.get("DEMO_ONCE") == "1"
    if os.geteuid() != 0:
        print("make demo: needs root (it creates network namespaces); run it with sudo", file=sys.stderr)
        return 1
    # a kill runs the same teardown as Ctrl-C; SIGINT is set explicitly because a shell starts background
    # jobs with it ignored, and Python then never raises KeyboardInterrupt
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    lab = Lab(prefix=f"dm{os.getpid() % 10000}")
    demo: DemoLab | None = None
    try:
        _say(f"Starting three agents (a, b, c) in namespaces {lab.prefix}a/b/c; the mesh forms in about 10 s...")
        demo = build(lab)
        for n in demo.agents:
            demo.forward(n, HOST_PORTS[n])
        for n, h in demo.agents.items():
            _section(f"machine {n}")
            _show(h, "status")
            _say("")
            _show(h, "peers")
        _section("web pages and the CLI of each machine")
        wrappers = cli_wrappers(demo)
        for n, f in demo.forwards.items():
            _say(f"  {n}: {f.url}ui/    sudo {wrappers[n]} status")
        _say(f"Each durantic-X runs the CLI against machine X (DURANTIC_SOCKET={demo.agents['a'].socket} for a),")
        _say(f"e.g. `sudo {wrappers['c']} rib --explain` or `sudo {wrappers['a']} announce disable web`.")
        _say(f"Open c's page ({demo.forwards['c'].url}ui/): the Routing tab shows {VIP_PREFIX} with its best")
        _say("path starred; click the row to see b's path and why it lost. The Peers tab lists a and b.")
        failover_round(demo, args.pause)
        if once:
            _say("\n--once: done.")
            return 0
        _section("running")
        _say("The lab keeps running. Try: rm/touch " + str(demo.flags["a"]) + " and watch c's page.")
        _say("Ctrl-C to stop (everything is removed).")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _say("\nstopping...")
        return 0
    except Exception as e:
        print(f"demo failed: {e}", file=sys.stderr)
        print(lab.dump_logs()[-8000:], file=sys.stderr)
        return 1
    finally:
        # a second Ctrl-C must not cut the teardown short and leave namespaces behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if demo is not None:
            demo.close()
        else:
            lab.close()
        _say("lab removed.")


if __name__ == "__main__":
    sys.exit(main())


@contextlib.contextmanager
def module_demo(
    request: pytest.FixtureRequest, prefix: str, extra: dict[str, Any] | None = None, forward: Sequence[str] = ()
) -> Iterator[DemoLab]:
    """The demo topology for one test module, with `forward`'s web listeners on the host; its daemons'
    logs are printed when a test of the module failed."""
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (network namespaces)")
    lab = Lab(prefix=f"{prefix}{os.getpid() % 10000}")
    d: DemoLab | None = None
    failed_before = request.session.testsfailed
    try:
        d = build(lab, extra)
        for name in forward:
            d.forward(name)
        yield d
    finally:
        if request.session.testsfailed > failed_before:
            print(lab.dump_logs())
        if d is not None:
            d.close()
        else:
            lab.close()
