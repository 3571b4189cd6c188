"""Forwarding state kept across this machine's own BGP restart (RFC 4724 4.1, the restarting speaker's
"retain forwarding state", for the kernel routes and AllowedIPs).

After an unclean exit (agent kill -9 or crash, a gobgpd respawn) gobgpd starts empty: until its sessions
are back it holds no received routes, while the kernel routes and AllowedIPs the previous run wrote are
still right and still carry traffic. While the hold lasts the FIB reconcilers add what is absent but
neither remove nor replace what is present: the best path of a restarting gobgpd with only some sessions
back (a relay's, say) is not yet the one to forward on. It ends when every wanted session (those of
members not known dead) is Established and gobgpd has finished its restart on each (End-of-RIB from all
of them, or its selection deferral expired: it no longer marks them `local_restarting`), and at the
latest after `restart_time`, what this machine asked its peers to keep its own routes for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping

from ..errors import AgentError
from ..gobgp.speaker import PeerInfo

__all__ = ["RestartHold", "restart_over"]

log = logging.getLogger("durantic.agent")


def restart_over(peers: Mapping[str, PeerInfo], wanted: Collection[str]) -> bool:
    """gobgpd's restart is over on every wanted session: Established and no longer locally restarting."""
    return all(
        (p := peers.get(addr)) is not None and p.state == "established" and not p.local_restarting for addr in wanted
    )


class RestartHold:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadline: float | None = None
        self._begun = asyncio.Event()

    def begin(self, seconds: float) -> None:
        self._deadline = self._clock() + seconds
        self._begun.set()
        log.info("keeping kernel routes and AllowedIPs until BGP has restarted (at most %.0f s)", seconds)

    def active(self) -> bool:
        return self._deadline is not None and self._clock() < self._deadline

    async def run(
        self,
        peers: Callable[[], Awaitable[Mapping[str, PeerInfo]]],
        wanted: Callable[[], Collection[str]],
        on_end: Callable[[], None],
        interval: float = 0.5,
    ) -> None:
        """Ends each hold once `restart_over` (asked every `interval`) twice in a row, or at its deadline;
        `on_end` then wakes the reconcilers, which remove what the hold kept and is no longer wanted."""
        while True:
            await self._begun.wait()
            self._begun.clear()
            over = 0
            while self._deadline is not None and self._clock() < self._deadline:
                try:
                    over = over + 1 if restart_over(await peers(), wanted()) else 0
                except (AgentError, OSError) as e:  # gobgpd not (yet) answering: ask again
                    log.debug("restart hold: cannot read the sessions: %s", e)
                    over = 0
                # twice in a row: the best-path watch has had an interval to bring the last routes received
                if over >= 2:
                    log.info("BGP restart over on every session: kernel routes and AllowedIPs follow it again")
                    break
                await asyncio.sleep(interval)
            else:
                if self._deadline is not None:
                    log.info("restart hold: restart_time passed; kernel routes and AllowedIPs follow BGP again")
            self._deadline = None
            on_end()
