"""How the API writes times: RFC 3339 strings in UTC (`2025-01-02T03:04:05Z`); durations are plain
numbers of seconds under `*_seconds` keys."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

__all__ = ["age_seconds", "rfc3339"]


@functools.lru_cache(maxsize=4096)
def _whole(secs: int) -> str:
    # cached: a 100k-route listing has many paths received in the same second
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(ts: float | None) -> str | None:
    """Unix time -> RFC 3339 (UTC, whole seconds); None and 0 (never) -> None."""
    if not ts:
        return None
    return _whole(int(ts))


def age_seconds(ts: float | None, now: float | None = None) -> float | None:
    """Seconds since unix time `ts` (never negative); None and 0 (never) -> None."""
    if not ts:
        return None
    return round(max(0.0, (time.time() if now is None else now) - ts), 3)
