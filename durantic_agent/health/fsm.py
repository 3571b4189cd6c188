"""The health state machine and flap hold-down, as pure functions of plain values.

States:
    initial   never probed (or just re-enabled); not advertised
    rising    passing, but fewer than healthy_threshold consecutive passes yet; not advertised
    up        advertised
    falling   advertised, but failing for fewer than unhealthy_threshold consecutive probes
    down      not advertised
    disabled  switched off by the operator; not probed, not advertised

Choices:
- From `initial` a failure goes straight to `down`: the check was never advertised, so there is nothing
  to protect with `unhealthy_threshold`, and the operator sees the failure at once.
- From `rising` a failure goes back to `down`: a new (or recovering) announcement needs
  `healthy_threshold` *consecutive* passes, which is what "advertised only after" promises.
- A pass in `falling` goes back to `up` (the failures were not consecutive enough).
- Flap hold-down counts changes of `passing()` (advertise <-> withdraw), not every state change, so a
  check bouncing between up and falling without ever withdrawing is not a flap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Counters",
    "FlapState",
    "State",
    "Transition",
    "flap_step",
    "held_down",
    "is_failover",
    "passing",
    "step",
]


class State(StrEnum):
    INITIAL = "initial"
    RISING = "rising"
    UP = "up"
    FALLING = "falling"
    DOWN = "down"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Counters:
    """Consecutive passes and failures; one of them is always 0 after a probe."""

    passes: int = 0
    fails: int = 0


@dataclass(frozen=True, slots=True)
class Transition:
    from_state: State
    to_state: State


def passing(state: State) -> bool:
    """Whether an announcement tied to a check in this state is advertised (before any hold-down)."""
    return state in (State.UP, State.FALLING)


def step(
    state: State,
    counters: Counters,
    ok: bool,
    healthy_threshold: int,
    unhealthy_threshold: int,
) -> tuple[State, Counters, Transition | None]:
    """Apply one probe result. A disabled check ignores results."""
    if state is State.DISABLED:
        return state, counters, None
    c = Counters(passes=counters.passes + 1, fails=0) if ok else Counters(passes=0, fails=counters.fails + 1)
    new: State
    if ok:
        if state in (State.UP, State.FALLING):
            new = State.UP
        else:  # initial, rising, down
            new = State.UP if c.passes >= healthy_threshold else State.RISING
    elif state in (State.UP, State.FALLING):
        new = State.DOWN if c.fails >= unhealthy_threshold else State.FALLING
    else:  # initial, rising, down: not advertised, nothing to hold on to
        new = State.DOWN
    return new, c, (Transition(state, new) if new is not state else None)


@dataclass(frozen=True, slots=True)
class FlapState:
    changes: tuple[float, ...] = ()
    """Monotonic times of recent passing() changes, oldest first, within the window."""
    held_until: float | None = None
    """Monotonic time until which the check is held down (reported not passing)."""


def flap_step(
    fs: FlapState,
    now: float,
    changed: bool,
    max_changes: int,
    window: float,
    hold_down: float,
) -> FlapState:
    """Record whether passing() changed at `now`; hold down when changes in `window` exceed `max_changes`.

    Changes during a hold-down still count, so a check that keeps flapping stays held. The history is
    cleared when a hold-down starts, so its end is not immediately followed by another one.
    """
    held = fs.held_until if fs.held_until is not None and now < fs.held_until else None
    changes = tuple(t for t in fs.changes if now - t < window)
    if changed:
        changes += (now,)
    if len(changes) > max_changes:
        return FlapState(changes=(), held_until=max(held or 0.0, now + hold_down))
    return FlapState(changes=changes, held_until=held)


def held_down(fs: FlapState, now: float) -> bool:
    return fs.held_until is not None and now < fs.held_until


def is_failover(transitions: Sequence[Transition], announced: bool) -> bool:
    """Is the path change a check's own failover, judged from its transitions (oldest first)?

    A withdrawal is one when the last transition took an advertised check down. An announcement is one
    when the check rose from `down` that it had fallen into from an advertised state: a first
    announcement (start, enable, a changed check) or a drain's re-announcement is none."""
    if not transitions:
        return False
    last = transitions[-1]
    if not announced:
        return passing(last.from_state) and last.to_state is State.DOWN
    if not passing(last.to_state):
        return False
    i = len(transitions) - 1
    while i >= 0 and transitions[i].from_state is State.RISING:
        i -= 1
    if i < 1 or transitions[i].from_state is not State.DOWN:
        return False
    return passing(transitions[i - 1].from_state) and transitions[i - 1].to_state is State.DOWN
