"""The RIB's destinations in address order, kept up to date cheaply, for paging the web Routing tab.

Paging a 100k-route RIB must not list the whole table: the agent already tracks every best path
(WatchEvent), so the page's prefixes come from this index and only those destinations are read from
gobgpd. The index is re-sorted only when the prefix set changed a lot; small changes are bisected in.
"""

from __future__ import annotations

import bisect
import socket
from collections.abc import Collection, Set

__all__ = ["PrefixIndex", "prefix_key"]

_REBUILD = 2000  # more changes than this since the last look: sort from scratch


def prefix_key(prefix: str) -> tuple[int, bytes, int]:
    """IPv4 before IPv6, then by address, then shorter prefix first (the order `durantic rib` lists)."""
    addr, _, plen = prefix.partition("/")
    if ":" in addr:
        return 6, socket.inet_pton(socket.AF_INET6, addr), int(plen or 128)
    return 4, socket.inet_aton(addr), int(plen or 32)


class PrefixIndex:
    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._order: list[str] = []

    def order(self, prefixes: Collection[str]) -> list[str]:
        """`prefixes` sorted by `prefix_key` (the returned list is shared: do not mutate it)."""
        if isinstance(prefixes, Set) and prefixes == self._keys:
            return self._order
        keys = set(prefixes)
        added, removed = keys - self._keys, self._keys - keys
        if len(added) + len(removed) > _REBUILD:
            self._order = sorted(keys, key=prefix_key)
        else:
            order = list(self._order)
            for p in removed:
                i = bisect.bisect_left(order, prefix_key(p), key=prefix_key)
                if i < len(order) and order[i] == p:
                    del order[i]
            for p in added:
                bisect.insort(order, p, key=prefix_key)
            self._order = order
        self._keys = keys
        return self._order
