"""Member liveness: the state machine (silence, hysteresis, loss), the echo codec, the config keys."""

from __future__ import annotations

import random
import socket
import struct
from typing import Any

import pytest

from durantic_agent.config import parse_config
from durantic_agent.errors import ConfigError
from durantic_agent.liveness.fsm import MemberState, Params, Verdict, answered, evaluate, sent, start
from durantic_agent.liveness.icmp import _checksum, build_request, parse_reply

P = Params(interval=0.3, multiplier=3, probes=3, rise=3)
DEFAULT = Params()


def simulate(
    s: MemberState, t0: float, t1: float, answers: Any, p: Params = P, rtt: float = 0.001
) -> tuple[MemberState, list[tuple[float, Verdict]]]:
    """Probe every spacing from t0 to t1; `answers(t)` says whether the probe sent at t is answered."""
    changes = []
    t = t0
    while t < t1:
        before = s.verdict
        s = evaluate(s, t, p)
        s = sent(s)
        if answers(t):
            s = answered(s, t + rtt, p)
        if s.verdict is not before:
            changes.append((round(t, 3), s.verdict))
        t += p.spacing
    return s, changes


def up_member() -> MemberState:
    s, _ = simulate(start(0.0), 0.0, 2.0, lambda t: True)
    assert s.verdict is Verdict.UP
    return s


def test_answers_turn_an_unknown_member_up_after_rise_intervals() -> None:
    s, changes = simulate(start(0.0), 0.0, 2.0, lambda t: True)
    assert changes == [(0.6, Verdict.UP)]  # answers at 0, 0.1 ... 0.6 span (rise - 1) intervals
    assert s.transitions == 0  # the first verdict is no transition


def test_a_member_that_never_answered_stays_unknown() -> None:
    s, changes = simulate(start(0.0), 0.0, 60.0, lambda t: False)
    assert s.verdict is Verdict.UNKNOWN and changes == []


def test_silence_turns_it_down_after_interval_times_multiplier() -> None:
    s = up_member()
    died = 2.0
    s, changes = simulate(s, 2.0, 4.0, lambda t: t < died)
    assert len(changes) == 1 and changes[0][1] is Verdict.DOWN
    last_answer = 1.9 + 0.001
    assert P.detect <= changes[0][0] - last_answer < P.detect + P.spacing
    assert s.transitions == 1


def test_our_own_stall_is_not_silence() -> None:
    """Nothing was sent for 2 s (the event loop stalled): not enough unanswered probes to judge."""
    s = up_member()
    s = evaluate(s, 4.0, P)
    assert s.verdict is Verdict.UP


def test_down_member_comes_back_only_after_an_unbroken_run() -> None:
    s = up_member()
    s, _ = simulate(s, 2.0, 4.0, lambda t: False)
    assert s.verdict is Verdict.DOWN
    # answers with a hole longer than one interval restart the run
    holes = lambda t: not (4.3 <= t < 4.75)  # noqa: E731
    s, changes = simulate(s, 4.0, 6.0, holes)
    assert changes == [(5.4, Verdict.UP)]  # the run restarts at 4.8; up (rise - 1) intervals later
    assert s.transitions == 2


def test_a_lossy_path_does_not_flap() -> None:
    """30 % of echoes lost (netem on one side of the path) for an hour: never down."""
    rng = random.Random(19)
    s, _ = simulate(start(0.0), 0.0, 2.0, lambda t: True, DEFAULT)
    s, changes = simulate(s, 2.0, 3602.0, lambda t: rng.random() > 0.3, DEFAULT)
    assert changes == [], changes


def test_a_path_losing_most_echoes_is_down_and_comes_back() -> None:
    """90 % loss is as good as dead: down, and up again only once answers are steady."""
    rng = random.Random(19)
    s = up_member()
    s, changes = simulate(s, 2.0, 62.0, lambda t: rng.random() > 0.9)
    assert changes and changes[0][1] is Verdict.DOWN
    s, changes = simulate(s, 62.0, 64.0, lambda t: True)
    assert s.verdict is Verdict.UP


