"""Prometheus series of the health engine, on the default registry (served at /metrics)."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .fsm import State

__all__ = ["CheckMetrics", "default_metrics"]

# Probes are mostly local: ms resolution at the bottom, up to the largest sensible timeout at the top.
_PROBE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DRIFT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Histogram:
    """Counts per bucket in plain ints, rendered at scrape time (see _ProbeSeries)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, v)] += 1
        self.sum += v

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        cum, buckets = 0, []
        for le, n in zip((*map(floatToGoString, self.bounds), "+Inf"), list(self.counts), strict=True):
            cum += n
            buckets.append((le, float(cum)))
        fam = HistogramMetricFamily(name, doc)
        fam.add_metric([], buckets, self.sum)
        return fam


class _ProbeSeries(Collector):
    """The series every probe updates, kept as plain numbers and turned into samples only on a scrape.

    prometheus_client's Gauge/Counter/Histogram take a lock and walk their buckets in Python on every
    update, which at 1,000 probes a second is a noticeable share of a core for four numbers per probe.
    """

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.passed = 0
        self.failed = 0
        self.seconds = _Histogram(_PROBE_BUCKETS)
        self.drift = _Histogram(_DRIFT_BUCKETS)

    def collect(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "durantic_check_last_probe_duration_seconds",
            "Duration of the check's most recent probe",
            labels=["check"],
        )
        for check, secs in list(self.last.items()):  # list(): one C-level copy, safe against the loop
            last.add_metric([check], secs)
        yield last
        yield self.seconds.family("durantic_check_probe_seconds", "Duration of one probe, all checks")
        probes = CounterMetricFamily("durantic_check_probes", "Probes run, by result", labels=["result"])
        probes.add_metric(["pass"], self.passed)
        probes.add_metric(["fail"], self.failed)
        yield probes
        yield self.drift.family(
            "durantic_check_schedule_drift_seconds",
            "How late a probe started relative to its slot on the interval grid",
        )


class CheckMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.state = Gauge(
            "durantic_check_state",
            "1 for the state a health check is in, 0 for the others",
            ["check", "state"],
            registry=registry,
        )
        self.passing = Gauge(
            "durantic_check_passing",
            "1 when the check's announcement is advertised (after hold-down)",
            ["check"],
            registry=registry,
        )
        self.transitions = Counter(
            "durantic_check_transitions",
            "State transitions of a health check, by target state",
            ["check", "to"],
            registry=registry,
        )
        # Per check only the last duration: a labelled histogram per check makes a scrape of 1,000 checks
        # long enough to start probes late (drift). One histogram over all probes keeps the distribution.
        self._series = _ProbeSeries()
        registry.register(self._series)

    def set_state(self, check: str, state: State, passing: bool) -> None:
        for s in State:
            self.state.labels(check, s.value).set(1 if s is state else 0)
            self.transitions.labels(check, s.value)  # every counter at 0 from the start, not at its first step
        self.passing.labels(check).set(1 if passing else 0)

    def transition(self, check: str, to: State) -> None:
        self.transitions.labels(check, to.value).inc()

    def probe(self, check: str, seconds: float, drift: float, ok: bool = True) -> None:
        series = self._series
        series.last[check] = seconds
        series.seconds.observe(seconds)
        if ok:
            series.passed += 1
        else:
            series.failed += 1
        series.drift.observe(drift if drift > 0.0 else 0.0)

    def remove(self, check: str) -> None:
        for s in State:
            with contextlib.suppress(KeyError):
                self.state.remove(check, s.value)
            with contextlib.suppress(KeyError):
                self.transitions.remove(check, s.value)
        with contextlib.suppress(KeyError):
            self.passing.remove(check)
        self._series.last.pop(check, None)


_default: CheckMetrics | None = None


def default_metrics() -> CheckMetrics:
    """The process-wide instance (metrics register once per registry)."""
    global _default
    if _default is None:
        _default = CheckMetrics()
    return _default
