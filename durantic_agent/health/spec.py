"""The `health_check` schema of an announcement (docs/config.md is generated from it).

Pure: validation only looks at the file system for `exec.command` and `http.ca_file`, because an
operator wants "that program does not exist" at `apply` time, not as a check that silently never passes.
Loading the state file at boot skips that look (validation context `{"boot": True}`): a program removed
since makes its own check fail with that detail, and never stops the agent starting.
Every model dumps (`model_dump(mode="json", exclude_defaults=True)`) to YAML that validates back to an
equal object, so `get -o yaml` -> `apply -f` is a no-op.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from ..redact import REDACTED
from ..validation import Duration, format_duration, parse_duration

__all__ = [
    "MIN_INTERVAL",
    "Argv",
    "ExecProbe",
    "FlapDamping",
    "GrpcProbe",
    "HealthCheck",
    "HttpProbe",
    "StatusRanges",
    "TcpProbe",
    "format_status_ranges",
    "parse_status_ranges",
]

MIN_INTERVAL = 0.1
"""Below 100 ms a check costs more than it tells; it also keeps durations whole milliseconds."""

_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "OPTIONS", "PATCH", "DELETE")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_STATUS_ITEM_RE = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?\Z")
_PLACEHOLDER = (
    f"is the placeholder {REDACTED!r} of a shown object: apply the export of `durantic get`, which keeps secrets"
)
_STATUS_ERR = "is not a status list like '200-299,301' (codes 100..599, low-high)"


# --- value types -------------------------------------------------------------------------------


def parse_status_ranges(v: Any) -> tuple[tuple[int, int], ...]:
    """'200-299,301' (or 204, or a list of those) -> ((200, 299), (301, 301))."""
    if isinstance(v, tuple) and all(isinstance(r, tuple) for r in v):
        return v
    if isinstance(v, bool):
        raise ValueError(_STATUS_ERR)
    if isinstance(v, int):
        v = str(v)
    if isinstance(v, list):
        v = ",".join(str(x) for x in v)
    if not isinstance(v, str) or not v.strip():
        raise ValueError(_STATUS_ERR)
    out: list[tuple[int, int]] = []
    for item in v.split(","):
        m = _STATUS_ITEM_RE.match(item)
        if not m:
            raise ValueError(_STATUS_ERR)
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if not 100 <= lo <= hi <= 599:
            raise ValueError(_STATUS_ERR)
        out.append((lo, hi))
    return tuple(out)


def format_status_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def _whole_ms(secs: float) -> float:
    # format_duration rounds to milliseconds; anything finer would not survive a dump/load round trip.
    if abs(secs * 1000 - round(secs * 1000)) > 1e-6:
        raise ValueError("must be a whole number of milliseconds")
    return secs


def _at_boot(info: ValidationInfo | None) -> bool:
    return bool(info is not None and isinstance(info.context, dict) and info.context.get("boot"))


def _program(v: str, info: ValidationInfo | None = None) -> str:
    if "/" in v and not os.path.isabs(v):
        raise ValueError("must be an absolute path or a program name found on PATH")
    if _at_boot(info):
        return v
    if "/" in v:
        if not (os.path.isfile(v) and os.access(v, os.X_OK)):
            raise ValueError("does not exist or is not executable")
    elif not v or shutil.which(v) is None:
        raise ValueError("is not found on PATH (give an absolute path)")
    return v


def _argv_list(v: Any) -> Any:
    if isinstance(v, str):
        raise ValueError("must be a list of arguments like ['/usr/local/bin/check', '--quick'] (no shell)")
    if isinstance(v, list | tuple) and not v:
        raise ValueError("must name a program")
    return v


class _ArgvSchema:
    """argv as a tuple whose first item is checked on its own, so errors point at `command[0]`."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        program = core_schema.with_info_after_validator_function(_program, core_schema.str_schema(min_length=1))
        return core_schema.tuple_schema(
            [program, core_schema.str_schema()],
            variadic_item_index=1,
            serialization=core_schema.plain_serializer_function_ser_schema(list),
        )


def _url(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be an http:// or https:// URL")
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.password == REDACTED:
        raise ValueError(f"password {_PLACEHOLDER}")
    return v


def _host(v: Any) -> str:
    if not isinstance(v, str) or not v or any(c.isspace() for c in v) or "/" in v:
        raise ValueError("is not a host name or IP address")
    return v.strip("[]")


def _target(v: Any) -> str:
    s = str(v) if isinstance(v, str) else ""
    m = re.match(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s/]+):(\d+)\Z", s)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError("is not host:port (IPv6 as [addr]:port)")
    return s


def _ca_file(v: str, info: ValidationInfo) -> str:
    if not os.path.isabs(v):
        raise ValueError("must be an absolute path")
    if not _at_boot(info) and not os.path.isfile(v):
        raise ValueError("does not exist")
    return v