def test_params() -> None:
    assert P.detect == pytest.approx(0.9) and P.spacing == pytest.approx(0.1)


# ----- echo codec ------------------------------------------------------------------------------------


def test_request_checksum_verifies_and_reply_parses() -> None:
    req = build_request(4, 0x1234, 7, 0xDEADBEEF)
    assert _checksum(req) == 0  # a correct ICMP checksum sums to zero
    typ, code, _, ident, seq = struct.unpack_from("!BBHHH", req)
    assert (typ, code, ident, seq) == (8, 0, 0x1234, 7)
    reply = bytes([0, 0]) + req[2:]  # what the member's kernel sends back (type 0)
    r = parse_reply(4, reply, raw=False)
    assert r is not None and (r.ident, r.seq, r.token) == (0x1234, 7, 0xDEADBEEF)
    ip_header = bytes([0x45]) + bytes(19)
    assert parse_reply(4, ip_header + reply, raw=True) == r
    assert parse_reply(4, req, raw=False) is None  # a request is no reply
    assert parse_reply(4, reply[:10], raw=False) is None


def test_icmpv6_reply() -> None:
    req = build_request(6, 1, 2, 3)
    assert req[0] == 128
    r = parse_reply(6, bytes([129]) + req[1:], raw=True)
    assert r is not None and (r.ident, r.seq, r.token) == (1, 2, 3)


def test_kernel_answers_our_echo_on_loopback() -> None:
    """The real socket path: an echo to 127.0.0.1 is answered by the kernel and matched."""
    import asyncio

    from durantic_agent.liveness.icmp import EchoSocket

    async def go() -> list[tuple[str, int]]:
        got: list[tuple[str, int]] = []
        done = asyncio.Event()

        def on_reply(addr: str, seq: int, now: float) -> None:
            got.append((addr, seq))
            done.set()

        try:
            es = EchoSocket(4, on_reply)
        except PermissionError:
            pytest.skip("needs root or net.ipv4.ping_group_range")
        try:
            assert es.send("127.0.0.1", 42)
            await asyncio.wait_for(done.wait(), 5)
        finally:
            es.close()
        return got

    assert asyncio.run(go()) == [("127.0.0.1", 42)]
    assert socket.AF_INET  # keep the import honest


# ----- config ----------------------------------------------------------------------------------------


def mesh_doc(tmp_path: Any, liveness: Any) -> dict[str, Any]:
    key = tmp_path / "k"
    key.write_text("x")
    key.chmod(0o600)
    return {
        "machine": {"name": "a", "asn": 4200000001},
        "meshes": [
            {"name": "m", "address": "100.64.0.1/24", "private_key_file": str(key), "members": [], "liveness": liveness}
        ],
    }


def test_liveness_defaults(tmp_path: Any) -> None:
    lv = parse_config(mesh_doc(tmp_path, {})).meshes[0].liveness
    assert (lv.enabled, lv.interval, lv.multiplier, lv.probes, lv.rise) == (True, 0.3, 3, 4, 3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"interval": "5ms"}, "meshes[0].liveness.interval: '5ms' must be between 10ms and 60s"),
        ({"interval": "fast"}, "meshes[0].liveness.interval: 'fast' is not a duration like '500ms' or '2s'"),
        ({"multiplier": 1}, "meshes[0].liveness.multiplier: 1 must be greater than or equal to 2"),
        ({"probes": 5, "interval": "20ms"}, "meshes[0].liveness.probes: 5 puts less than 10ms between two echoes"),
        ({"rise": 0}, "meshes[0].liveness.rise: 0 must be greater than or equal to 1"),
        ({"bfd": True}, "meshes[0].liveness.bfd: unknown key"),
    ],
)
def test_bad_liveness_values_name_field_and_value(tmp_path: Any, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(mesh_doc(tmp_path, value))
    assert len(e.value.messages) == 1 and e.value.messages[0].startswith(message), e.value.messages
