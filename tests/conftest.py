from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.sidecar import Sidecar, find_gobgpd


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Lab tests need root (namespaces, routes). Outside CI they skip without it; under CI=true they run
    # and fail loudly instead, because a lab test must never silently skip in CI.
    if os.geteuid() == 0 or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason="lab test needs root")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def gobgpd(tmp_path: Path) -> AsyncIterator[GobgpClient]:
    """A real, unconfigured gobgpd on a unix socket in tmp_path (caller does StartBgp)."""

    async def _ready(client: GobgpClient, fresh: bool) -> None:
        return None

    sc = Sidecar(find_gobgpd(None), tmp_path / "run", _ready)
    await sc.start()
    assert sc.client is not None
    try:
        yield sc.client
    finally:
        await sc.stop()
