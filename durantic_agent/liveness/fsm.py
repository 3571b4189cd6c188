"""Is a mesh member's data plane alive? A pure state machine over echo probes and their answers.

A member is `up` after a run of answers with no gap longer than one interval that lasts `rise`
intervals, and `down` once nothing answered for `interval x multiplier` while at least that many
probes went out (so a stall of our own event loop, during which nothing was sent, is not silence).
Several probes per interval make a lossy path lose single echoes, not whole intervals: with the
defaults (4 per 300 ms) a member is declared down only after 12 unanswered echoes in a row.

A member that never answered stays `unknown` and is never declared down: with no evidence that the
probe can be answered at all (ICMP filtered, a member without the feature), silence proves nothing,
and acting on it would cut every session at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["MemberState", "Params", "Verdict", "answered", "evaluate", "sent", "start"]


class Verdict(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Params:
    interval: float = 0.3  # seconds
    multiplier: int = 3  # silent intervals before down
    probes: int = 4  # echo requests per interval
    rise: int = 3  # intervals of unbroken answers before up

    @property
    def detect(self) -> float:
        """Silence after which an answering member is down (BFD's detection time)."""
        return self.interval * self.multiplier

    @property
    def spacing(self) -> float:
        """Time between two probes to one member."""
        return self.interval / self.probes


@dataclass(frozen=True, slots=True)
class MemberState:
    verdict: Verdict = Verdict.UNKNOWN
    since: float = 0.0  # monotonic time of the last verdict change (or of the start)
    last_answer: float | None = None
    unanswered: int = 0  # probes sent since the last answer
    run_start: float | None = None  # first answer of the current unbroken run (while not up)
    run_answers: int = 0
    transitions: int = 0  # changes between up and down (not from unknown)


def start(now: float) -> MemberState:
    return MemberState(since=now)


def sent(s: MemberState) -> MemberState:
    """A probe went out."""
    return MemberState(s.verdict, s.since, s.last_answer, s.unanswered + 1, s.run_start, s.run_answers, s.transitions)


def answered(s: MemberState, now: float, p: Params) -> MemberState:
    """An answer to one of our probes arrived; may turn the member up."""
    if s.verdict is Verdict.UP:  # the common case, kept cheap: ten answers a second per member
        return MemberState(s.verdict, s.since, now, 0, None, 0, s.transitions)
    unbroken = s.run_start is not None and s.last_answer is not None and now - s.last_answer <= p.interval
    run_start = s.run_start if unbroken and s.run_start is not None else now
    run_answers = s.run_answers + 1 if unbroken else 1
    # probes are `spacing` apart: allow a millisecond of timer jitter at the run's end
    if run_answers >= p.rise and now - run_start >= (p.rise - 1) * p.interval - 1e-3:
        moved = s.transitions + (s.verdict is Verdict.DOWN)
        return MemberState(Verdict.UP, now, now, 0, None, 0, moved)
    return MemberState(s.verdict, s.since, now, 0, run_start, run_answers, s.transitions)


def evaluate(s: MemberState, now: float, p: Params) -> MemberState:
    """Called at least once per probe spacing, after pending answers were taken in: may turn it down.
    Returns `s` itself when nothing changed."""
    if s.verdict is not Verdict.UP or s.last_answer is None:
        return s
    if now - s.last_answer >= p.detect and s.unanswered >= p.multiplier * p.probes - 1:
        return MemberState(Verdict.DOWN, now, s.last_answer, s.unanswered, None, 0, s.transitions + 1)
    return s
