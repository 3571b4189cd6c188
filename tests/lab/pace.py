"""Wait budgets for slow machines: tests/vm/run.sh sets DURANTIC_TEST_TIME_FACTOR when the guest is
emulated, and lab waits are multiplied by it (what a test waits for stays the same, only how long)."""

from __future__ import annotations

import os

__all__ = ["FACTOR", "scaled"]

FACTOR = max(1.0, float(os.environ.get("DURANTIC_TEST_TIME_FACTOR") or 1))


def scaled(seconds: float) -> float:
    return seconds * FACTOR
