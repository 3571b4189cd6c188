"""api.Path <-> RibPath: what make_path builds is what decode_path reads back, in the operator's words."""

from __future__ import annotations

import pytest

from durantic_agent.errors import ValidationFailed
from durantic_agent.gobgp import raw
from durantic_agent.gobgp.decode import decode_destination, decode_path
from durantic_agent.gobgp.paths import make_path
from durantic_agent.gobgp.pb import api, attr, common


def test_v4_roundtrip_with_everything() -> None:
    p = make_path(
        "10.50.0.10/32",
        None,
        ["65000:100", "no-export", "graceful-shutdown", "blackhole", "no-advertise", "no-export-subconfed"],
        ["4200000001:1:1"],
        med=10,
        origin="incomplete",
        as_path=[4200000002, 4200000003],
    )
    r = decode_path(p)
    assert r.prefix == "10.50.0.10/32"
    assert r.next_hop == "0.0.0.0"
    assert r.communities == (
        "65000:100",
        "no-export",
        "graceful-shutdown",
        "blackhole",
        "no-advertise",
        "no-export-subconfed",
    )
    assert r.large_communities == ("4200000001:1:1",)
    assert (r.med, r.local_pref, r.origin, r.family) == (10, None, "incomplete", "ipv4")
    assert (r.as_path, r.as_path_len, r.first_as) == ((4200000002, 4200000003), 2, 4200000002)
    assert r.neighbor_ip is None and r.is_local


def test_v6_uses_mp_reach_with_unspecified_next_hop() -> None:
    p = make_path("2001:db8::10/128", None)
    kinds = [a.WhichOneof("attr") for a in p.pattrs]
    assert "mp_reach" in kinds and "next_hop" not in kinds
    assert p.family.afi == common.Family.AFI_IP6
    r = decode_path(p)
    assert (r.prefix, r.next_hop, r.family) == ("2001:db8::10/128", "::", "ipv6")
    assert decode_path(make_path("2001:db8::/64", "2001:db8::1")).next_hop == "2001:db8::1"


def test_withdraw_flag() -> None:
    assert make_path("10.0.0.0/24", None, withdraw=True).is_withdraw


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "10.0.0.1/24", "next_hop": None}, "prefix: '10.0.0.1/24' is not a network address"),
        ({"prefix": "10.0.0.0/24", "next_hop": "::1"}, "next_hop: '::1' is not an IPv4 address"),
        ({"prefix": "10.0.0.0/24", "next_hop": "x"}, "next_hop: 'x' is not an IP address"),
        ({"prefix": "10.0.0.0/24", "next_hop": None, "communities": ["70000:1"]}, "community: '70000:1'"),
        ({"prefix": "10.0.0.0/24", "next_hop": None, "large_communities": ["1:2"]}, "large community: '1:2'"),
    ],
)
def test_bad_input_names_field_and_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationFailed) as ei:
        make_path(**kwargs)  # type: ignore[arg-type]
    assert str(ei.value).startswith(message)


def _received(prefix: str, segments: list[tuple[int, list[int]]]) -> api.Path:
    p = make_path(prefix, "100.64.0.2", med=None)
    segs = [attr.AsSegment(type=t, numbers=n) for t, n in segments]
    p.pattrs.append(attr.Attribute(as_path=attr.AsPathAttribute(segments=segs)))
    p.pattrs.append(attr.Attribute(local_pref=attr.LocalPrefAttribute(local_pref=200)))
    p.neighbor_ip = "100.64.0.2"
    p.source_asn = 4200000002
    p.source_id = "100.64.0.2"
    p.best = True
    p.stale = True
    p.age.seconds = 1_700_000_000
    return p


def test_as_set_and_confed_segments_and_received_fields() -> None:
    S = attr.AsSegment
    p = _received(
        "10.1.0.0/16",
        [(S.TYPE_AS_CONFED_SEQUENCE, [65100]), (S.TYPE_AS_SEQUENCE, [4200000002]), (S.TYPE_AS_SET, [7, 8])],
    )
    (r,) = decode_destination(api.Destination(prefix="10.1.0.0/16", paths=[p]))
    assert (r.as_path, r.as_path_len, r.first_as) == ((4200000002, 7, 8), 2, 4200000002)
    assert (r.neighbor_ip, r.source_asn, r.source_id, r.age) == ("100.64.0.2", 4200000002, "100.64.0.2", 1_700_000_000)
    assert (r.best, r.stale, r.local_pref, r.next_hop) == (True, True, 200, "100.64.0.2")


def test_nil_neighbour_is_local() -> None:
    p = make_path("10.0.0.0/24", None)
    p.neighbor_ip = "<nil>"
    assert decode_path(p).neighbor_ip is None


def test_decode_many_destinations() -> None:
    # Decoding speed is measured by `make bench` (bench/rib.py), never asserted here: a timed assert
    # fails on a busy machine without the code being wrong.
    n = 5000
    wire = []
    for i in range(n):
        seq = attr.AsSegment.TYPE_AS_SEQUENCE
        p = _received(f"10.{i >> 8}.{i & 255}.0/24", [(seq, [4200000002, 4200000000 + i % 7])])
        wire.append(api.Destination(prefix=f"10.{i >> 8}.{i & 255}.0/24", paths=[p]).SerializeToString())
    dests = [raw.Destination.FromString(b) for b in wire]
    out = [decode_destination(d) for d in dests]
    assert len(out) == n and out[-1][0].as_path[1] == 4200000000 + (n - 1) % 7
    # the raw mirror (attributes left serialized) reads the same as the typed message
    assert out[7] == decode_destination(api.Destination.FromString(wire[7]))
