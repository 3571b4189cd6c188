from __future__ import annotations

import pytest

from durantic_agent.wg.plan import PeerChange, normalize_endpoint, plan_peers
from durantic_agent.wg.port import PeerSpec, PeerState, WireGuardOpError
from durantic_agent.wg.uapi import parse_device, parse_reply, render_changes

A, B, C = "A" * 43 + "=", "B" * 43 + "=", "C" * 43 + "="


def state(key: str, *ips: str, endpoint: str | None = None, keepalive: int = 0) -> PeerState:
    return PeerState(key, endpoint, frozenset(ips), None, 0, 0, keepalive)


def spec(key: str, *ips: str, endpoint: str | None = None, keepalive: int = 0) -> PeerSpec:
    return PeerSpec(key, endpoint, frozenset(ips), keepalive)


def test_agreeing_state_plans_nothing() -> None:
    cur = {A: state(A, "10.0.0.1/32", endpoint="192.0.2.1:51820", keepalive=25)}
    assert plan_peers(cur, {A: spec(A, "10.0.0.1/32", endpoint="192.0.2.1:51820", keepalive=25)}) == []
    # a wanted peer without endpoint keeps the roamed one; host bits are normalised
    assert plan_peers(cur, {A: spec(A, "10.0.0.1", keepalive=25)}) == []


def test_new_peer_and_growth_add_without_replace() -> None:
    cur = {A: state(A, "10.0.0.1/32")}
    plan = plan_peers(cur, {A: spec(A, "10.0.0.1/32", "10.9.0.0/24"), B: spec(B, "10.0.0.2/32")})
    assert plan == [
        PeerChange(A, allowed_ips=("10.9.0.0/24",)),
        PeerChange(B, create=True, allowed_ips=("10.0.0.2/32",)),
    ]


def test_move_is_one_line_on_the_new_owner() -> None:
    cur = {A: state(A, "10.0.0.1/32", "10.50.0.10/32"), B: state(B, "10.0.0.2/32")}
    plan = plan_peers(cur, {A: spec(A, "10.0.0.1/32"), B: spec(B, "10.0.0.2/32", "10.50.0.10/32")})
    assert plan == [PeerChange(B, allowed_ips=("10.50.0.10/32",))]


def test_shrink_replaces_after_additions_and_before_removals() -> None:
    cur = {A: state(A, "10.0.0.1/32", "10.9.0.0/24"), B: state(B, "10.0.0.2/32"), C: state(C, "10.0.0.3/32")}
    plan = plan_peers(cur, {A: spec(A, "10.0.0.1/32"), B: spec(B, "10.0.0.2/32", "10.0.0.3/32")})
    assert plan == [
        PeerChange(B, allowed_ips=("10.0.0.3/32",)),  # takes C's prefix before C goes
        PeerChange(A, replace_allowed_ips=True, allowed_ips=("10.0.0.1/32",)),
        PeerChange(C, remove=True),
    ]
    assert render_changes(plan)[1:3] == ["update_only=true", "allowed_ip=10.0.0.3/32"]


def test_replacing_receiver_goes_before_replacing_giver() -> None:
    # B loses 10.8/24 to nobody and gains A's 10.7/24; A loses 10.7/24 and 10.6/24 to nobody
    cur = {A: state(A, "10.7.0.0/24", "10.6.0.0/24"), B: state(B, "10.8.0.0/24")}
    plan = plan_peers(cur, {A: spec(A), B: spec(B, "10.7.0.0/24")})
    assert [(c.public_key, c.replace_allowed_ips) for c in plan] == [(B, True), (A, True)]


def test_endpoint_and_keepalive_updates() -> None:
    cur = {A: state(A, endpoint="192.0.2.1:51820")}
    plan = plan_peers(cur, {A: spec(A, endpoint="[2001:db8::1]:51820", keepalive=10)})
    assert plan == [PeerChange(A, endpoint="[2001:db8::1]:51820", persistent_keepalive=10)]


def test_prefix_wanted_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.1/32 is wanted on two peers"):
        plan_peers({}, {A: spec(A, "10.0.0.1/32"), B: spec(B, "10.0.0.1")})


@pytest.mark.parametrize(
    ("raw", "canon"),
    [("192.0.2.1:51820", "192.0.2.1:51820"), ("[2001:DB8::1]:1", "[2001:db8::1]:1")],
)
def test_normalize_endpoint(raw: str, canon: str) -> None:
    assert normalize_endpoint(raw) == canon


@pytest.mark.parametrize("bad", ["192.0.2.1", "2001:db8::1:51820", "[::1]:0", "host.example:51820"])
def test_normalize_endpoint_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_endpoint(bad)


def test_uapi_render_and_parse() -> None:
    key_hex = "11" * 32
    from durantic_agent.wg.keys import hex_to_b64

    key = hex_to_b64(key_hex)
    lines = render_changes(
        [
            PeerChange(key, create=True, endpoint="[2001:db8::1]:5", persistent_keepalive=25, allowed_ips=("::/0",)),
            PeerChange(key, replace_allowed_ips=True, allowed_ips=("10.0.0.1/32",)),
            PeerChange(key, remove=True),
        ]
    )
    assert lines == [
        f"public_key={key_hex}",
        "endpoint=[2001:db8::1]:5",
        "persistent_keepalive_interval=25",
        "allowed_ip=::/0",
        f"public_key={key_hex}",
        "update_only=true",
        "replace_allowed_ips=true",
        "allowed_ip=10.0.0.1/32",
        f"public_key={key_hex}",
        "remove=true",
    ]
    reply = (
        f"private_key={'22' * 32}\nlisten_port=51820\npublic_key={key_hex}\nendpoint=[2001:db8::1]:5\n"
        "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=500000000\ntx_bytes=10\nrx_bytes=20\n"
        "persistent_keepalive_interval=25\nallowed_ip=10.0.0.1/32\nallowed_ip=::/0\nprotocol_version=1\nerrno=0\n\n"
    )
    dev = parse_device("dur-x", parse_reply(reply), "pub")
    assert dev.listen_port == 51820
    assert dev.peers[key] == PeerState(
        key, "[2001:db8::1]:5", frozenset({"10.0.0.1/32", "::/0"}), 1700000000.5, 20, 10, 25
    )
    never = parse_device("dur-x", parse_reply(f"public_key={key_hex}\nlast_handshake_time_sec=0\nerrno=0\n\n"), None)
    assert never.peers[key].last_handshake is None


def test_uapi_errno_is_raised_positive() -> None:
    with pytest.raises(WireGuardOpError, match="errno=-22") as exc:
        parse_reply("errno=-22\n\n")
    assert exc.value.errno == 22