def _headers(v: dict[str, str]) -> dict[str, str]:
    for k, val in v.items():
        if not _HEADER_NAME_RE.match(k):
            raise ValueError(f"has an invalid header name {k!r}")
        if "\r" in val or "\n" in val:
            raise ValueError(f"header {k!r} has a line break in its value")
        if val == REDACTED:
            raise ValueError(f"header {k!r} {_PLACEHOLDER}")
    return v


def _env(v: dict[str, str]) -> dict[str, str]:
    for k in v:
        if not k or "=" in k or "\0" in k:
            raise ValueError(f"has an invalid variable name {k!r}")
        if v[k] == REDACTED:
            raise ValueError(f"variable {k!r} {_PLACEHOLDER}")
    return v


StatusRanges = Annotated[
    tuple[tuple[int, int], ...],
    BeforeValidator(parse_status_ranges),
    PlainSerializer(format_status_ranges, return_type=str),
]
Argv = Annotated[tuple[str, ...], _ArgvSchema(), BeforeValidator(_argv_list)]
Interval = Annotated[Duration, AfterValidator(_whole_ms)]


# --- models ------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpProbe(_Model):
    """Passes when the response status is in `expected_status`. Redirects are not followed."""

    url: Annotated[str, BeforeValidator(_url)]
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS", "PATCH", "DELETE"] = "GET"
    expected_status: StatusRanges = ((200, 399),)
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(default_factory=dict)
    tls_verify: bool = True
    ca_file: Annotated[str, AfterValidator(_ca_file)] | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) and v.upper() in _HTTP_METHODS else v

    @field_validator("ca_file")
    @classmethod
    def _ca_needs_verify(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("tls_verify") is False:
            raise ValueError("is useless with tls_verify: false (drop one of them)")
        return v


class TcpProbe(_Model):
    """Passes when a TCP connect succeeds."""

    host: Annotated[str, BeforeValidator(_host)]
    port: Annotated[int, Field(ge=1, le=65535)]


class GrpcProbe(_Model):
    """grpc.health.v1.Health/Check over plaintext; passes on SERVING. `service: ""` is the whole server."""

    target: Annotated[str, BeforeValidator(_target)]
    service: str = ""


class ExecProbe(_Model):
    """Runs argv (never a shell) in its own process group; exit 0 passes. `env` adds to the agent's."""

    command: Argv
    env: Annotated[dict[str, str], AfterValidator(_env)] = Field(default_factory=dict)


class FlapDamping(_Model):
    """More than `max_changes` pass<->fail changes within `window` -> not advertised for `hold_down`."""

    max_changes: Annotated[int, Field(ge=1)]
    window: Interval
    hold_down: Interval


_KINDS = ("http", "tcp", "grpc", "exec")


class HealthCheck(_Model):
    """Exactly one probe kind plus timing. Without an explicit `timeout`, an interval under 1s
    lowers the timeout to the interval (timeout may never exceed interval)."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    grpc: GrpcProbe | None = None
    exec: ExecProbe | None = None
    interval: Interval = 2.0
    timeout: Interval = 1.0
    healthy_threshold: Annotated[int, Field(ge=1)] = 2
    unhealthy_threshold: Annotated[int, Field(ge=1)] = 3
    flap: FlapDamping | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_timeout(cls, data: Any) -> Any:
        # A short interval with the default 1s timeout would be rejected; shrink the default instead.
        if isinstance(data, dict) and "timeout" not in data and "interval" in data:
            try:
                interval = parse_duration(data["interval"])
            except ValueError:
                return data
            if interval < 1.0:
                return {**data, "timeout": format_duration(interval)}
        return data

    @field_validator("interval")
    @classmethod
    def _min_interval(cls, v: float) -> float:
        if v < MIN_INTERVAL:
            raise ValueError(f"must be at least {format_duration(MIN_INTERVAL)}")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout_le_interval(cls, v: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval")
        if interval is not None and v > interval:
            raise ValueError(f"must not exceed interval ({format_duration(interval)})")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> HealthCheck:
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            have = f"has {' and '.join(given)}" if given else "has no probe"
            raise ValueError(f"{have}: give exactly one of http, tcp, grpc, exec")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _KINDS if getattr(self, k) is not None)

    @property
    def probe(self) -> HttpProbe | TcpProbe | GrpcProbe | ExecProbe:
        p = self.http or self.tcp or self.grpc or self.exec
        assert p is not None  # guaranteed by _exactly_one
        return p

    def same_probe(self, other: HealthCheck) -> bool:
        """True when only timing/thresholds differ: the engine keeps the check's state across such edits."""
        return all(getattr(self, k) == getattr(other, k) for k in _KINDS)
