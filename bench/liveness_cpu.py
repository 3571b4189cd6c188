"""CPU of the member-liveness prober (one agent's share) at 10 and 30 members, default thresholds.

The members are loopback addresses the kernel answers, so the figure is the agent's own cost: the
echo socket's syscalls, the reply matching and the state machine (user + system time of this process).
The floor beside it: the same number of bare sendto/recvfrom pairs in a tight loop.
Goal: <= 2 % of one core at 30 members.
"""

from __future__ import annotations

import asyncio
import socket
import time

from durantic_agent.liveness.fsm import Params, Verdict
from durantic_agent.liveness.icmp import build_request
from durantic_agent.liveness.monitor import Monitor, Target

SECONDS = 10.0


async def _measure(n: int, p: Params) -> tuple[float, float, int]:
    targets = {
        f"127.0.{i // 250}.{i % 250 + 2}": Target(f"127.0.{i // 250}.{i % 250 + 2}", f"m{i}", p) for i in range(n)
    }
    mon = Monitor(lambda: targets, lambda t, old, new: None)
    task = asyncio.create_task(mon.run())
    deadline = time.monotonic() + 10
    while not all(s.verdict is Verdict.UP for s in mon.states.values()) or len(mon.states) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("loopback members did not come up")
        await asyncio.sleep(0.05)
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(SECONDS)
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    downs = sum(s.transitions for s in mon.states.values())
    return cpu, wall, downs


def _floor(n: int, p: Params) -> float:
    """CPU of the bare syscalls for the same echo rate (datagram or raw socket, as the prober gets)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    except OSError:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    count = int(n * SECONDS / p.spacing)
    pkt = build_request(4, 1, 1, 1)
    c0 = time.process_time()
    for i in range(count):
        s.sendto(pkt, (f"127.0.0.{i % n + 2}", 0))
        s.recvfrom(512)
    cpu = time.process_time() - c0
    s.close()
    return cpu


def main() -> None:
    p = Params()
    print(f"liveness prober, interval {p.interval * 1000:.0f} ms x {p.multiplier}, {p.probes} echoes per interval")
    for n in (10, 30):
        cpu, wall, flaps = asyncio.run(_measure(n, p))
        floor = _floor(n, p)
        rate = n / p.spacing
        print(
            f"  {n:2d} members ({rate:.0f} echoes/s): {cpu / wall * 100:.2f} % of one core "
            f"(floor, bare syscalls: {floor / SECONDS * 100:.2f} %); {flaps} flaps; goal <= 2 %"
        )


if __name__ == "__main__":
    main()
