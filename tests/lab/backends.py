"""The WireGuard backends a lab test runs on, as a pytest parameter.

The kernel case carries the `wg_kernel` marker: `make test` runs those inside the test VM (a stock Debian
kernel, tests/vm/) and everything else on the host, whose kernel may have no wireguard module.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from durantic_agent.wg import kernel_available

__all__ = ["WG_BACKENDS", "require_backend"]

WG_BACKENDS: list[Any] = ["userspace", pytest.param("kernel", marks=pytest.mark.wg_kernel)]


def require_backend(kind: str) -> None:
    """A kernel without the module skips the kernel case, except under CI=true, where it fails."""
    if kind == "kernel" and not kernel_available():
        msg = "this kernel has no wireguard module (`make test-kernel` runs these tests in a VM)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
