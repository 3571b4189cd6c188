"""BGP communities: the one table of well-known names and the parsers every part of the agent uses."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "NAMES_BY_VALUE",
    "WELL_KNOWN",
    "Community",
    "LargeCommunity",
    "community_str",
    "community_to_int",
    "parse_community",
    "parse_large",
]

# RFC 1997 / RFC 8326 / RFC 7999 / RFC 9494 names, as operators write them (and as GoBGP prints most).
WELL_KNOWN: dict[str, int] = {
    "graceful-shutdown": 0xFFFF0000,
    "accept-own": 0xFFFF0001,
    "llgr-stale": 0xFFFF0006,
    "no-llgr": 0xFFFF0007,
    "blackhole": 0xFFFF029A,
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
    "no-peer": 0xFFFFFF04,
}
NAMES_BY_VALUE: dict[int, str] = {v: k for k, v in WELL_KNOWN.items()}
_STD = re.compile(r"^(\d+):(\d+)\Z")
_LARGE = re.compile(r"^(\d+):(\d+):(\d+)\Z")


def parse_community(v: Any) -> str:
    s = str(v).strip().lower()
    if s in WELL_KNOWN:
        return s
    m = _STD.match(s)
    if not m or int(m.group(1)) > 65535 or int(m.group(2)) > 65535:
        raise ValueError("is not a community (ASN:VALUE, each 0..65535, or a well-known name like no-export)")
    return f"{int(m.group(1))}:{int(m.group(2))}"


def community_to_int(s: str) -> int:
    if s in WELL_KNOWN:
        return WELL_KNOWN[s]
    a, b = s.split(":")
    return (int(a) << 16) | int(b)


def community_str(value: int) -> str:
    name = NAMES_BY_VALUE.get(value)
    if name is not None:
        return name
    return f"{value >> 16}:{value & 0xFFFF}"


def parse_large(v: Any) -> str:
    s = str(v).strip()
    m = _LARGE.match(s)
    if not m or any(int(g) > 4294967295 for g in m.groups()):
        raise ValueError("is not a large community (A:B:C, each 0..4294967295)")
    return ":".join(str(int(g)) for g in m.groups())


Community = Annotated[str, BeforeValidator(parse_community)]
LargeCommunity = Annotated[str, BeforeValidator(parse_large)]
