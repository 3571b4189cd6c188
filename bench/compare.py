"""Side-by-side timing tables shared by the benchmarks that weigh hand-written code against a library."""

from __future__ import annotations

import statistics
from collections.abc import Mapping


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def print_comparison(times: Mapping[str, list[float]], base: str, width: int, decimals: int) -> None:
    """One line per variant: p50 and p90 in ms, and the p50 relative to `base`'s."""
    ref = statistics.median(times[base])
    w = decimals + 5
    for name, v in times.items():
        p50, p90 = statistics.median(v), pct(v, 0.9)
        rel = (p50 / ref - 1) * 100
        ms = f"p50 {p50 * 1000:{w}.{decimals}f}  p90 {p90 * 1000:{w}.{decimals}f}"
        print(f"  {name:{width}s} {ms}  ({rel:+.0f} % vs {base})")
