"""A netlink socket that cannot be opened (out of descriptors, say) is told apart from a device error:
WireGuardNoSocket, which callers may retry since nothing was asked of the device."""

from __future__ import annotations

import errno

import pytest
from pyroute2 import AsyncWireGuard

from durantic_agent.wg.kernel import KernelBackend
from durantic_agent.wg.port import WireGuardNoSocket
from durantic_agent.wg.select import kernel_available_async


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(self: AsyncWireGuard) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(AsyncWireGuard, "setup_endpoint", refuse)


async def test_probe_without_a_socket_is_no_socket_not_no_module(no_sockets: None) -> None:
    with pytest.raises(WireGuardNoSocket, match=r"no netlink socket: .*Too many open files"):
        await kernel_available_async()


async def test_backend_without_a_socket_says_so_with_the_errno(no_sockets: None) -> None:
    with pytest.raises(WireGuardNoSocket) as e:
        await KernelBackend("dur-").device("dur-x")
    assert e.value.errno == errno.EMFILE
