"""Userspace backend: one supervised `wireguard-go -f IFNAME` per interface, driven over its UAPI socket.

Each wireguard-go runs in its own session (a terminal hangup must not kill it) with a parent-death
signal, so it never outlives the agent: a machine whose agent is gone stops forwarding. If one dies,
it is restarted, its device config (key, port, address) re-applied, and `on_restart(ifname)` tells
the agent to re-apply the peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durantic_agent.aioutil import gc_paused
from durantic_agent.procutil import with_pdeathsig
from durantic_agent.wg import _link
from durantic_agent.wg.endpoints import resolve_peers
from durantic_agent.wg.keys import b64_to_hex, hex_to_b64, public_key
from durantic_agent.wg.known import KnownPeers
from durantic_agent.wg.plan import plan_and_result
from durantic_agent.wg.port import DeviceState, PeerSpec, WireGuardOpError
from durantic_agent.wg.uapi import DEFAULT_SOCKET_DIR, UapiClient, render_changes

__all__ = ["UserspaceBackend", "find_wireguard_go"]

log = logging.getLogger("durantic.wireguard")

_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


def find_wireguard_go(path: str | None) -> str:
    found = path or shutil.which("wireguard-go")
    if not found or not os.access(found, os.X_OK):
        raise WireGuardOpError(f"wireguard-go not found ({path or 'PATH'}); install Debian's wireguard-go")
    return found


@dataclass
class _Iface:
    ifname: str
    private_key: str
    listen_port: int
    address: str
    mtu: int
    proc: asyncio.subprocess.Process | None = None  # None: adopted, not our child
    supervisor: asyncio.Task[None] | None = None
    stopping: bool = False


def _public_key_of_hex(private_hex: str) -> str | None:
    return public_key(hex_to_b64(private_hex)) if private_hex and private_hex.strip("0") else None


class UserspaceBackend:
    def __init__(
        self,
        prefix: str = "dur-",
        wireguard_go: str | None = None,
        *,
        netns: str | None = None,
        on_restart: Callable[[str], None] | None = None,
        socket_dir: Path = DEFAULT_SOCKET_DIR,
        ready_timeout: float = 10.0,
        restart_backoff: float = 0.5,
    ) -> None:
        self.prefix = prefix
        self.binary = find_wireguard_go(wireguard_go)
        self.netns = netns
        self.on_restart = on_restart
        self.uapi = UapiClient(socket_dir)
        self.ready_timeout = ready_timeout
        self.restart_backoff = restart_backoff
        self._ifaces: dict[str, _Iface] = {}
        self._ipr: Any = None
        self._lock = asyncio.Lock()
        self.known = KnownPeers()

    async def _iproute(self) -> Any:
        if self._ipr is None:
            self._ipr = await _link.open_ipr(self.netns)
        return self._ipr

    def pid(self, ifname: str) -> int | None:
        """PID of the wireguard-go this backend started for `ifname` (None if adopted or absent)."""
        st = self._ifaces.get(ifname)
        return st.proc.pid if st is not None and st.proc is not None else None

    async def ensure_interface(
        self, ifname: str, private_key_b64: str, listen_port: int, address: str, mtu: int = 1420
    ) -> None:
        _link.check_ifname(ifname, self.prefix)
        self.known.forget(ifname)
        async with self._lock:
            st = self._ifaces.get(ifname)
            if st is None:
                st = _Iface(ifname, private_key_b64, listen_port, address, mtu)
                if await self._link_exists(ifname) and await self.uapi.answers(ifname):
                    log.info("%s: adopting the running wireguard-go", ifname)
                else:
                    relay = await self._spawn(st)
                    st.supervisor = asyncio.create_task(self._supervise(st, relay), name=f"wg-supervise-{ifname}")
                self._ifaces[ifname] = st
            else:
                st.private_key, st.listen_port = private_key_b64, listen_port
                st.address, st.mtu = address, mtu
            await self._configure(st)

    async def _link_exists(self, ifname: str) -> bool:
        return ifname in await _link.link_kinds(await self._iproute())

    async def _spawn(self, st: _Iface) -> asyncio.Task[None]:
        """Start wireguard-go and wait for its UAPI; returns the task relaying its output."""
        argv = [self.binary, "-f", st.ifname]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]  # ip execs in place: same PID, same signal
        argv = with_pdeathsig(argv)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **_ENV},
            start_new_session=True,
        )
        st.proc = proc
        log.info("%s: started wireguard-go pid %d", st.ifname, proc.pid)
        relay = asyncio.create_task(self._relay_output(st.ifname, proc), name=f"wg-log-{st.ifname}")
        try:
            await self._wait_ready(st.ifname, proc)
        except BaseException:
            await self._stop_proc(proc)
            await relay
            raise
        return relay

    async def _wait_ready(self, ifname: str, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.ready_timeout
        delay = 0.005
        while True:
            if proc.returncode is not None:
                raise WireGuardOpError(f"{ifname}: wireguard-go exited with {proc.returncode} before ready")
            if self.uapi.socket_path(ifname).exists() and await self.uapi.answers(ifname):
                return
            if time.monotonic() > deadline:
                raise WireGuardOpError(f"{ifname}: wireguard-go not ready in {self.ready_timeout}s")
            # poll the socket, but wake at once if the process dies
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), delay)
            delay = min(delay * 2, 0.1)

    @staticmethod
    async def _relay_output(ifname: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            # the boxed "kernel has first class support" banner is printed on every start: noise
            if line and line[0] not in "┌│└":
                level = logging.WARNING if line.startswith("ERROR") else logging.INFO
                log.log(level, "%s[%d]: %s", ifname, proc.pid, line)

    async def _supervise(self, st: _Iface, relay: asyncio.Task[None]) -> None:
        backoff = self.restart_backoff
        while True:
            proc = st.proc
            assert proc is not None
            started = time.monotonic()
            rc = await proc.wait()
            await relay
            if st.stopping:
                return
            self.known.forget(st.ifname)
            log.error("%s: wireguard-go pid %d exited with %s; restarting", st.ifname, proc.pid, rc)
            if time.monotonic() - started > 60:
                backoff = self.restart_backoff
            while not st.stopping:
                await asyncio.sleep(backoff)  # back off a crash loop
                backoff = min(backoff * 2, 30.0)
                try:
                    relay = await self._spawn(st)
                except (WireGuardOpError, OSError) as exc:
                    log.error("%s: restart failed: %s", st.ifname, exc)
                    continue
                try:
                    await self._configure(st)
                except (WireGuardOpError, OSError) as exc:
                    log.error("%s: reconfigure after restart failed: %s", st.ifname, exc)
                    await self._stop_proc(st.proc)  # type: ignore[arg-type]
                    await relay
                    continue
                break
            if st.stopping:
                return
            self.known.forget(st.ifname)
            if self.on_restart is not None:
                self.on_restart(st.ifname)

    async def _configure(self, st: _Iface) -> None:
        pairs = await self.uapi.get(st.ifname)
        have = dict(p for p in pairs if p[0] in ("private_key", "listen_port"))
        lines = []
        if have.get("private_key") != b64_to_hex(st.private_key):
            lines.append(f"private_key={b64_to_hex(st.private_key)}")
        if have.get("listen_port") != str(st.listen_port):
            lines.append(f"listen_port={st.listen_port}")
        if lines:
            await self.uapi.set(st.ifname, lines)
        await _link.configure_link(await self._iproute(), st.ifname, st.address, st.mtu)

    @staticmethod
    async def _stop_proc(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def delete_interface(self, ifname: str) -> None:
        _link.check_ifname(ifname, self.prefix)
        self.known.forget(ifname)
        async with self._lock:
            st = self._ifaces.pop(ifname, None)
            if st is not None and st.proc is not None:
                await self._stop(st)
                return
            # adopted or foreign-started: removing the TUN makes wireguard-go shut down
            ipr = await self._iproute()
            idx = await _link.link_index(ipr, ifname)
            if idx is not None:
                await ipr.link("del", index=idx)

    async def _stop(self, st: _Iface) -> None:
        st.stopping = True
        if st.proc is not None:
            await self._stop_proc(st.proc)
        if st.supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await st.supervisor

    async def interfaces(self) -> list[str]:
        links = await _link.link_kinds(await self._iproute())
        names = set(self._ifaces)
        with contextlib.suppress(FileNotFoundError):
            names.update(p.name[: -len(".sock")] for p in self.uapi.socket_dir.glob(f"{self.prefix}*.sock"))
        # UAPI sockets of every namespace share one directory: only links in our namespace count
        return sorted(n for n in names if n.startswith(self.prefix) and n in links)

    async def device(self, ifname: str, allowed_ips: bool = True) -> DeviceState:
        return await self.uapi.get_device(ifname, _public_key_of_hex, allowed_ips=allowed_ips)

    def forget(self, ifname: str) -> None:
        self.known.forget(ifname)

    async def set_peers(self, ifname: str, peers: Mapping[str, PeerSpec]) -> None:
        wanted = await resolve_peers(peers)
        current = self.known.get(ifname)
        read_at = self.known.read_at(ifname)
        if current is None:
            read_at = self.known.clock()
            current = (await self.device(ifname)).peers
        try:
            with gc_paused():
                changes, after = plan_and_result(current, wanted)
        except ValueError as exc:
            raise WireGuardOpError(f"{ifname}: {exc}") from exc
        if changes:
            try:
                await self.uapi.set(ifname, render_changes(changes))
            except BaseException:
                self.known.forget(ifname)  # partly applied, perhaps: read the device next time
                raise
        self.known.put(ifname, after, read_at)

    async def close(self) -> None:
        async with self._lock:
            for st in list(self._ifaces.values()):
                if st.proc is not None:
                    await self._stop(st)
            self._ifaces.clear()
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None
