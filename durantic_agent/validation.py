"""Shared value types and error formatting for everything a user types (agent.yaml, objects, CLI flags).

Every rejection becomes one line `path: 'value' reason`, e.g.
`meshes[0].address: '100.64.0.300/24' is not a valid interface address`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, ValidationError

__all__ = [
    "ASN",
    "Duration",
    "IPAddr",
    "IPIface",
    "IPNet",
    "Name",
    "check_name",
    "format_errors",
    "format_loc",
    "parse_duration",
    "printable_name",
]

ASN_MAX = 4294967295
_FIELD_FIRST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*)*: ")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")


def format_loc(loc: tuple[int | str, ...], data: Any = None) -> str:
    """`announcements[3].vip`; with the input `data`, a list item that has a name is named by what the
    user typed instead: `announcements[web].vip`."""
    out = ""
    cur = data
    for part in loc:
        if isinstance(part, int):
            label = str(part)
            if isinstance(cur, list) and 0 <= part < len(cur):
                cur = cur[part]
                name = cur.get("name") if isinstance(cur, dict) else None
                if printable_name(name):
                    label = str(name)
            else:
                cur = None
            out += f"[{label}]"
        elif part.startswith("function-") or part in ("list", "dict", "str", "int"):
            continue
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
            out += ("." if out else "") + part
    return out or "(top level)"


def _reason(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(ctx.get("error", msg.removeprefix("Value error, ")))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return msg.replace("Input should be", "must be")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return msg.replace("Input should be", "must be")
    if kind == "literal_error":
        return msg.replace("Input should be", "must be")
    return msg


def format_errors(exc: ValidationError, prefix: str = "", data: Any = None) -> list[str]:
    """One line per error: `loc: 'value' reason` (the value is left out when the key is missing). With
    the validated input `data`, list items are named by their `name` (see format_loc)."""
    lines = []
    for err in exc.errors():
        loc = format_loc(tuple(err["loc"]), data)
        if prefix:
            loc = f"{prefix}.{loc}" if loc != "(top level)" else prefix
        if err.get("type") in ("missing",):
            lines.append(f"{loc}: {_reason(dict(err))}")
        elif err.get("type") == "extra_forbidden":
            lines.append(f"{loc}: unknown key")
        elif (
            err.get("type") == "value_error"
            and isinstance(err.get("input"), dict)
            and not _holds_secrets(tuple(err["loc"]))
        ):
            # a check across fields of one object: its message starts with the field it blames
            msg = _reason(dict(err))
            if _FIELD_FIRST.match(msg):
                lines.append(msg if loc == "(top level)" else f"{loc}.{msg}")
            else:  # the object is not repeated whole: its path names it
                lines.append(f"{loc}: {msg}")
        elif _holds_secrets(tuple(err["loc"])):
            lines.append(f"{loc}: {_reason(dict(err))}")  # never echo a header or env value back
        else:
            lines.append(f"{loc}: {err.get('input')!r} {_reason(dict(err))}")
    return lines


def _holds_secrets(loc: tuple[int | str, ...]) -> bool:
    """A check's HTTP headers and exec environment may carry credentials: errors do not repeat them."""
    return any(part in ("headers", "env") for part in loc)


# --- value types -------------------------------------------------------------------------------


def _asn(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError("is not an AS number (1..4294967295)")
    try:
        n = int(v)
    except ValueError:
        raise ValueError("is not an AS number (1..4294967295)") from None
    if not 1 <= n <= ASN_MAX:
        raise ValueError("is not an AS number (1..4294967295)")
    return n


def _addr(v: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return v
    try:
        return ipaddress.ip_address(str(v))
    except ValueError:
        raise ValueError("is not a valid IP address") from None


def _iface(v: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if isinstance(v, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return v
    s = str(v)
    if "/" not in s:
        raise ValueError("is not a valid interface address (address/prefix length)")
    try:
        return ipaddress.ip_interface(s)
    except ValueError:
        raise ValueError("is not a valid interface address") from None


def _net(v: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return v
    s = str(v)
    try:
        return ipaddress.ip_network(s, strict=True)
    except ValueError as e:
        if "has host bits set" in str(e):
            raise ValueError("has host bits set") from None
        raise ValueError("is not a valid prefix") from None


def printable_name(v: Any) -> bool:
    """Whether a name as typed can stand in an error line for its item (else the item's index does)."""
    return isinstance(v, str) and 0 < len(v) <= 63 and v.isprintable()


def check_name(v: Any) -> str:
    """The name itself, or ValueError saying what a name may hold (CLI arguments are checked with it)."""
    return _name(v)


def _name(v: Any) -> str:
    if not isinstance(v, str) or not _NAME_RE.match(v):
        raise ValueError("is not a valid name (letters, digits, '.', '_', '-'; at most 63)")
    return v


_DUR_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*\Z")


def parse_duration(v: Any) -> float:
    """'500ms' / '2s' / '1m' / 2 (seconds) -> seconds as float."""
    if isinstance(v, bool):
        raise ValueError("is not a duration like '500ms' or '2s'")
    if isinstance(v, int | float):
        secs = float(v)
    else:
        m = _DUR_RE.match(str(v))
        if not m:
            raise ValueError("is not a duration like '500ms' or '2s'")
        secs = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]
    if secs <= 0:
        raise ValueError("must be a positive duration")
    return secs


def format_duration(secs: float) -> str:
    ms = round(secs * 1000)
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


ASN = Annotated[int, BeforeValidator(_asn)]
IPAddr = Annotated[
    ipaddress.IPv4Address | ipaddress.IPv6Address,
    BeforeValidator(_addr),
    PlainSerializer(str, return_type=str),
]
IPIface = Annotated[
    ipaddress.IPv4Interface | ipaddress.IPv6Interface,
    BeforeValidator(_iface),
    PlainSerializer(str, return_type=str),
]
IPNet = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    BeforeValidator(_net),
    PlainSerializer(str, return_type=str),
]
Name = Annotated[str, AfterValidator(_name)]
Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
