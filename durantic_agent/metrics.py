"""Agent-level Prometheus series (health-check series live in health/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import GOBGP_VERSION, __version__
from .core.types import NO_SESSION

__all__ = ["AGENT_METRICS", "AgentMetrics"]

# `_created` series double a scrape of 1,000 announcements and carry nothing an operator reads; a
# scrape's cost is paid on the agent's only core-bound thread, where it delays health probes.
disable_created_metrics()  # type: ignore[no-untyped-call]


class _AnnouncementSeries(Collector):
    """Per announcement: [announced count, withdrawn count, 1 while announced], turned into samples only on
    a scrape. Labelled children would cost three `labels()` calls per announcement on the request path of
    every apply that adds announcements (health/metrics.py keeps the probe series the same way)."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def collect(self) -> Iterator[Metric]:
        changes = CounterMetricFamily(
            "durantic_announcement_changes", "Announcements announced / withdrawn", labels=["name", "action"]
        )
        announced = GaugeMetricFamily(
            "durantic_announcement_announced", "1 while the announcement is in BGP", labels=["name"]
        )
        for name, (up, down, now) in list(self.counts.items()):  # list(): one C-level copy
            changes.add_metric([name, "announced"], up)
            changes.add_metric([name, "withdrawn"], down)
            announced.add_metric([name], now)
        yield changes
        yield announced


class AgentMetrics:
    def __init__(self) -> None:
        self._announcements = _AnnouncementSeries()
        REGISTRY.register(self._announcements)
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
        self._init_operator_series()
        self._limited: set[str] = set()

    def announcement_change(self, name: str, announced: bool) -> None:
        """Counts an announce / withdraw and sets the gauge."""
        counts = self._announcements.counts.get(name)
        if counts is None:
            if self._known is not None and name not in self._known:
                return  # the withdrawal of a deleted announcement: its series are gone with it
            counts = self._announcements.counts[name] = [0, 0, 0]
        counts[0 if announced else 1] += 1
        counts[2] = 1 if announced else 0

    def peer_states(self, rows: list[dict[str, Any]]) -> None:
        """Peer gauges from the rows of AgentViews.peers (read on every peers, status and scrape)."""
        for r in rows:
            if r["state"] == NO_SESSION:
                continue
            name = str(r["name"])
            self.peer_established.labels(name).set(1 if r["state"] == "established" else 0)
            limited = bool(r.get("prefix_limited"))
            self.peer_prefix_limited.labels(name).set(1 if limited else 0)
            if limited and name not in self._limited:
                self.peer_prefix_limit_shutdowns.labels(name).inc()
            (self._limited.add if limited else self._limited.discard)(name)

    # ----- series every operator dashboard expects: build, peers, and label sets known from the start ---

    def _init_operator_series(self) -> None:
        self.build_info = Gauge(
            "durantic_build_info",
            "Always 1; the labels carry the agent and gobgpd versions",
            ["version", "gobgpd_version"],
        )
        self.build_info.labels(__version__, GOBGP_VERSION).set(1)
        self.peer_up = Gauge("durantic_peer_up", "1 while the BGP session to the peer is established", ["peer"])
        self.peer_received = Gauge("durantic_peer_prefixes_received", "Prefixes received from the peer", ["peer"])
        self.peer_accepted = Gauge(
            "durantic_peer_prefixes_accepted", "Prefixes from the peer accepted by the import policy", ["peer"]
        )
        self.peer_advertised = Gauge("durantic_peer_prefixes_advertised", "Prefixes advertised to the peer", ["peer"])
        self.handshake_age = Gauge(
            "durantic_wireguard_handshake_age_seconds",
            "Seconds since the last WireGuard handshake with the mesh member (absent before the first one)",
            ["member"],
        )
        self._peers: set[str] = set()
        self._handshakes: set[str] = set()
        self._known: set[str] | None = None  # announcement names, once known_announcements was called

    def set_peers(self, peers: Iterable[Mapping[str, Any]]) -> None:
        """The peer series from `durantic peers` rows; a peer that is gone loses its series."""
        seen, shook = set(), set()
        for p in peers:
            name = str(p["name"])
            if p.get("state") != NO_SESSION:  # a member reached through the route servers is no BGP peer
                seen.add(name)
                self.peer_up.labels(name).set(1 if p.get("state") == "established" else 0)
                self.peer_received.labels(name).set(p.get("received") or 0)
                self.peer_accepted.labels(name).set(p.get("accepted") or 0)
                self.peer_advertised.labels(name).set(p.get("advertised") or 0)
            age = p.get("handshake_age_seconds")
            if p.get("kind") == "member" and age is not None:
                shook.add(name)
                self.handshake_age.labels(name).set(age)
        for gone in self._peers - seen:
            for g in (self.peer_up, self.peer_received, self.peer_accepted, self.peer_advertised):
                g.remove(gone)
        for gone in self._handshakes - shook:
            self.handshake_age.remove(gone)
        self._peers, self._handshakes = seen, shook

    def known_announcements(self, names: Iterable[str]) -> None:
        """Every announcement has its series from the moment it exists (0 until first announced); a
        deleted one loses them."""
        want = self._known = set(names)
        counts = self._announcements.counts
        for name in want - counts.keys():
            counts[name] = [0, 0, 0]
        for name in counts.keys() - want:
            del counts[name]

    def known_reconcilers(self, names: Iterable[str]) -> None:
        for name in names:
            self.reconcile_errors.labels(name)
            self.reconcile_seconds.labels(name)

    def known_members(self, names: Iterable[str]) -> None:
        for name in names:
            for path in ("transit", "direct"):
                self.transit_switches.labels(name, path)


AGENT_METRICS = AgentMetrics()
