"""Fast, memoised prefix parsing for the FIB hot paths.

`ipaddress.ip_network` is slow, and a 50,000-route FIB parses every prefix in several places
(classification, kernel encoding, WireGuard canonical form). IPv4 (the common case) is parsed with
`inet_pton`, everything else falls back to `ipaddress`; results are cached per input string, so a prefix
seen again costs a dict lookup.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import NamedTuple

__all__ = ["Prefix", "canonical_address", "packed_address", "parse_prefix"]


class Prefix(NamedTuple):
    version: int  # 4 or 6
    prefixlen: int
    value: int  # network address as an integer, host bits cleared
    packed: bytes  # network address, network byte order
    text: str  # canonical "addr/len", as ipaddress prints it

    def subnet_of(self, other: Prefix) -> bool:
        if self.version != other.version or self.prefixlen < other.prefixlen:
            return False
        shift = (32 if self.version == 4 else 128) - other.prefixlen
        return self.value >> shift == other.value >> shift


_MASK4 = tuple((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF for n in range(33))
_PLEN4 = {str(n): n for n in range(33)}  # canonical lengths only: "08", "+8", " 8" go to ipaddress
_new_prefix = tuple.__new__  # skips NamedTuple's Python-level __new__ (a third of a cold parse)


@functools.lru_cache(maxsize=1 << 18)
def parse_prefix(text: str) -> Prefix:
    """Like `ip_network(text, strict=False)`; ValueError for what ipaddress refuses."""
    addr, sep, plen = text.partition("/")
    n = _PLEN4.get(plen) if sep else 32
    if n is not None and ":" not in addr:
        try:
            raw = socket.inet_pton(socket.AF_INET, addr)  # dotted quad only, no leading zeros: canonical
        except OSError:
            pass
        else:
            value = int.from_bytes(raw, "big")
            masked = value & _MASK4[n]
            if masked == value:  # what gobgpd and the config hand over: the text is canonical already
                return _new_prefix(Prefix, (4, n, value, raw, text if sep else f"{addr}/32"))
            packed = masked.to_bytes(4, "big")
            return _new_prefix(Prefix, (4, n, masked, packed, f"{socket.inet_ntop(socket.AF_INET, packed)}/{n}"))
    net = ipaddress.ip_network(text, strict=False)
    packed = net.network_address.packed
    return Prefix(net.version, net.prefixlen, int.from_bytes(packed, "big"), packed, str(net))


@functools.lru_cache(maxsize=4096)
def canonical_address(text: str) -> str:
    return str(ipaddress.ip_address(text))


@functools.lru_cache(maxsize=4096)
def packed_address(text: str) -> tuple[int, bytes]:
    """(version, packed) of an address."""
    ip = ipaddress.ip_address(text)
    return ip.version, ip.packed
