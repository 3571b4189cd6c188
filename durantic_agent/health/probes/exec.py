"""Exec probes: a command in its own session; its exit code decides, and whatever it started is killed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal

from ...procutil import PROBE_TAG, boot_ticks, kill_tagged
from ..spec import ExecProbe
from .base import ready

__all__ = ["OUTPUT_TAIL", "exec_probe"]

OUTPUT_TAIL = 512
"""Bytes of an exec check's combined stdout/stderr kept for display."""
_probe_ids = itertools.count(1)
_OUTPUT_GRACE = 0.05
"""Seconds the output pipe may stay open after the check exited and its processes were killed."""


async def exec_probe(spec: ExecProbe, timeout: float) -> tuple[bool, str, str]:
    """Runs the check in its own session, tagged in its environment; whatever it started, including
    children that daemonized out of its session (`setsid cmd &`), is killed once it exits. Its exit code
    alone decides: output is read from a pipe the agent owns, so a child holding it open never delays
    the verdict."""
    tag = f"{os.getpid()}.{next(_probe_ids)}"
    env = {**os.environ, **spec.env, PROBE_TAG: tag}
    since = boot_ticks() - 1
    rfd, wfd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=wfd,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            # Own process group, so a timeout can kill the check *and* whatever it started.
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
        os.close(rfd)
        why = "is not executable" if isinstance(e, PermissionError) else "does not exist"
        return False, f"program {spec.command[0]!r} {why}", ""
    except BaseException:
        os.close(rfd)
        # Cancelled while spawning: asyncio killed the check's own process only, not what it started.
        await asyncio.shield(asyncio.to_thread(kill_tagged, tag, since))
        raise
    finally:
        os.close(wfd)
    tail = bytearray()
    reader = asyncio.create_task(_read_tail(rfd, tail, OUTPUT_TAIL))
    try:
        async with asyncio.timeout(timeout):
            code = await proc.wait()
        _kill_group(proc.pid)
        await asyncio.to_thread(kill_tagged, tag, since)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_OUTPUT_GRACE):
                await asyncio.shield(reader)
    except BaseException:
        _kill_group(proc.pid)
        await asyncio.shield(asyncio.to_thread(kill_tagged, tag, since))
        # Reap even when cancelled, so no zombie is left; SIGKILL makes this quick.
        with contextlib.suppress(ProcessLookupError):
            await asyncio.shield(proc.wait())
        raise
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        os.close(rfd)
    output = bytes(tail).decode("utf-8", "replace")
    last = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "")
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        detail = f"killed by {sig}"
    else:
        detail = f"exit {code}"
    if last and code != 0:
        detail += f": {last}"
    return code == 0, detail, output


async def _read_tail(fd: int, tail: bytearray, keep: int) -> None:
    """Keeps the last `keep` bytes read from `fd` in `tail` until end of file (or cancellation)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            await ready(loop, fd, write=False)
            continue
        if not chunk:
            return
        tail += chunk
        del tail[:-keep]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
