"""State the probes share across runs: gRPC channels, TLS contexts and each HTTP check's prepared request."""

from __future__ import annotations

import ssl
from typing import Any

from ..spec import HttpProbe
from .base import CheckSetupError
from .grpc import health_channel
from .http import HttpTarget, http_target, tls_context

__all__ = ["ProbeContext"]

_HTTP_TARGETS_MAX = 8192


class ProbeContext:
    """Shared state: one gRPC channel per target, one TLS context per TLS setting, and each HTTP check's
    request bytes, built once per check rather than on every probe."""

    def __init__(self) -> None:
        self._grpc: dict[str, tuple[Any, Any]] = {}
        self._tls: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        # Keyed by id(): the spec is not hashable (headers is a dict). The entry keeps the spec alive, so
        # its id cannot be reused while cached; `is` guards against a stale entry all the same.
        self._http: dict[int, tuple[HttpProbe, HttpTarget]] = {}

    def http_target(self, spec: HttpProbe) -> HttpTarget:
        hit = self._http.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        if len(self._http) >= _HTTP_TARGETS_MAX:
            self._http.clear()  # checks were replaced many times over; live ones rebuild in microseconds
        target = http_target(spec)
        self._http[id(spec)] = (spec, target)
        return target

    def tls_context(self, spec: HttpProbe) -> ssl.SSLContext:
        key = (spec.tls_verify, spec.ca_file)
        ctx = self._tls.get(key)
        if ctx is None:
            try:
                ctx = self._tls[key] = tls_context(spec.tls_verify, spec.ca_file)
            except OSError as e:  # ssl.SSLError too
                # a CA file removed or broken since `apply` fails this check alone, saying so
                why = getattr(e, "reason", None) or e.strerror or str(e)
                raise CheckSetupError(f"ca_file {spec.ca_file!r}: {why}") from None
        return ctx

    def grpc_stub(self, target: str) -> Any:
        cached = self._grpc.get(target)
        if cached is None:
            cached = self._grpc[target] = health_channel(target)
        return cached[1]

    async def aclose(self) -> None:
        self._http.clear()
        for channel, _stub in self._grpc.values():
            await channel.close()
        self._grpc.clear()
