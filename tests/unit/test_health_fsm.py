from __future__ import annotations

import itertools

import pytest

from durantic_agent.health.fsm import (
    Counters,
    FlapState,
    State,
    Transition,
    flap_step,
    held_down,
    is_failover,
    passing,
    step,
)

N, R, U, F, D, X = State.INITIAL, State.RISING, State.UP, State.FALLING, State.DOWN, State.DISABLED


def run(results: str, ht: int, ut: int, start: State = N) -> list[State]:
    """Feed a string of '+' (pass) / '-' (fail) and return the state after each probe."""
    state, counters, out = start, Counters(), []
    for ch in results:
        state, counters, _ = step(state, counters, ch == "+", ht, ut)
        out.append(state)
    return out


@pytest.mark.parametrize(
    ("results", "ht", "ut", "expected"),
    [
        # a new check is advertised only after healthy_threshold consecutive passes
        ("+++", 3, 2, [R, R, U]),
        ("+", 1, 1, [U]),
        ("++", 2, 3, [R, U]),
        # never advertised: a failure goes straight to down
        ("-", 2, 3, [D]),
        ("+-++", 2, 3, [R, D, R, U]),
        # advertised: withdrawn only after unhealthy_threshold consecutive failures
        ("++---", 2, 3, [R, U, F, F, D]),
        ("++-+--", 2, 3, [R, U, F, U, F, F]),
        ("+-", 1, 1, [U, D]),
        # recovering from down needs healthy_threshold again
        ("+--+-++", 1, 2, [U, F, D, U, F, U, U]),
        ("++--++", 2, 2, [R, U, F, D, R, U]),
        ("---", 2, 3, [D, D, D]),
    ],
)
def test_state_table(results: str, ht: int, ut: int, expected: list[State]) -> None:
    assert run(results, ht, ut) == expected


@pytest.mark.parametrize(
    ("state", "counters", "ok", "expected"),
    [
        (U, Counters(passes=5), True, None),
        (U, Counters(passes=5), False, (U, F)),
        (N, Counters(), True, (N, R)),
        (D, Counters(fails=4), False, None),
        (X, Counters(), True, None),
        (X, Counters(), False, None),
    ],
)
def test_transition_reported_only_on_change(
    state: State, counters: Counters, ok: bool, expected: tuple[State, State] | None
) -> None:
    _, _, tr = step(state, counters, ok, 2, 3)
    assert (None if tr is None else (tr.from_state, tr.to_state)) == expected


def test_counters_are_consecutive() -> None:
    s, c, _ = step(U, Counters(), False, 2, 3)
    s, c, _ = step(s, c, False, 2, 3)
    assert c == Counters(passes=0, fails=2)
    s, c, _ = step(s, c, True, 2, 3)
    assert (s, c) == (U, Counters(passes=1, fails=0))


@pytest.mark.parametrize(
    ("state", "advertised"), [(N, False), (R, False), (U, True), (F, True), (D, False), (X, False)]
)
def test_passing(state: State, advertised: bool) -> None:
    assert passing(state) is advertised


# --- flap hold-down: max_changes=2 in window=10, hold_down=30 -----------------------------------


def flaps(events: list[tuple[float, bool]]) -> list[FlapState]:
    fs, out = FlapState(), []
    for now, changed in events:
        fs = flap_step(fs, now, changed, max_changes=2, window=10.0, hold_down=30.0)
        out.append(fs)
    return out


@pytest.mark.parametrize(
    ("events", "held_until"),
    [
        ([(0, True), (1, True)], None),  # two changes: allowed
        ([(0, True), (1, True), (2, True)], 32.0),  # third in the window: held 30 s from then
        ([(0, True), (5, True), (11, True)], None),  # first one left the window
        ([(0, True), (1, True), (2, False), (3, False)], None),  # probes without a change do not count
        (
            [(0, True), (1, True), (2, True), (3, True), (4, True), (5, True)],
            35.0,
        ),  # still flapping: extended
    ],
)
def test_flap_table(events: list[tuple[float, bool]], held_until: float | None) -> None:
    assert flaps(events)[-1].held_until == held_until


def test_hold_down_expires_and_history_restarts() -> None:
    fs = flaps([(0, True), (1, True), (2, True)])[-1]
    assert held_down(fs, 2.0) and held_down(fs, 31.9)
    assert not held_down(fs, 32.0)
    # the changes that triggered the hold-down are forgotten: one change after it does not re-trigger
    fs = flap_step(fs, 40.0, True, max_changes=2, window=10.0, hold_down=30.0)
    assert fs.held_until is None and not held_down(fs, 40.0)


# ----- which path changes are failovers (durantic_failover_seconds{cause="health_check"}) ----------


def _tr(*states: State) -> list[Transition]:
    return [Transition(a, b) for a, b in itertools.pairwise(states)]


def test_failover_withdrawal_is_an_advertised_check_going_down() -> None:
    assert is_failover(_tr(State.INITIAL, State.UP, State.FALLING, State.DOWN), announced=False)
    assert is_failover(_tr(State.INITIAL, State.UP, State.DOWN), announced=False)
    # disabled by the operator, or never advertised: no failover
    assert not is_failover(_tr(State.INITIAL, State.UP, State.DISABLED), announced=False)
    assert not is_failover(_tr(State.INITIAL, State.DOWN), announced=False)
    assert not is_failover([], announced=False)


def test_failover_announcement_is_a_recovery_from_a_failure() -> None:
    assert is_failover(_tr(State.INITIAL, State.UP, State.DOWN, State.RISING, State.UP), announced=True)
    assert is_failover(_tr(State.INITIAL, State.UP, State.FALLING, State.DOWN, State.UP), announced=True)
    # first announcement after start or enable, or a drain's re-announcement with the check up all along
    assert not is_failover(_tr(State.INITIAL, State.RISING, State.UP), announced=True)
    assert not is_failover(_tr(State.UP, State.DISABLED, State.INITIAL, State.RISING, State.UP), announced=True)
    assert not is_failover(_tr(State.INITIAL, State.DOWN, State.RISING, State.UP), announced=True)
    assert not is_failover(_tr(State.INITIAL, State.UP, State.DOWN), announced=True)
