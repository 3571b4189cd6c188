"""Rows of announcements and checks for the CLI, the API and the web page (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.types import PathSpec
from ..health.engine import CheckStatus
from ..objects.announcement import Announcement
from ..redact import redact_announcement
from ..timefmt import rfc3339

__all__ = ["announcement_rows", "check_rows"]


def announcement_rows(
    announcements: Sequence[Announcement], statuses: Mapping[str, CheckStatus], announced: Mapping[str, PathSpec]
) -> list[dict[str, Any]]:
    """One row per announcement: its object (secrets redacted), its check's state, whether it is in BGP."""
    rows = []
    for a in announcements:
        st = statuses.get(a.name)
        rows.append(
            {
                "name": a.name,
                "kind": a.kind,
                "prefix": a.prefix,
                "enabled": a.enabled,
                "announced": a.prefix in announced and announced[a.prefix].owner == a.name,
                "check": a.health_check.kind if a.health_check is not None else None,
                "state": (st.state.value if st else ("disabled" if not a.enabled else "none")),
                "last_detail": st.last_detail if st else None,
                "last_latency_seconds": st.last_latency if st else None,
                "transitions": st.transitions if st else 0,
                "communities": list(a.communities),
                "large_communities": list(a.large_communities),
                "med": a.med,
                "object": redact_announcement(a.model_dump(mode="json", exclude_defaults=True)),
            }
        )
    return rows


def check_rows(
    announcements: Sequence[Announcement], statuses: Mapping[str, CheckStatus], passing: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """One row per health check, with its live state."""
    out = []
    anns = {a.name: a for a in announcements}
    for name, st in statuses.items():
        ann = anns.get(name)
        hc = ann.health_check if ann else None
        out.append(
            {
                "name": name,
                "type": hc.kind if hc is not None else None,
                "state": st.state.value,
                "passing": passing(name),
                "last_ok": st.last_ok,
                "last_detail": st.last_detail,
                "last_latency_seconds": st.last_latency,
                "last_probe_at": rfc3339(st.last_probe_at),
                "transitions": st.transitions,
                "last_transition_at": rfc3339(st.last_transition_at),
                "held_down_until": rfc3339(st.held_down_until),
                "probes": st.probes,
                # CLOCK_MONOTONIC of the probe that decided the last transition (failover timing)
                "decided_at_monotonic": st.decided_at_monotonic,
            }
        )
    return out
