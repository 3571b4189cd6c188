"""The probing loop: echo every member on its mesh's schedule, feed answers and silence to the FSM, and
report each verdict change. One timer for all members, one socket per address family."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .fsm import MemberState, Params, Verdict, answered, evaluate, sent, start
from .icmp import EchoSocket

__all__ = ["Monitor", "Target"]

log = logging.getLogger("durantic.liveness")

_MIN_TICK = 0.005
_PENDING_MAX_AGE = 10.0  # an answer later than this is not matched to its probe any more
_REOPEN = 10.0  # seconds between attempts to open a socket that failed


@dataclass(frozen=True, slots=True)
class Target:
    address: str  # the member's mesh address
    name: str
    params: Params


OnChange = Callable[[Target, MemberState, MemberState], None]


class Monitor:
    def __init__(self, targets: Callable[[], Mapping[str, Target]], on_change: OnChange) -> None:
        self._targets = targets
        self._on_change = on_change
        self.states: dict[str, MemberState] = {}
        self.rtt: dict[str, float] = {}
        self.error: str | None = None  # why probing is not possible (shown in status), None when fine
        self._current: dict[str, Target] = {}
        self._next_send: dict[str, float] = {}
        self._pending: dict[tuple[int, int], tuple[str, float]] = {}  # (family, seq) -> (address, sent at)
        self._seq = {4: 0, 6: 0}
        self._sockets: dict[int, EchoSocket] = {}
        self._failed_at: dict[int, float] = {}
        self._pruned_at = 0.0
        self._seen: Mapping[str, Target] | None = None
        self._versions: set[int] = set()

    # ----- reading ------------------------------------------------------------------------------

    def state(self, address: str) -> MemberState | None:
        return self.states.get(address)

    # ----- loop -----------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                wake = self.step(time.monotonic())
                await asyncio.sleep(max(wake - time.monotonic(), _MIN_TICK))
        finally:
            for s in self._sockets.values():
                s.close()
            self._sockets.clear()

    def step(self, now: float) -> float:
        """Take in answers, judge silence, send what is due; returns when to step next (monotonic).

        Members of a mesh are probed in the same tick (one wakeup per probe spacing, however many
        members), and a step is also due the moment an answering member's silence would reach its
        detection time, so a death is judged at once rather than on the next tick."""
        self._sync(now)
        for sock in self._sockets.values():
            sock.drain()
        now = time.monotonic()
        wake = now + 1.0
        for addr, t in self._current.items():
            p = t.params
            st = evaluate(self.states[addr], now, p)
            if st is not self.states[addr]:
                self._set(t, st)
            due = self._next_send[addr]
            if now >= due - 0.001:
                self._probe(t, now)
                # a late tick does not bunch probes up: the next one keeps at least half a spacing
                due = self._next_send[addr] = max(due + p.spacing, now + p.spacing / 2)
            wake = min(wake, due)
            st = self.states[addr]
            if st.verdict is Verdict.UP and st.last_answer is not None:
                wake = min(wake, st.last_answer + p.detect + 0.0005)
        if now - self._pruned_at > _PENDING_MAX_AGE:  # probes never answered (a dead member's)
            self._pruned_at = now
            self._pending = {k: v for k, v in self._pending.items() if now - v[1] < _PENDING_MAX_AGE}
        return wake

    def _sync(self, now: float) -> None:
        want = self._targets()
        if want is self._seen:
            return
        self._seen = want
        for addr in list(self._current):
            if addr not in want:
                del self._current[addr], self._next_send[addr]
                self.states.pop(addr, None)
                self.rtt.pop(addr, None)
        for addr, t in want.items():
            if addr not in self._current:
                self.states[addr] = start(now)
                self._next_send[addr] = now
            self._current[addr] = t
        self._versions = {ipaddress.ip_address(a).version for a in want}
        self._open_missing(now)

    def _open_missing(self, now: float) -> None:
        for version in self._versions:
            if version not in self._sockets and now - self._failed_at.get(version, -_REOPEN) >= _REOPEN:
                self._open(version, now)

    def _open(self, version: int, now: float) -> None:
        try:
            self._sockets[version] = EchoSocket(version, lambda a, seq, t: self._answer(version, a, seq, t))
            self._failed_at.pop(version, None)
            self.error = None
        except OSError as e:
            self._failed_at[version] = now
            self.error = f"cannot open an ICMPv{version if version == 6 else ''} echo socket: {e.strerror or e}"
            asyncio.get_running_loop().call_later(_REOPEN, self._open_missing, now + _REOPEN)
            log.error("liveness: %s; members stay unknown", self.error)

    def _probe(self, t: Target, now: float) -> None:
        version = 6 if ":" in t.address else 4
        sock = self._sockets.get(version)
        if sock is None:
            return
        seq = self._seq[version] = (self._seq[version] + 1) & 0xFFFF
        if sock.send(t.address, seq):
            self._pending[(version, seq)] = (t.address, now)
        self.states[t.address] = sent(self.states[t.address])

    def _answer(self, version: int, addr: str, seq: int, now: float) -> None:
        hit = self._pending.pop((version, seq), None)
        t = self._current.get(addr)
        if hit is None or hit[0] != addr or t is None:
            return
        self.rtt[addr] = now - hit[1]
        self._set(t, answered(self.states[addr], now, t.params))

    def _set(self, t: Target, new: MemberState) -> None:
        old = self.states[t.address]
        self.states[t.address] = new
        if new.verdict is not old.verdict:
            log.log(
                logging.WARNING if new.verdict is Verdict.DOWN else logging.INFO,
                "mesh member %s (%s): data plane %s",
                t.name,
                t.address,
                new.verdict.value,
            )
            self._on_change(t, old, new)
