"""Run a small synchronous function inside a named network namespace, on a throwaway thread.

setns(CLONE_NEWNET) changes only the calling thread, so the agent's own threads stay where they are;
sockets and /proc/sys/net files opened there keep that namespace after the thread ends.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["in_netns"]

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    if netns is None:
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            # the thread ends in the target namespace; nothing else ever runs on it
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    t = threading.Thread(target=run, name=f"netns-{netns}")
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]
