"""Supervise the gobgpd sidecar: find it, launch it safely, know when it is ready, restart it with backoff.

Launch rules (docs/gobgp.md): explicit `--api-hosts unix://…` in a 0700 runtime dir, no TCP listener
(`--pprof-disable --metrics-path=`: either alone still opens gobgpd's HTTP listener on localhost:6060),
own session (gobgpd dies on SIGHUP without -f), stale socket unlinked first, and a parent-death signal so
a machine whose agent is gone stops announcing. Ready = socket exists and GetBgp
answers; there is no fixed sleep anywhere.

Watchdog: a gobgpd that is alive but does not answer (stopped, wedged) is as useless as a dead one, and
its process never exits by itself. Once ready, GetBgp is asked every second with a 2 s deadline; three
misses in a row and the gobgpd is SIGKILLed by its PID, after which the normal restart path applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import SidecarError, SidecarRejected, SidecarUnavailable
from ..procutil import with_pdeathsig
from .client import GobgpClient

__all__ = ["GOBGPD_QUIET_FLAGS", "Sidecar", "Watchdog", "find_gobgp_cli", "find_gobgpd", "gobgpd_version"]

log = logging.getLogger("durantic.gobgpd")
# no pprof and no metrics: otherwise gobgpd opens an HTTP listener on localhost:6060
GOBGPD_QUIET_FLAGS = ("--pprof-disable", "--metrics-path=")
_BUNDLED = Path(__file__).resolve().parent.parent / "_bin" / "gobgpd"


def find_gobgpd(configured: Path | None) -> Path:
    """Config `gobgpd.path`, then the copy bundled in the package, then PATH."""
    if configured is not None:
        if os.access(configured, os.X_OK):
            return configured
        raise SidecarError(f"gobgpd.path: {str(configured)!r} is not an executable file")
    if os.access(_BUNDLED, os.X_OK):
        return _BUNDLED
    found = shutil.which("gobgpd")
    if found:
        return Path(found)
    raise SidecarError(
        "gobgpd not found: not bundled in the package, not on PATH, and gobgpd.path is not set "
        "(run `make setup` in a source tree, or set gobgpd.path in agent.yaml)"
    )


def find_gobgp_cli() -> Path | None:
    """The gobgp CLI bundled beside gobgpd (a debugging aid; the agent never runs it), then PATH."""
    bundled = _BUNDLED.parent / "gobgp"
    if os.access(bundled, os.X_OK):
        return bundled
    found = shutil.which("gobgp")
    return Path(found) if found else None


async def gobgpd_version(binary: Path) -> str:
    """`gobgpd --version` (or `gobgp --version`) without its "NAME version " prefix."""
    proc = await asyncio.create_subprocess_exec(
        str(binary), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return out.decode(errors="replace").strip().removeprefix(f"{binary.name} version ")


@dataclass(frozen=True)
class Watchdog:
    interval: float = 1.0  # between GetBgp probes
    timeout: float = 2.0  # a probe not answered within this is a miss
    misses: int = 3  # misses in a row that make gobgpd hung


class Sidecar:
    """One gobgpd child. `run()` keeps it alive; `on_ready(client, fresh)` is awaited after every (re)start.

    fresh=True means gobgpd holds no configuration (asn == 0): the agent must push everything.
    """

    def __init__(
        self,
        binary: Path,
        runtime_dir: Path,
        on_ready: Callable[[GobgpClient, bool], Awaitable[None]],
        log_level: str = "info",
        watchdog: Watchdog = Watchdog(),
        start_timeout: float = 10.0,
    ) -> None:
        self.binary = binary
        self.runtime_dir = runtime_dir
        self.socket_path = runtime_dir / "gobgpd.sock"
        self.on_ready = on_ready
        self.log_level = log_level
        self.start_timeout = start_timeout  # socket and first GetBgp answer, per start
        self.proc: asyncio.subprocess.Process | None = None
        self.client: GobgpClient | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.adopted_pid: int | None = None
        self._stopping = False
        self._log_task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.watchdog = watchdog
        self.misses = 0  # GetBgp probes in a row that gobgpd did not answer
        self.unresponsive_since: float | None = None  # unix time of the first of them
        self.hung_kills = 0

    @property
    def responsive(self) -> bool:
        return self.misses == 0

    @property
    def pid(self) -> int | None:
        if self.proc is not None and self.proc.returncode is None:
            return self.proc.pid
        return self.adopted_pid

    def _prepare_dir(self) -> None:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime_dir, 0o700)

    async def _try_adopt(self) -> GobgpClient | None:
        """A gobgpd already serving our socket and configured (asn != 0) is adopted, not restarted."""
        if not self.socket_path.exists():
            return None
        client = GobgpClient(str(self.socket_path))
        try:
            g = await client.get_global(timeout=1.0)
        except SidecarError:
            await client.close()
            return None
        if g.asn == 0:
            await client.close()
            return None
        self.adopted_pid = _socket_peer_pid(self.socket_path)
        log.info("adopting running gobgpd (pid %s, asn %s)", self.adopted_pid, g.asn)
        return client

    async def _spawn(self) -> GobgpClient:
        self._prepare_dir()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a stale socket makes gobgpd exit 1 at once
        args = [
            str(self.binary),
            f"--api-hosts=unix://{self.socket_path}",
            *GOBGPD_QUIET_FLAGS,
            "--log-plain",
            f"--log-level={self.log_level}",
        ]
        self.proc = await asyncio.create_subprocess_exec(
            *with_pdeathsig(args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._log_task = asyncio.create_task(self._pump_log(self.proc), name="gobgpd-log")
        deadline = time.monotonic() + self.start_timeout
        while not self.socket_path.exists():
            if self.proc.returncode is not None:
                raise SidecarUnavailable(f"gobgpd exited with code {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise SidecarUnavailable(f"gobgpd did not create its API socket within {self.start_timeout:g} s")
            await asyncio.sleep(0.005)
        client = GobgpClient(str(self.socket_path))
        while True:
            try:
                await client.get_global(timeout=1.0)
                break
            except SidecarError:
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    await client.close()
                    raise SidecarUnavailable(f"gobgpd did not answer GetBgp within {self.start_timeout:g} s") from None
                await asyncio.sleep(0.01)
        log.info("gobgpd started (pid %d)", self.proc.pid)
        return client

    async def _pump_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                level = logging.WARNING if ("level=error" in line or "level=fatal" in line) else logging.INFO
                log.log(level, "[gobgpd %d] %s", proc.pid, line)

    async def start(self) -> None:
        """First start: adopt or spawn, then hand the client to on_ready."""
        client = await self._try_adopt()
        fresh = client is None
        if client is None:
            client = await self._spawn()
        self.client = client
        self.started_at = time.time()
        await self.on_ready(client, fresh)
        self.ready.set()

    async def wait_exit(self) -> None:
        """Returns when the supervised gobgpd is gone: it exited, or the watchdog killed it as hung."""
        dog = asyncio.create_task(self._watch(), name="gobgpd-watchdog")
        try:
            await self._wait_gone()
        finally:
            dog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dog
            self.misses = 0
            self.unresponsive_since = None

    async def _watch(self) -> None:
        """Probe GetBgp; kill a gobgpd that misses `watchdog.misses` probes in a row (it never exits itself)."""
        w = self.watchdog
        while True:
            await asyncio.sleep(w.interval)
            client = self.client
            if client is None:
                continue
            try:
                await client.get_global(timeout=w.timeout)
            except SidecarRejected:
                pass  # it answered, even if with an error
            except SidecarUnavailable:
                if self.misses == 0:
                    self.unresponsive_since = time.time()
                self.misses += 1
                log.warning("gobgpd did not answer GetBgp within %.1fs (%d/%d)", w.timeout, self.misses, w.misses)
                if self.misses >= w.misses:
                    self._kill_hung()
                    return
                continue
            if self.misses:
                log.info("gobgpd answers again after %d missed probes", self.misses)
            self.misses = 0
            self.unresponsive_since = None

    def _kill_hung(self) -> None:
        pid = self.pid
        if pid is None:
            return
        log.error("gobgpd (pid %d) is hung: killing it to restart", pid)
        self.hung_kills += 1
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def _wait_gone(self) -> None:
        if self.proc is not None and self.adopted_pid is None:
            await self.proc.wait()
            if self._log_task:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._log_task, 1.0)
            return
        assert self.client is not None
        while True:  # adopted: not our child, so poll its liveness cheaply (the watchdog kills it if hung)
            pid = self.adopted_pid
            if pid is not None and not _pid_alive(pid):
                return
            if pid is None:  # its PID is unknown: only "does it answer" can tell
                try:
                    await self.client.get_global(timeout=2.0)
                except SidecarUnavailable:
                    return
                except SidecarError:
                    pass
            await asyncio.sleep(0.2 if pid is not None else 1.0)

    async def run(self) -> None:
        """Keep gobgpd alive until stop(). Restarts use exponential backoff (0.1 s .. 10 s)."""
        backoff = 0.1
        while not self._stopping:
            await self.wait_exit()
            if self._stopping:
                return
            self.ready.clear()
            code = self.proc.returncode if self.proc is not None else None
            log.error("gobgpd exited (code %s); restarting", code)
            self.adopted_pid = None
            if self.client is not None:
                await self.client.close()
                self.client = None
            while not self._stopping:
                try:
                    ok_since = time.monotonic()
                    client = await self._spawn()
                    self.client = client
                    self.restarts += 1
                    self.started_at = time.time()
                    await self.on_ready(client, True)
                    self.ready.set()
                    if time.monotonic() - ok_since > 30:
                        backoff = 0.1
                    break
                except SidecarError as e:
                    log.error("gobgpd restart failed: %s; retrying in %.1fs", e, backoff)
                    if self.proc is not None and self.proc.returncode is None:
                        self.proc.kill()
                        await self.proc.wait()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (gobgpd sends Cease to peers and removes its socket), SIGKILL after timeout."""
        self._stopping = True
        if self.client is not None:
            await self.client.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        elif self.adopted_pid is not None and _pid_alive(self.adopted_pid):
            os.kill(self.adopted_pid, signal.SIGTERM)
        if self._log_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._log_task, 1.0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _socket_peer_pid(path: Path) -> int | None:
    import socket
    import struct

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(path))
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, _, _ = struct.unpack("3i", creds)
            return int(pid)
    except OSError:
        return None
