"""Prometheus series of the health engine, on the default registry (served at /metrics)."""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from .fsm import State

__all__ = ["CheckMetrics", "default_metrics"]

# Probes are mostly local: ms resolution at the bottom, up to the largest sensible timeout at the top.
_PROBE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DRIFT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class CheckMetrics:
    def __init__(self) -> None:
        self.state = Gauge(
            "durantic_check_state",
            "1 for the state a health check is in, 0 for the others",
            ["check", "state"],
        )
        self.passing = Gauge(
            "durantic_check_passing",
            "1 when the check's announcement is advertised (after hold-down)",
            ["check"],
        )
        self.transitions = Counter(
            "durantic_check_transitions",
            "State transitions of a health check, by target state",
            ["check", "to"],
        )
        # Per check only the last duration: a labelled histogram was 17 series per check, and at 1,000
        # checks a scrape took ~0.2 s of CPU, during which probes started late (drift). One histogram
        # over all probes keeps the distribution.
        self.last_probe_seconds = Gauge(
            "durantic_check_last_probe_seconds", "Duration of the check's most recent probe", ["check"]
        )
        self.probe_seconds = Histogram(
            "durantic_check_probe_seconds", "Duration of one probe, all checks", buckets=_PROBE_BUCKETS
        )
        self.probes = Counter("durantic_check_probes", "Probes run, by result", ["result"])
        self.drift_seconds = Histogram(
            "durantic_check_schedule_drift_seconds",
            "How late a probe started relative to its slot on the interval grid",
            buckets=_DRIFT_BUCKETS,
        )
        self._pass, self._fail = self.probes.labels("pass"), self.probes.labels("fail")
        self._last: dict[str, Any] = {}

    def set_state(self, check: str, state: State, passing: bool) -> None:
        for s in State:
            self.state.labels(check, s.value).set(1 if s is state else 0)
        self.passing.labels(check).set(1 if passing else 0)

    def transition(self, check: str, to: State) -> None:
        self.transitions.labels(check, to.value).inc()

    def probe(self, check: str, seconds: float, drift: float, ok: bool = True) -> None:
        # labels() is ~5 us; at 1,000 probes a second the child is looked up once per check
        child = self._last.get(check)
        if child is None:
            child = self._last[check] = self.last_probe_seconds.labels(check)
        child.set(seconds)
        self.probe_seconds.observe(seconds)
        (self._pass if ok else self._fail).inc()
        self.drift_seconds.observe(max(drift, 0.0))

    def remove(self, check: str) -> None:
        for s in State:
            with contextlib.suppress(KeyError):
                self.state.remove(check, s.value)
            with contextlib.suppress(KeyError):
                self.transitions.remove(check, s.value)
        with contextlib.suppress(KeyError):
            self.passing.remove(check)
        self._last.pop(check, None)
        with contextlib.suppress(KeyError):
            self.last_probe_seconds.remove(check)


_default: CheckMetrics | None = None


def default_metrics() -> CheckMetrics:
    """The process-wide instance (metrics register once per registry)."""
    global _default
    if _default is None:
        _default = CheckMetrics()
    return _default
