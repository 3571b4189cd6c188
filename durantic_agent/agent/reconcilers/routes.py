"""Kernel routes: the pure diff of wanted against present routes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...core.types import Route

__all__ = ["diff", "satisfies"]


def satisfies(have: Route | None, want: Route) -> bool:
    """A wanted route without a device is met by any device: the kernel fills in the gateway's."""
    return have is not None and (
        have == want or (want.dev is None and have == Route(want.dst, have.dev, want.gateway, want.table))
    )


def diff(
    desired: Mapping[str, Route], current: Mapping[str, Route], only: Iterable[str] | None = None
) -> tuple[list[Route], list[str]]:
    """(routes to replace, destinations to delete) turning current into desired; with `only`, just for
    those destinations (the ones known to have changed since `current` was last made equal to `desired`)."""
    if only is not None:
        replace: list[Route] = []
        delete: list[str] = []
        for dst in only:
            r = desired.get(dst)
            have = current.get(dst)
            if r is None:
                if have is not None:
                    delete.append(dst)
            elif not (have is r or satisfies(have, r)):
                replace.append(r)
        replace.sort(key=lambda r: r.dst)
        delete.sort()
        return replace, delete
    # Identity first: the FIB hands out one shared Route per distinct route, so at 100k routes the
    # unchanged ones cost a pointer compare; only the changes are sorted.
    to_replace = sorted(
        (r for dst, r in desired.items() if not ((have := current.get(dst)) is r or satisfies(have, r))),
        key=lambda r: r.dst,
    )
    to_delete = sorted(dst for dst in current if dst not in desired)
    return to_replace, to_delete
