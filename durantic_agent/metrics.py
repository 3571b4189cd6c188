"""Agent-level Prometheus series (health-check series live in health/metrics.py)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

__all__ = ["AGENT_METRICS", "AgentMetrics"]

# `_created` series double a scrape of 1,000 announcements and carry nothing an operator reads; a
# scrape's cost is paid on the agent's only core-bound thread, where it delays health probes.
disable_created_metrics()  # type: ignore[no-untyped-call]


class AgentMetrics:
    def __init__(self) -> None:
        self.announced = Gauge("durantic_announcement_announced", "1 while the announcement is in BGP", ["name"])
        self.changes = Counter(
            "durantic_announcement_changes", "Announcements announced / withdrawn", ["name", "action"]
        )
        self.failover_seconds = Histogram(
            "durantic_failover_seconds",
            "A real failover, by cause: health_check = from the deciding probe to the path change in gobgpd; "
            "member_death = from a member's data plane judged down to its paths gone from kernel and WireGuard",
            ["cause"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.member_alive = Gauge(
            "durantic_member_alive",
            "A mesh member's data plane through the tunnel: 1 up, 0 down, -1 unknown (never answered)",
            ["member"],
        )
        self.member_liveness_transitions = Counter(
            "durantic_member_liveness_transitions",
            "A mesh member's data plane judged up or down (to=up|down)",
            ["member", "to"],
        )
        self.gobgpd_restarts = Counter("durantic_gobgpd_restarts", "gobgpd restarts by the supervisor")
        self.reconcile_errors = Counter("durantic_reconcile_errors", "Failed reconcile passes", ["reconciler"])
        self.reconcile_seconds = Histogram(
            "durantic_reconcile_seconds",
            "Duration of one reconciler's pass",
            ["reconciler"],
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.transit_switches = Counter(
            "durantic_transit_switches",
            "A mesh member's traffic moved to a relay or to another relay (path=transit) or back (path=direct)",
            ["member", "path"],
        )
        self.drift_repaired = Counter(
            "durantic_drift_repaired",
            "Owned state (paths, peers, policies, kernel routes, VIPs, WireGuard peers) found changed "
            "behind the agent's back by a resync, and restored",
            ["kind"],
        )
        for kind in ("paths", "peers", "policies", "routes", "vips", "wireguard"):
            self.drift_repaired.labels(kind)
        self.peer_established = Gauge(
            "durantic_peer_established", "1 while the BGP session with a peer is established", ["peer"]
        )
        self.peer_prefix_limited = Gauge(
            "durantic_peer_prefix_limited",
            "1 while a peer's session is held down for sending more than its max_prefixes",
            ["peer"],
        )
        self.peer_prefix_limit_shutdowns = Counter(
            "durantic_peer_prefix_limit_shutdowns",
            "Sessions closed with a Cease for exceeding max_prefixes (counted when the agent reads the peers)",
            ["peer"],
        )
        self._announcement_series: dict[str, tuple[Any, Any, Any]] = {}
        self._limited: set[str] = set()

    def announcement_change(self, name: str, announced: bool) -> None:
        """Counts an announce / withdraw and sets the gauge. The labelled children are kept per name:
        `labels()` costs ~5 us, and `apply -f` of 10k routes makes 10k changes at once."""
        series = self._announcement_series.get(name)
        if series is None:
            series = self._announcement_series[name] = (
                self.changes.labels(name, "announced"),
                self.changes.labels(name, "withdrawn"),
                self.announced.labels(name),
            )
        series[0 if announced else 1].inc()
        series[2].set(1 if announced else 0)

    def peer_states(self, rows: list[dict[str, Any]]) -> None:
        """Peer gauges from the rows of AgentViews.peers (read on every peers, status and scrape)."""
        for r in rows:
            name = str(r["name"])
            self.peer_established.labels(name).set(1 if r["state"] == "established" else 0)
            limited = bool(r.get("prefix_limited"))
            self.peer_prefix_limited.labels(name).set(1 if limited else 0)
            if limited and name not in self._limited:
                self.peer_prefix_limit_shutdowns.labels(name).inc()
            (self._limited.add if limited else self._limited.discard)(name)


AGENT_METRICS = AgentMetrics()
