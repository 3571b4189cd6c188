"""rib_rows (the JSON shape the API, CLI and page share), the filter box, and the CLI text tables."""

from __future__ import annotations

from typing import Any

from durantic_agent.core.types import RibPath
from durantic_agent.views.render import fmt_age, render_announcements, render_checks, render_peers, render_rib
from durantic_agent.views.rib import rib_rows, row_matches

LOCAL = 4200000001
NOW = 1_764_000_000


def rp(prefix: str, nip: str | None, asn: int, **kw: Any) -> RibPath:
    base: dict[str, Any] = dict(
        prefix=prefix,
        next_hop=nip or "0.0.0.0",
        as_path=(asn,) if nip else (),
        as_path_len=1 if nip else 0,
        first_as=asn if nip else 0,
        origin="igp",
        med=None,
        local_pref=None,
        neighbor_ip=nip,
        source_asn=asn,
        source_id=nip or "",
        age=NOW - 100,
    )
    base.update(kw)
    return RibPath(**base)


NAMES = {"100.64.0.2": "web-2", "100.64.0.3": "web-3"}
REACH = {"100.64.0.2": "direct", "100.64.0.3": "transit via web-2"}


def rows() -> list[dict[str, Any]]:
    vip = [
        # gobgpd lists best first, but rows must not depend on it: the best flag decides.
        rp("10.50.0.10/32", "100.64.0.3", 4200000003),
        rp("10.50.0.10/32", "100.64.0.2", 4200000002, local_pref=200, best=True, communities=("65000:100",)),
    ]
    own = [rp("10.50.0.20/32", None, LOCAL, best=True)]
    gone = [rp("10.9.0.0/24", "100.64.0.2", 4200000002, is_withdraw=True)]
    return rib_rows([vip, own, gone], NAMES, {"10.50.0.10/32"}, REACH, {"10.50.0.20/32": "healthy"}, LOCAL)


def test_row_shape_best_first_with_explanations() -> None:
    r = rows()
    assert [x["prefix"] for x in r] == ["10.50.0.10/32", "10.50.0.20/32"]
    vip = r[0]
    assert vip["best_reason"] == "LOCAL_PREF 200 > 100"
    assert vip["explain"] == [
        {"path_index": 1, "rule": "local_pref", "text": "LOCAL_PREF 200 > 100", "best_value": "200", "value": "100"}
    ]
    best, alt = vip["paths"]
    assert best == {
        "next_hop": "100.64.0.2",
        "as_path": [4200000002],
        "communities": ["65000:100"],
        "large_communities": [],
        "local_pref": 200,
        "med": None,
        "origin": "igp",
        "source": "web-2",
        "neighbor_ip": "100.64.0.2",
        "source_asn": 4200000002,
        "age": NOW - 100,
        "stale": False,
        "best": True,
        "installed": True,
        "reach": "direct",
        "health": None,
    }
    assert (alt["source"], alt["reach"], alt["installed"], alt["best"]) == ("web-3", "transit via web-2", False, False)
    own = r[1]["paths"][0]
    assert (own["source"], own["reach"], own["health"], r[1]["best_reason"]) == (
        "local",
        "local",
        "healthy",
        "only path",
    )


def test_filter_box() -> None:
    r = rows()
    assert [x["prefix"] for x in r if row_matches(x, "10.50.0.0/16")] == ["10.50.0.10/32", "10.50.0.20/32"]
    assert [x["prefix"] for x in r if row_matches(x, "10.50.0.10")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "web-3")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "65000:100")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "4200000003")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "")] == ["10.50.0.10/32", "10.50.0.20/32"]
    assert [x["prefix"] for x in r if row_matches(x, "nothing")] == []


def test_render_rib_and_explain() -> None:
    text = render_rib(rows(), now=NOW)
    lines = text.splitlines()
    assert lines[1].split() == [
        "Flags",
        "Prefix",
        "Via",
        "Reach",
        "NextHop",
        "AS-path",
        "LP",
        "MED",
        "O",
        "Age",
        "Communities",
        "Why",
    ]
    assert lines[2].split()[:5] == ["*>F", "10.50.0.10/32", "web-2", "direct", "100.64.0.2"]
    assert lines[2].endswith("LOCAL_PREF 200 > 100")
    assert "1m40s" in lines[2]
    assert len(lines) == 4  # legend, header, 2 best paths
    ex = render_rib(rows(), explain=True, now=NOW).splitlines()
    assert "web-3" in ex[3] and "transit via web-2" in ex[3] and ex[3].endswith("lost: LOCAL_PREF 200 > 100")


def test_render_peers_announcements_checks() -> None:
    peers: list[dict[str, Any]] = [
        dict(
            name="web-2",
            address="100.64.0.2",
            asn=4200000002,
            state="established",
            uptime=NOW - 4000,
            received=3,
            accepted=3,
            advertised=2,
            wg_endpoint="198.51.100.2:51820",
            last_handshake=NOW - 30,
            rx_bytes=1,
            tx_bytes=2,
            path_type="Direct",
            liveness={"state": "up", "since": NOW - 100, "rtt": 0.00042, "transitions": 0},
        ),
        dict(
            name="tor1",
            address="192.0.2.1",
            asn=65000,
            state="active",
            uptime=None,
            received=None,
            accepted=None,
            advertised=None,
            wg_endpoint=None,
            last_handshake=None,
            rx_bytes=None,
            tx_bytes=None,
            path_type="-",
        ),
    ]
    out = render_peers(peers, now=NOW).splitlines()
    assert out[1].split() == [
        "web-2",
        "100.64.0.2",
        "4200000002",
        "established",
        "1h06m",
        "3/3/2",
        "30s",
        "198.51.100.2:51820",
        "Direct",
        "up",
        "0.4ms",
    ]
    assert out[2].split() == ["tor1", "192.0.2.1", "65000", "active", "-", "-/-/-", "-", "-", "-", "-"]
    peers[0]["liveness"] = {"state": "down", "since": NOW - 12, "rtt": 0.00042, "transitions": 1}
    assert render_peers(peers, now=NOW).splitlines()[1].split()[-2:] == ["down", "12s"]
    anns: list[dict[str, Any]] = [
        dict(
            name="web",
            kind="vip",
            prefix="10.50.0.20/32",
            check="http",
            state="healthy",
            announced=True,
            last_detail="HTTP 200",
            last_latency=0.0042,
            transitions=1,
        ),
        dict(
            name="lan",
            kind="route",
            prefix="192.168.1.0/24",
            check=None,
            state="static",
            announced=True,
            last_detail=None,
            last_latency=None,
            transitions=0,
        ),
    ]
    assert render_announcements(anns).splitlines()[2].split() == [
        "lan",
        "route",
        "192.168.1.0/24",
        "-",
        "static",
        "yes",
    ]
    checks = render_checks(anns).splitlines()
    assert len(checks) == 2 and checks[1].split() == [
        "web",
        "10.50.0.20/32",
        "http",
        "healthy",
        "yes",
        "4.2ms",
        "1",
        "HTTP",
        "200",
    ]


def test_fmt_age() -> None:
    assert [fmt_age(NOW - s, NOW) for s in (5, 75, 7300, 200000)] == ["5s", "1m15s", "2h01m", "2d07h"]
    assert fmt_age(None) == fmt_age(0) == "never"
