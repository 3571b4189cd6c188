"""gobgpd as the reconcilers' BgpSpeaker port (agent/ports.py), over whichever client the sidecar holds."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from ..core.policies import PolicyChange, PolicyProgram
from ..core.types import PathSpec, PeerSpec
from . import speaker
from .client import GobgpClient
from .policy import reconcile_policies
from .policy_build import gobgp_policy_names

__all__ = ["GobgpSpeaker"]


class GobgpSpeaker:
    def __init__(self, client: Callable[[], GobgpClient]) -> None:
        self._client = client  # raises SidecarError while gobgpd is not ready
        self._policy_names: dict[str, str] = {}  # program name -> gobgpd name, as last applied

    async def local_paths(self, prefixes: Collection[str] | None = None) -> set[str]:
        if prefixes is None:
            return await speaker.list_local_paths(self._client())
        return await speaker.local_paths_among(self._client(), prefixes)

    async def add_paths(self, specs: Iterable[PathSpec]) -> None:
        await speaker.add_paths(self._client(), specs)

    async def delete_paths(self, specs: Iterable[PathSpec]) -> None:
        await speaker.delete_paths(self._client(), specs)

    async def owned_peers(self) -> dict[str, str]:
        return await speaker.list_owned_peers(self._client())

    async def add_peer(self, spec: PeerSpec, local_restarting: bool) -> None:
        names = tuple(self._policy_names.get(n, n) for n in spec.import_policies)
        await speaker.add_peer(self._client(), spec, local_restarting=local_restarting, import_names=names)

    async def delete_peer(self, address: str) -> None:
        await speaker.delete_peer(self._client(), address)

    async def apply_policies(self, want: PolicyProgram) -> PolicyChange:
        change = await reconcile_policies(self._client(), want)
        self._policy_names = gobgp_policy_names(want)
        return change
