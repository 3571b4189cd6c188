"""One probe of one check: tcp, http, grpc or exec, one module each; `probe()` runs whichever a check names.

TCP and HTTP probes open a fresh connection each time, as HAProxy's checks do, and close it with a reset.
Shared, long-lived state (gRPC channels, TLS contexts, prebuilt HTTP requests) lives in `ProbeContext`.
"""

from __future__ import annotations

from .base import ProbeResult, describe_error
from .context import ProbeContext
from .exec import OUTPUT_TAIL
from .http import BadResponse, HttpTarget, final_status, http_target
from .run import probe

__all__ = [
    "OUTPUT_TAIL",
    "BadResponse",
    "HttpTarget",
    "ProbeContext",
    "ProbeResult",
    "describe_error",
    "final_status",
    "http_target",
    "probe",
]
