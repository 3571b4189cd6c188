"""Transit decisions: the direct-path liveness FSM (with hysteresis) and the relay choice."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from durantic_agent.core.types import RibPath
from durantic_agent.transit import (
    Liveness,
    LivenessParams,
    PeerSample,
    choose_carriers,
    choose_relay,
    initial_liveness,
    step_liveness,
)

P = LivenessParams(interval=1.0, fall=3, rise=2)
OWN = 4200000001
A, B, C, D = "100.64.0.1", "100.64.0.2", "100.64.0.3", "100.64.0.4"
ASN = {A: 4200000001, B: 4200000002, C: 4200000003, D: 4200000004}


def run(state: Liveness, samples: Sequence[tuple[float, PeerSample | None]], p: LivenessParams = P) -> list[bool]:
    out = []
    for now, s in samples:
        state = step_liveness(state, s, now, p)
        out.append(state.direct)
    return out


def rx(n: int, hs: float | None = 1.0) -> PeerSample:
    return PeerSample(n, hs)


# ----- liveness ------------------------------------------------------------------------------------


def test_member_with_endpoint_starts_direct_and_falls_after_silence() -> None:
    s = initial_liveness(True, 0.0)
    assert s.direct
    # no life at all: Direct for the silence window (3 intervals), then not
    assert run(s, [(1.0, rx(0)), (2.9, rx(0)), (3.0, rx(0)), (3.1, rx(0))]) == [True, True, True, False]


def test_member_without_endpoint_is_not_direct_until_it_handshakes() -> None:
    s = initial_liveness(False, 0.0)
    assert not s.direct
    assert run(s, [(0.5, None), (1.0, rx(0, None)), (1.5, rx(148, 0.1)), (2.5, rx(180, 1.1))]) == [
        False,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        # keepalives every interval keep it Direct
        ([(t, rx(32 * t)) for t in range(1, 8)], [True] * 7),
        # keepalives stop at t=2: silent for > 3 s -> not Direct at t=5.5
        ([(1, rx(32)), (2, rx(64)), (4, rx(64)), (5, rx(64)), (5.5, rx(64))], [True, True, True, True, False]),
        # a gap shorter than the window does not flap
        ([(1, rx(32)), (3.9, rx(32)), (4.0, rx(64)), (6.5, rx(64))], [True, True, True, True]),
    ],
)
def test_direct_state_falls_only_after_a_silent_window(
    samples: list[tuple[float, PeerSample]], expected: list[bool]
) -> None:
    assert run(Liveness(True, 0, 0.0, 0, 0.0), samples) == expected


def test_not_direct_needs_rise_observations_on_a_valid_session() -> None:
    down = Liveness(False, 100, None, 0, 0.0)
    # one observation of life is not enough (hysteresis), the second is
    assert run(down, [(10, rx(132)), (11, rx(164))]) == [False, True]
    # life without a completed handshake (e.g. our initiations answered by nobody, or theirs only)
    assert run(down, [(10, rx(248, None)), (15, rx(396, None)), (20, rx(544, None))]) == [False, False, False]
    # a handshake older than WireGuard's reject-after time proves nothing
    assert run(down, [(10, rx(132, 200.0)), (11, rx(164, 201.0))]) == [False, False]


def test_life_separated_by_silence_does_not_add_up() -> None:
    down = Liveness(False, 100, None, 0, 0.0)
    # life at 10, then silent past the window: the count starts over at 20
    assert run(down, [(10, rx(132)), (14, rx(132)), (20, rx(164)), (21, rx(196))]) == [False, False, False, True]


def test_peer_recreated_resets_the_baseline_without_counting_life() -> None:
    s = Liveness(True, 10_000, 5.0, 0, 0.0)
    s = step_liveness(s, rx(40), 6.0, P)  # rx went down: new baseline
    assert s.rx_bytes == 40 and s.last_life == 5.0
    assert not step_liveness(s, rx(40), 8.1, P).direct


def test_min_silence_floor() -> None:
    p = LivenessParams(interval=1.0, fall=3, min_silence=4.0)
    assert p.silence == 4.0
    assert run(Liveness(True, 0, 0.0, 0, 0.0), [(3.5, rx(0)), (4.1, rx(0))], p) == [True, False]
    assert LivenessParams(interval=5.0).silence == 15.0  # the default: detected within 15 s


# ----- relay choice --------------------------------------------------------------------------------


def path(via: str | None, member: str, *, extra: tuple[int, ...] = (), lp: int | None = None, **kw: object) -> RibPath:
    as_path = ((ASN[via],) if via else ()) + extra + (ASN[member],)
    return RibPath(
        prefix=f"{member}/32",
        next_hop=via or member,
        as_path=as_path,
        as_path_len=len(as_path),
        origin="igp",
        med=None,
        local_pref=lp,
        neighbor_ip=via or member,
        source_asn=ASN[via or member],
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("paths", "direct", "expected", "why"),
    [
        ([path(None, C), path(B, C), path(D, C)], {B, D}, B, "equal paths: lowest relay address (both ends agree)"),
        ([path(None, C), path(D, C), path(B, C)], {B, D}, B, "order of paths does not matter"),
        ([path(B, C), path(D, C)], {D}, D, "a relay that is not Direct itself is skipped"),
        ([path(B, C, extra=(4200000009,)), path(D, C)], {B, D}, D, "shorter AS path wins"),
        ([path(B, C), path(D, C, lp=200)], {B, D}, D, "higher local preference wins first"),
        ([path(None, C)], {B, D}, None, "only the member's own path: no relay"),
        ([path(B, C)], set(), None, "no Direct member at all"),
        ([path(B, C, extra=(OWN,)), path(D, C)], {B, D}, D, "never a path through ourselves"),
        ([path(B, C, stale=True), path(D, C)], {B, D}, D, "a stale (graceful-restart) path is not a relay"),
        ([path(B, C, filtered=True)], {B}, None, "a filtered path is not a relay"),
        ([path(C, C)], {C}, None, "the member does not relay itself"),
    ],
)
def test_choose_relay(paths: list[RibPath], direct: set[str], expected: str | None, why: str) -> None:
    assert choose_relay(C, paths, direct, OWN) == expected, why


def test_path_whose_next_hop_is_not_the_neighbour_is_not_a_relay() -> None:
    p = path(B, C)
    odd = dataclasses.replace(p, next_hop="10.0.0.9")
    assert choose_relay(C, [odd], {B}, OWN) is None


def test_a_route_server_relays_the_members_it_has_a_session_with() -> None:
    # route servers pass the member's own next hop on: the path says the route server reaches it
    via_rs = [dataclasses.replace(path(None, C), neighbor_ip=rs, source_asn=ASN[rs]) for rs in (D, B)]
    assert choose_relay(C, via_rs, {B, D}, OWN, route_servers={B, D}) == B  # lowest address: both ends agree
    assert choose_relay(C, via_rs, {D}, OWN, route_servers={B, D}) == D  # a route server not Direct is skipped
    assert choose_relay(C, via_rs, {B, D}, OWN) is None  # members that are not route servers: not a relay
    odd = dataclasses.replace(via_rs[1], next_hop=D)  # a route server passing on another member's next hop
    assert choose_relay(C, [odd], {B, D}, OWN, route_servers={B, D}) is None


def test_choose_carriers() -> None:
    paths = {C: [path(B, C), path(D, C)], D: [path(None, D)]}
    # C rides B; D has no relay and stays on its direct peer (no entry)
    assert choose_carriers([C, D], paths, {B}, OWN) == {C: B}
    assert choose_carriers([], paths, {B, C, D}, OWN) == {}
