"""Transit: direct path breaking -> traffic flowing via the relay, and back; RTT of the relay vs direct.

A and C (userspace WireGuard, persistent keepalive 1 s) share a direct underlay link, B relays.
A pings C's mesh address every 10 ms with receive timestamps. Break = the direct link is deleted;
"-> relay" is the longest gap between replies after it (the time without traffic). Back = the link
is restored; "-> direct" is the time until the first reply arriving with TTL 64 (no forwarding hop),
and the replies lost meanwhile. Then RTT over each path, 500 pings each.
"""

from __future__ import annotations

import itertools
import re
import signal
import statistics
import subprocess
import threading
import time

from tests.lab.harness import Lab, wait_for
from tests.lab.test_transit import (
    TransitMesh,
    add_direct_link,
    build_transit_mesh,
    path_type,
    ping_ttl,
    remove_direct_link,
)

C_MESH = "100.64.0.3"
_LINE = re.compile(r"^\[(\d+\.\d+)\].*icmp_seq=(\d+) ttl=(\d+)")


class TimedPinger:
    def __init__(self, ns: str, addr: str, interval: float = 0.01) -> None:
        self.replies: list[tuple[float, int]] = []  # (unix time received, ttl)
        self.seqs: list[int] = []
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "ping", "-n", "-D", "-i", str(interval), "-W", "1", addr],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            m = _LINE.match(line)
            if m:
                self.seqs.append(int(m.group(2)))
                self.replies.append((float(m.group(1)), int(m.group(3))))

    def stop(self) -> None:
        self.p.send_signal(signal.SIGINT)
        self.p.wait(10)
        self.t.join(5)


def _rtt(lab: Lab, ns: str) -> float:
    out = lab.sh(ns, f"ping -n -q -c 500 -i 0.002 {C_MESH}").stdout
    m = re.search(r"= [\d.]+/([\d.]+)/", out)
    assert m, out
    return float(m.group(1))


def _stats(name: str, xs: list[float]) -> str:
    ms = [x * 1000 for x in xs]
    return f"{name}: median {statistics.median(ms):.0f} ms, min {min(ms):.0f}, max {max(ms):.0f} ms"


def _seen(pinger: TimedPinger, after: float, ttl: int) -> float | None:
    return next((t for t, tl in pinger.replies if t > after and tl == ttl), None)


def _cycle(lab: Lab, tm: TransitMesh) -> tuple[float, float, int]:
    """Break the direct link, wait for the relay, restore it, wait for direct: (gap s, back s, lost)."""
    a, c = tm.agents["a"], tm.agents["c"]
    pinger = TimedPinger(a.ns, C_MESH)
    time.sleep(1)
    t_break = time.time()
    remove_direct_link(lab, tm)
    wait_for(lambda: path_type(a, "c") == "Transit via b", 30, "transit")
    wait_for(lambda: _seen(pinger, t_break, 63), 10, "relayed replies")
    time.sleep(1)
    ts = [t for t, _ in pinger.replies if t > t_break - 0.5]
    gap = max(y - x for x, y in itertools.pairwise(ts))
    seq_before = pinger.seqs[-1]
    t_fix = time.time()
    add_direct_link(lab, tm)
    first_direct = wait_for(lambda: _seen(pinger, t_fix, 64), 30, "direct replies")
    assert first_direct is not None
    time.sleep(1)
    pinger.stop()
    got = [s for s in pinger.seqs if s > seq_before]
    wait_for(lambda: path_type(c, "a") == "Direct", 30, "c: a direct")
    return gap, first_direct - t_fix, got[-1] - seq_before - len(got)


def main(runs: int = 3) -> None:
    lab = Lab()
    try:
        tm = build_transit_mesh(lab, "abc")
        a, c = tm.agents["a"], tm.agents["c"]
        wait_for(lambda: path_type(a, "c") == "Transit via b" and a.established("c"), 90, "a: c via b")
        rtt_relay = _rtt(lab, a.ns)
        add_direct_link(lab, tm)
        wait_for(lambda: path_type(a, "c") == "Direct" and path_type(c, "a") == "Direct", 30, "direct")
        wait_for(lambda: ping_ttl(lab, a.ns, C_MESH) == 64, 10, "direct replies")
        rtt_direct = _rtt(lab, a.ns)
        to_relay, to_direct, lost_back = [], [], []
        for _ in range(runs):
            r, d, lost = _cycle(lab, tm)
            to_relay.append(r)
            to_direct.append(d)
            lost_back.append(lost)
        print(f"transit, {runs} runs, persistent keepalive 1 s, silence window 3 s, ping every 10 ms:")
        print("  " + _stats("direct path broken -> traffic via the relay (longest reply gap)", to_relay))
        print("  " + _stats("direct path back -> first direct reply (traffic kept flowing via the relay)", to_direct))
        print(f"  replies lost while moving back to direct: {', '.join(f'{x:.0f}' for x in lost_back)}")
        print(
            f"  RTT A->C mesh address: direct {rtt_direct:.3f} ms, via relay {rtt_relay:.3f} ms "
            f"(+{rtt_relay - rtt_direct:.3f} ms, userspace WireGuard in namespaces on one host)"
        )
    finally:
        lab.close()


if __name__ == "__main__":
    main()
