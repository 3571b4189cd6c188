"""Drift: state the agent owns that changed behind its back, found by a resync and put back."""

from __future__ import annotations

import logging

from ...metrics import AGENT_METRICS

__all__ = ["repaired"]

log = logging.getLogger("durantic.drift")


def repaired(kind: str, count: int, what: str) -> None:
    """Count and log `count` items of `kind` found changed by something other than the agent."""
    if count:
        AGENT_METRICS.drift_repaired.labels(kind).inc(count)
        log.warning("drift: %d %s changed behind the agent's back (%s); restoring", count, kind, what)
