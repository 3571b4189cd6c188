"""Echoes across each member's direct tunnel, for transit: from our probe address to the member's
(durantic_agent/core/probe.py), on the mesh interface.

The answers are not what counts: they arrive on the member's own WireGuard peer, whose received bytes
transit reads, and the request does the same at the member's end. So both ends of a pair see the direct
path alive while it works, even when one of them sends everything else through a relay.
"""

from __future__ import annotations

import logging
import socket
import time

from .icmp import EchoSocket

__all__ = ["DirectProbe"]

log = logging.getLogger("durantic.transit")

_REOPEN = 10.0  # seconds between attempts to open a socket that failed


class DirectProbe:
    def __init__(self) -> None:
        self._sock: EchoSocket | None = None
        self._failed_at: float | None = None
        self._seq = 0
        self.socket_error: str | None = None  # why no echo socket could be opened
        self.errors: dict[str, str] = {}  # interface -> why its last echo could not be sent

    def error(self, ifname: str) -> str | None:
        """Why probing across `ifname` does not work now, None when it does."""
        return self.socket_error or self.errors.get(ifname)

    def send(self, ifname: str, source: str, dest: str) -> None:
        sock = self._socket()
        if sock is None:
            return
        try:
            idx = socket.if_nametoindex(ifname)
        except OSError:
            return  # the interface is being (re)created: the next tick probes
        self._seq = (self._seq + 1) & 0xFFFF
        if sock.send(dest, self._seq, source=source, ifindex=idx):
            self.errors.pop(ifname, None)
        elif sock.last_error is not None:
            if ifname not in self.errors:
                log.warning("%s: cannot probe the direct path from %s: %s", ifname, source, sock.last_error)
            self.errors[ifname] = f"cannot send from {source}: {sock.last_error}"
            sock.last_error = None

    def _socket(self) -> EchoSocket | None:
        now = time.monotonic()
        if self._sock is None and (self._failed_at is None or now - self._failed_at >= _REOPEN):
            try:
                self._sock = EchoSocket(6, lambda _a, _s, _t: None)
                self.socket_error = None
            except OSError as e:
                self._failed_at = now
                if self.socket_error is None:
                    log.warning("transit: cannot open an ICMPv6 echo socket: %s", e.strerror or e)
                self.socket_error = f"cannot open an ICMPv6 echo socket: {e.strerror or e}"
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
