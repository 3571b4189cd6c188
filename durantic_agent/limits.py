"""The descriptor budget: what the loopback web listener may use, so the unix API, the health checks
and gobgpd always have descriptors left."""

from __future__ import annotations

import logging
import resource

__all__ = ["WEB_HEAD_TIMEOUT", "WEB_IDLE_TIMEOUT", "WEB_LIFETIME", "raise_nofile_limit", "web_connection_cap"]

log = logging.getLogger("durantic.agent")

WEB_MAX_CONNECTIONS = 64
"""A browser uses about six; Prometheus one."""
WEB_HEAD_TIMEOUT = 5.0
"""Seconds a request head may take to arrive, from the connect or from its first byte."""
WEB_IDLE_TIMEOUT = 5.0
"""Seconds an idle keep-alive connection is kept."""
WEB_LIFETIME = 120.0
"""Seconds any one web connection may live (a client that stops reading gives its descriptor back)."""


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one (systemd's soft default is 1024); returns the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, hard, e)
    return int(soft)


def web_connection_cap(soft_limit: int) -> int:
    """At most 1/16 of the descriptors go to web connections."""
    return max(4, min(WEB_MAX_CONNECTIONS, soft_limit // 16))
