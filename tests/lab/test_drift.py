"""Level-triggered: state the agent owns, changed behind its back with the system's own tools, comes back
at the next resync (resync_interval 2 s here), and the repair is counted in durantic_drift_repaired_total.

Topology: the demo mesh (a, b announce the VIP; c learns it through a). Behind the agents' backs: c's
kernel route to the VIP (`ip route del`), the VIP on a's lo (`ip addr del`), a's own path in its gobgpd
(`gobgp global rib del`)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.lab.demo import VIP, VIP_PREFIX, WEB_PORT, DemoLab, best_source, module_demo
from tests.lab.harness import gobgp_cli, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest) -> Iterator[DemoLab]:
    with module_demo(request, "dd", extra={"resync_interval": "2s"}) as d:
        yield d


def _drift(demo: DemoLab, name: str, kind: str) -> float:
    ns = demo.agents[name].ns
    code = (
        f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{WEB_PORT}/metrics').read().decode())"
    )
    text = demo.lab.sh(ns, f'{sys.executable} -c "{code}"').stdout
    m = re.search(rf'^durantic_drift_repaired_total{{kind="{kind}"}} (\S+)$', text, re.M)
    assert m, f"no durantic_drift_repaired_total{{kind={kind!r}}} on {name}'s /metrics"
    return float(m.group(1))


def _restored(what: str, check: Callable[[], bool], took: list[str]) -> None:
    t0 = time.monotonic()
    wait_for(check, 20, what)
    took.append(f"{what}: {time.monotonic() - t0:.1f} s")


def test_kernel_route_vip_and_gobgpd_path_come_back(demo: DemoLab) -> None:
    a, c = demo.agents["a"], demo.agents["c"]
    lab = demo.lab
    took: list[str] = []

    def c_route() -> bool:
        return VIP in lab.sh(c.ns, f"ip route show {VIP_PREFIX} proto 186").stdout

    def a_lo() -> bool:
        return f"{VIP}/32" in lab.sh(a.ns, "ip -4 addr show dev lo").stdout

    wait_for(c_route, 20, "c: kernel route to the VIP")
    assert a_lo()
    routes0, vips0, paths0 = _drift(demo, "c", "routes"), _drift(demo, "a", "vips"), _drift(demo, "a", "paths")

    lab.sh(c.ns, f"ip route del {VIP_PREFIX} proto 186")  # a resync may put it back at once: the counter says
    _restored("c: kernel route back", c_route, took)
    assert _drift(demo, "c", "routes") >= routes0 + 1

    lab.sh(a.ns, f"ip addr del {VIP}/32 dev lo")
    _restored("a: VIP back on lo", a_lo, took)
    assert _drift(demo, "a", "vips") >= vips0 + 1

    sock = Path(a.config["runtime_dir"]) / "gobgpd" / "gobgpd.sock"
    gobgp_cli(sock, "global", "rib", "del", VIP_PREFIX)
    wait_for(lambda: best_source(a) == "b", 10, "a: its own path gone from gobgpd, b's is best")
    _restored("a: its own path back in gobgpd", lambda: best_source(a) == "local", took)
    assert _drift(demo, "a", "paths") >= paths0 + 1
    print("; ".join(took))
