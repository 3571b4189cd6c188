"""One contract for every WireGuard backend, against real namespaces, veths and pings."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durantic_agent.core.probe import probe_address, probe_host
from durantic_agent.wg import open_backend
from durantic_agent.wg.keys import generate_private_key, public_key
from durantic_agent.wg.plan import plan_peers
from durantic_agent.wg.port import DeviceState, PeerSpec, WireGuardBackend
from durantic_agent.wg.userspace import UserspaceBackend

from .backends import WG_BACKENDS, require_backend
from .netns import Netns, run_prefix, veth_pair
from .pace import scaled

pytestmark = pytest.mark.lab

VIP = "10.99.0.5"

# one echo from a probe address to another through the agent's own echo socket (ping cannot bind a
# link-local source); exit 0 when it was answered within a second
ECHO_FROM = """
import asyncio, socket, sys
from durantic_agent.liveness.icmp import EchoSocket
async def main():
    ifname, src, dst = sys.argv[1:4]
    got = asyncio.Event()
    sock = EchoSocket(6, lambda addr, seq, t: got.set() if addr == dst else None)
    sock.send(dst, 1, source=src, ifindex=socket.if_nametoindex(ifname))
    await asyncio.wait_for(got.wait(), 1)
asyncio.run(main())
"""


@dataclasses.dataclass
class Side:
    ns: Netns
    backend: WireGuardBackend
    ifname: str
    key: str
    mesh: str  # tunnel address, no prefix length
    underlay: str
    port: int

    @property
    def pub(self) -> str:
        return public_key(self.key)

    def spec(self, *extra: str, keepalive: int = 0) -> PeerSpec:
        return PeerSpec(
            public_key=self.pub,
            endpoint=f"{self.underlay}:{self.port}",
            allowed_ips=frozenset({f"{self.mesh}/32", *extra}),
            persistent_keepalive=keepalive,
        )


@dataclasses.dataclass
class Lab:
    kind: str
    a: Side
    b: Side
    restarts: list[str]
    restarted: asyncio.Event


def _view(dev: DeviceState) -> dict[str, tuple[str | None, frozenset[str], int]]:
    """What configuration says about peers, without the live counters."""
    return {k: (p.endpoint, p.allowed_ips, p.persistent_keepalive) for k, p in dev.peers.items()}


async def _ping(ns: Netns, addr: str) -> bool:
    rc, _ = await ns.arun(["ping", "-c1", "-W1", addr])
    return rc == 0


async def _ping_soon(ns: Netns, addr: str, attempts: int = 5) -> bool:
    # the first packet may wait for a handshake; a few one-second tries bound it
    for _ in range(round(scaled(attempts))):
        if await _ping(ns, addr):
            return True
    return False


@pytest.fixture(params=WG_BACKENDS)
async def lab(request: pytest.FixtureRequest) -> AsyncIterator[Lab]:
    kind = str(request.param)
    require_backend(kind)
    p = run_prefix() + kind[0]
    restarts: list[str] = []
    restarted = asyncio.Event()

    def on_restart(ifname: str) -> None:
        restarts.append(ifname)
        restarted.set()

    created: list[Netns] = []
    backends: list[WireGuardBackend] = []
    try:
        na, nb = Netns(f"{p}na"), Netns(f"{p}nb")
        for ns in (na, nb):
            ns.create()
            created.append(ns)
        veth_pair(na, f"{p}va", "192.168.77.1/24", nb, f"{p}vb", "192.168.77.2/24")
        nb.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
        sides = []
        for ns, n, mesh, underlay, port in (
            (na, "a", "100.64.7.1", "192.168.77.1", 51820),
            (nb, "b", "100.64.7.2", "192.168.77.2", 51821),
        ):
            be = await open_backend(kind, f"{p}w", None, netns=ns.name, on_restart=on_restart)  # type: ignore[arg-type]
            backends.append(be)
            side = Side(ns, be, f"{p}w{n}", generate_private_key(), mesh, underlay, port)
            await be.ensure_interface(side.ifname, side.key, port, f"{mesh}/24")
            sides.append(side)
        a, b = sides
        await a.backend.set_peers(a.ifname, {b.pub: b.spec()})
        await b.backend.set_peers(b.ifname, {a.pub: a.spec()})
        a.ns.run(["ip", "route", "add", "10.99.0.0/24", "dev", a.ifname])
        yield Lab(kind, a, b, restarts, restarted)
    finally:
        for be in backends:
            await be.close()
        for ns in created:
            ns.delete()


async def test_tunnel_carries_traffic_and_reports_handshake(lab: Lab) -> None:
    a, b = lab.a, lab.b
    before = time.time()
    assert await _ping_soon(a.ns, b.mesh)
    dev = await a.backend.device(a.ifname)
    assert dev.ifname == a.ifname and dev.public_key == a.pub and dev.listen_port == a.port
    peer = dev.peers[b.pub]
    assert peer.endpoint == f"{b.underlay}:{b.port}"
    assert peer.allowed_ips == frozenset({f"{b.mesh}/32"})
    assert peer.last_handshake is not None and peer.last_handshake >= before - 1
    assert peer.rx_bytes > 0 and peer.tx_bytes > 0
    assert await a.backend.interfaces() == [a.ifname]
    # address and link state are what ensure_interface promised
    out = a.ns.run(["ip", "-o", "addr", "show", "dev", a.ifname]).stdout
    assert f"{a.mesh}/24" in out
    assert "mtu 1420" in a.ns.run(["ip", "link", "show", a.ifname]).stdout


async def test_ensure_and_set_peers_twice_change_nothing(lab: Lab) -> None:
    a, b = lab.a, lab.b
    wanted = {b.pub: b.spec(keepalive=25)}
    await a.backend.set_peers(a.ifname, wanted)
    first = await a.backend.device(a.ifname)
    assert first.peers[b.pub].persistent_keepalive == 25
    await a.backend.ensure_interface(a.ifname, a.key, a.port, f"{a.mesh}/24")
    await a.backend.set_peers(a.ifname, wanted)
    second = await a.backend.device(a.ifname)
    assert _view(second) == _view(first)
    assert (second.public_key, second.listen_port) == (first.public_key, first.listen_port)
    # the read-back state matches the wanted one exactly, so a reconciler's next plan is empty
    assert plan_peers(second.peers, wanted) == []
    assert await _ping_soon(a.ns, b.mesh)


async def test_allowed_ip_moves_between_peers(lab: Lab) -> None:
    a, b = lab.a, lab.b
    c_pub = public_key(generate_private_key())  # a peer with no endpoint: traffic to it goes nowhere
    vip = f"{VIP}/32"
    await a.backend.set_peers(a.ifname, {b.pub: b.spec(vip), c_pub: PeerSpec(c_pub)})
    assert await _ping_soon(a.ns, VIP)

    moved = {b.pub: b.spec(), c_pub: PeerSpec(c_pub, allowed_ips=frozenset({vip}))}
    before = await a.backend.device(a.ifname)
    plan = plan_peers(before.peers, moved)
    assert [(ch.public_key, ch.replace_allowed_ips, ch.allowed_ips) for ch in plan] == [(c_pub, False, (vip,))]
    await a.backend.set_peers(a.ifname, moved)
    dev = await a.backend.device(a.ifname)
    assert dev.peers[c_pub].allowed_ips == frozenset({vip})
    assert dev.peers[b.pub].allowed_ips == frozenset({f"{b.mesh}/32"})
    assert not await _ping(a.ns, VIP)
    assert await _ping(a.ns, b.mesh)

    await a.backend.set_peers(a.ifname, {b.pub: b.spec(vip), c_pub: PeerSpec(c_pub)})
    assert await _ping_soon(a.ns, VIP)


async def test_shrink_and_remove_peer(lab: Lab) -> None:
    a, b = lab.a, lab.b
    c_pub = public_key(generate_private_key())
    c = PeerSpec(c_pub, allowed_ips=frozenset({"10.98.0.0/24"}))
    await a.backend.set_peers(a.ifname, {b.pub: b.spec("10.99.0.0/24", "fd00:99::/64"), c_pub: c})
    dev = await a.backend.device(a.ifname)
    assert dev.peers[b.pub].allowed_ips == {f"{b.mesh}/32", "10.99.0.0/24", "fd00:99::/64"}

    await a.backend.set_peers(a.ifname, {b.pub: b.spec(), c_pub: c})
    dev = await a.backend.device(a.ifname)
    assert dev.peers[b.pub].allowed_ips == {f"{b.mesh}/32"}
    assert dev.peers[c_pub].allowed_ips == {"10.98.0.0/24"}
    assert not await _ping(a.ns, VIP)
    assert await _ping_soon(a.ns, b.mesh)

    await a.backend.set_peers(a.ifname, {b.pub: b.spec()})
    dev = await a.backend.device(a.ifname)
    assert set(dev.peers) == {b.pub}
    await a.backend.set_peers(a.ifname, {})
    assert (await a.backend.device(a.ifname)).peers == {}
    assert not await _ping(a.ns, b.mesh)


async def test_probe_echo_crosses_the_direct_peer_while_the_mesh_address_is_elsewhere(lab: Lab) -> None:
    """a's peer for b holds only b's probe address (b's mesh /32 is carried elsewhere, as in transit): an
    echo between the two probe addresses still crosses the tunnel, and both ends count it as received."""
    a, b = lab.a, lab.b
    pa, pb = probe_address(a.mesh), probe_address(b.mesh)
    assert f"{pa}/64" in a.ns.run(["ip", "-6", "addr", "show", "dev", a.ifname]).stdout
    b_probe_only = PeerSpec(b.pub, b.spec().endpoint, frozenset({probe_host(b.mesh)}))
    await a.backend.set_peers(a.ifname, {b.pub: b_probe_only})
    await b.backend.set_peers(b.ifname, {a.pub: a.spec(probe_host(a.mesh))})
    rx_a = (await a.backend.device(a.ifname)).peers[b.pub].rx_bytes
    rx_b = (await b.backend.device(b.ifname)).peers[a.pub].rx_bytes
    ok = False
    for _ in range(round(scaled(5))):  # the first echo may wait for a handshake
        rc, _ = await a.ns.arun([sys.executable, "-c", ECHO_FROM, a.ifname, pa, pb])
        if rc == 0:
            ok = True
            break
    assert ok, "a's echo to b's probe address answered"
    assert (await a.backend.device(a.ifname)).peers[b.pub].rx_bytes > rx_a
    assert (await b.backend.device(b.ifname)).peers[a.pub].rx_bytes > rx_b
    assert not await _ping(a.ns, b.mesh), "b's mesh address is not on b's peer"


async def test_interface_is_set_up_without_ipv6_only_its_probe_address_missing(lab: Lab) -> None:
    a, b = lab.a, lab.b

    def addrs() -> str:
        return a.ns.run(["ip", "addr", "show", "dev", a.ifname]).stdout

    a.ns.run(["sysctl", "-qw", f"net.ipv6.conf.{a.ifname}.disable_ipv6=1"])  # drops every IPv6 address
    a.ns.run(["ip", "addr", "flush", "dev", a.ifname])
    await a.backend.ensure_interface(a.ifname, a.key, a.port, f"{a.mesh}/24")
    assert f"{a.mesh}/24" in addrs() and "inet6" not in addrs()
    assert await _ping_soon(a.ns, b.mesh)
    a.ns.run(["sysctl", "-qw", f"net.ipv6.conf.{a.ifname}.disable_ipv6=0"])
    await a.backend.ensure_interface(a.ifname, a.key, a.port, f"{a.mesh}/24")
    assert f"{probe_address(a.mesh)}/64" in addrs()


async def test_delete_interface_removes_link_and_process(lab: Lab) -> None:
    a = lab.a
    pid = a.backend.pid(a.ifname) if isinstance(a.backend, UserspaceBackend) else None
    await a.backend.delete_interface(a.ifname)
    assert await a.backend.interfaces() == []
    assert a.ns.run(["ip", "link", "show", a.ifname], check=False).returncode != 0
    await a.backend.delete_interface(a.ifname)  # already gone: not an error
    if lab.kind == "userspace":
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert not await asyncio.to_thread(Path(f"/var/run/wireguard/{a.ifname}.sock").exists)


@pytest.mark.parametrize("lab", ["userspace"], indirect=True)
async def test_userspace_restarts_a_dead_wireguard_go(lab: Lab) -> None:
    a, b = lab.a, lab.b
    assert isinstance(a.backend, UserspaceBackend)
    old = a.backend.pid(a.ifname)
    assert old is not None
    os.kill(old, signal.SIGKILL)  # a process this test run started, by PID
    await asyncio.wait_for(lab.restarted.wait(), scaled(15))
    assert lab.restarts == [a.ifname]
    assert a.backend.pid(a.ifname) not in (None, old)
    dev = await a.backend.device(a.ifname)
    assert (dev.public_key, dev.listen_port, dev.peers) == (a.pub, a.port, {})
    await a.backend.set_peers(a.ifname, {b.pub: b.spec()})  # what the agent does on the callback
    assert await _ping_soon(a.ns, b.mesh)


@pytest.mark.parametrize("lab", ["userspace"], indirect=True)
async def test_userspace_adopts_a_running_interface(lab: Lab) -> None:
    a, b = lab.a, lab.b
    other = UserspaceBackend(a.backend.prefix, netns=a.ns.name)  # type: ignore[attr-defined]
    try:
        assert await other.interfaces() == [a.ifname]
        await other.ensure_interface(a.ifname, a.key, a.port, f"{a.mesh}/24")
        assert other.pid(a.ifname) is None  # adopted, not started
        assert set((await other.device(a.ifname)).peers) == {b.pub}
    finally:
        await other.close()
    assert await _ping_soon(a.ns, b.mesh)  # closing an adopter leaves the interface alone


_ORPHAN = """
import asyncio, sys
from durantic_agent.wg.userspace import UserspaceBackend
async def main():
    be = UserspaceBackend(sys.argv[1], netns=sys.argv[2])
    await be.ensure_interface(sys.argv[1] + "x", sys.argv[3], 51830, "100.64.9.1/24")
    print(be.pid(sys.argv[1] + "x"), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


@pytest.mark.parametrize("lab", ["userspace"], indirect=True)
async def test_wireguard_go_dies_with_the_agent(lab: Lab) -> None:
    prefix = run_prefix() + "o"
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _ORPHAN,
        prefix,
        lab.a.ns.name,
        generate_private_key(),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert agent.stdout is not None
        child = int(await asyncio.wait_for(agent.stdout.readline(), scaled(15)))
        os.kill(child, 0)
    finally:
        agent.kill()  # SIGKILL: no cleanup code of the agent runs
        await agent.wait()
    for _ in range(round(scaled(200))):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.025)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("wireguard-go outlived its agent")
    # SIGKILL left wireguard-go no chance to remove its socket; it is this test's file
    await asyncio.to_thread(Path(f"/var/run/wireguard/{prefix}x.sock").unlink, missing_ok=True)
