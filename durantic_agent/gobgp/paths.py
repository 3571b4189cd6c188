"""Build the `api.Path` messages the agent announces (VIPs and routes) and withdraws."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence
from typing import Any, Literal

from ..core.community import WELL_KNOWN
from ..errors import ValidationFailed
from .pb import V4U, V6U, api, attr, ip_nlri

__all__ = ["WELL_KNOWN_NAMES", "make_path", "make_wire_path", "parse_community", "parse_large_community"]

WELL_KNOWN_NAMES = WELL_KNOWN
_ORIGIN = {"igp": 0, "egp": 1, "incomplete": 2}


def parse_community(text: str) -> int:
    """'65000:100' or a well-known name -> the 32-bit value."""
    s = text.strip().lower()
    if s in WELL_KNOWN_NAMES:
        return WELL_KNOWN_NAMES[s]
    hi, sep, lo = s.partition(":")
    if sep and hi.isdigit() and lo.isdigit() and int(hi) <= 0xFFFF and int(lo) <= 0xFFFF:
        return (int(hi) << 16) | int(lo)
    raise ValidationFailed(f"community: {text!r} must be ASN:VALUE (each 0-65535) or a well-known name")


def parse_large_community(text: str) -> Any:
    parts = text.strip().split(":")
    if len(parts) == 3 and all(p.isdigit() and int(p) <= 0xFFFFFFFF for p in parts):
        g, a, b = (int(p) for p in parts)
        return attr.LargeCommunity(global_admin=g, local_data1=a, local_data2=b)
    raise ValidationFailed(f"large community: {text!r} must be GLOBAL:DATA1:DATA2 (each 0-4294967295)")


def make_path(
    prefix: str,
    next_hop: str | None,
    communities: Sequence[str] = (),
    large_communities: Sequence[str] = (),
    med: int | None = None,
    origin: Literal["igp", "egp", "incomplete"] = "igp",
    as_path: Sequence[int] | None = None,
    withdraw: bool = False,
) -> Any:
    """A local path for AddPath/AddPathStream/DeletePath.

    next_hop None = next-hop-self: GoBGP replaces the unspecified address by each eBGP session's local
    address (0.0.0.0 for IPv4, :: for IPv6, which travels in MP_REACH_NLRI as RFC 4760 requires).
    """
    try:
        net = ipaddress.ip_network(prefix, strict=True)
    except ValueError as e:
        raise ValidationFailed(f"prefix: {prefix!r} is not a network address ({e})") from None
    v6 = net.version == 6
    if next_hop is None:
        nh = "::" if v6 else "0.0.0.0"
    else:
        try:
            nh_addr = ipaddress.ip_address(next_hop)
        except ValueError:
            raise ValidationFailed(f"next_hop: {next_hop!r} is not an IP address") from None
        if nh_addr.version != net.version:
            raise ValidationFailed(f"next_hop: {next_hop!r} is not an IPv{net.version} address like {prefix!r}")
        nh = str(nh_addr)
    nlri = ip_nlri(str(net.network_address), net.prefixlen)
    pattrs = [attr.Attribute(origin=attr.OriginAttribute(origin=_ORIGIN[origin]))]
    if v6:
        pattrs.append(attr.Attribute(mp_reach=attr.MpReachNLRIAttribute(family=V6U, next_hops=[nh], nlris=[nlri])))
    else:
        pattrs.append(attr.Attribute(next_hop=attr.NextHopAttribute(next_hop=nh)))
    if as_path:
        seg = attr.AsSegment(type=attr.AsSegment.TYPE_AS_SEQUENCE, numbers=list(as_path))
        pattrs.append(attr.Attribute(as_path=attr.AsPathAttribute(segments=[seg])))
    if med is not None:
        pattrs.append(attr.Attribute(multi_exit_disc=attr.MultiExitDiscAttribute(med=med)))
    if communities:
        comms = attr.CommunitiesAttribute(communities=[parse_community(c) for c in communities])
        pattrs.append(attr.Attribute(communities=comms))
    if large_communities:
        lcs = [parse_large_community(c) for c in large_communities]
        pattrs.append(attr.Attribute(large_communities=attr.LargeCommunitiesAttribute(communities=lcs)))
    return api.Path(family=V6U if v6 else V4U, nlri=nlri, pattrs=pattrs, is_withdraw=withdraw)


# BGP wire encodings (RFC 4271 4.3): flags, type code, length, value.
_ORIGIN_WIRE = {name: bytes([0x40, 1, 1, code]) for name, code in _ORIGIN.items()}
_OPTIONAL_TRANSITIVE = 0xC0


def _wire_attr(flags: int, code: int, body: bytes) -> bytes:
    if len(body) > 255:
        return bytes([flags | 0x10, code]) + struct.pack("!H", len(body)) + body  # extended length
    return bytes([flags, code, len(body)]) + body


def make_wire_path(
    prefix: str,
    next_hop: str | None,
    communities: Sequence[str] = (),
    large_communities: Sequence[str] = (),
    med: int | None = None,
    origin: Literal["igp", "egp", "incomplete"] = "igp",
    withdraw: bool = False,
) -> Any:
    """The same IPv4 path as make_path, as BGP wire bytes (`nlri_binary`, `pattrs_binary`).

    gobgpd parses these as it parses an UPDATE; building them is much cheaper than building the typed
    protobuf messages, which dominated bulk announcements.
    IPv6 paths (MP_REACH_NLRI) go through make_path.
    """
    # Callers pass validated, normal-form prefixes; inet_pton is strict and far cheaper than ipaddress.
    addr, _, plen_s = prefix.partition("/")
    try:
        packed = socket.inet_pton(socket.AF_INET, addr)
        nh = socket.inet_pton(socket.AF_INET, next_hop or "0.0.0.0")
    except OSError:
        raise ValueError(f"{prefix!r} / {next_hop!r}: not an IPv4 prefix and next hop") from None
    plen = int(plen_s) if plen_s else 32
    if not 0 <= plen <= 32:
        raise ValueError(f"{prefix!r}: not an IPv4 prefix")
    nlri = bytes([plen]) + packed[: (plen + 7) // 8]
    pattrs = [_ORIGIN_WIRE[origin], b"\x40\x03\x04" + nh]
    if med is not None:
        pattrs.append(b"\x80\x04\x04" + struct.pack("!I", med))
    if communities:
        body = b"".join(struct.pack("!I", parse_community(c)) for c in communities)
        pattrs.append(_wire_attr(_OPTIONAL_TRANSITIVE, 8, body))
    if large_communities:
        parts = [parse_large_community(c) for c in large_communities]
        body = b"".join(struct.pack("!III", lc.global_admin, lc.local_data1, lc.local_data2) for lc in parts)
        pattrs.append(_wire_attr(_OPTIONAL_TRANSITIVE, 32, body))
    return api.Path(family=V4U, nlri_binary=nlri, pattrs_binary=pattrs, is_withdraw=withdraw)
