"""Backend choice: kernel WireGuard when this kernel has it, wireguard-go otherwise."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from pyroute2 import AsyncWireGuard
from pyroute2.netlink.exceptions import NetlinkError

from durantic_agent.wg.kernel import KernelBackend, no_socket
from durantic_agent.wg.port import WireGuardBackend, WireGuardOpError
from durantic_agent.wg.userspace import UserspaceBackend

__all__ = ["BackendKind", "kernel_available", "kernel_available_async", "open_backend"]

BackendKind = Literal["auto", "kernel", "userspace"]


async def kernel_available_async(netns: str | None = None) -> bool:
    """True when the `wireguard` generic-netlink family resolves (the module is loaded or loadable);
    False only when the kernel answers that it has no such family. Any other failure is raised with its
    cause, so a netlink socket that could not be opened is not taken for a missing module."""
    wg = AsyncWireGuard(netns=netns) if netns else AsyncWireGuard()
    try:
        await wg.setup_endpoint()
    except NetlinkError as e:
        if e.code == errno.ENOENT:
            return False
        raise WireGuardOpError(f"kernel WireGuard: the kernel refused the wireguard family: {e}") from None
    except OSError as e:
        raise no_socket(netns, e) from None
    finally:
        wg.close()
    return True


def kernel_available() -> bool:
    """Synchronous probe (pytest skips, the CLI); safe inside a running loop: it probes in a thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, kernel_available_async()).result()


async def open_backend(
    kind: BackendKind,
    prefix: str,
    wireguard_go_path: str | None = None,
    *,
    netns: str | None = None,
    on_restart: Callable[[str], None] | None = None,
) -> WireGuardBackend:
    if kind == "kernel" or (kind == "auto" and await kernel_available_async(netns)):
        if kind == "kernel" and not await kernel_available_async(netns):
            raise WireGuardOpError("kernel WireGuard requested but this kernel has no wireguard module")
        return KernelBackend(prefix, netns=netns)
    if kind not in ("auto", "userspace"):
        raise WireGuardOpError(f"wireguard backend {kind!r} is not one of auto, kernel, userspace")
    return UserspaceBackend(prefix, wireguard_go_path, netns=netns, on_restart=on_restart)
