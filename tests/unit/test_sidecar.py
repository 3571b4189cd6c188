from __future__ import annotations

import os
from pathlib import Path

import pytest

from durantic_agent.errors import SidecarUnavailable
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.sidecar import Sidecar, find_gobgpd


async def test_gobgpd_fixture_starts_unconfigured(gobgpd: GobgpClient) -> None:
    g = await gobgpd.get_global()
    assert g.asn == 0
    await gobgpd.call(
        "StartBgp",
        api.StartBgpRequest(**{"global": api.Global(asn=65001, router_id="192.0.2.1", listen_port=-1)}),
    )
    assert (await gobgpd.get_global()).asn == 65001
    assert oct(os.stat(os.path.dirname(gobgpd.socket_path)).st_mode & 0o777) == "0o700"


async def test_a_gobgpd_slower_than_start_timeout_fails_its_start_and_a_longer_one_lets_it(tmp_path: Path) -> None:
    """The real gobgpd, started 2 s late (as on a loaded or emulated machine): a start_timeout of 1 s gives
    up saying so, 20 s waits for it."""
    late = tmp_path / "late-gobgpd"
    late.write_text(f'#!/bin/sh\nsleep 2\nexec {find_gobgpd(None)} "$@"\n')
    late.chmod(0o755)

    async def _ready(client: GobgpClient, fresh: bool) -> None:
        return None

    short = Sidecar(late, tmp_path / "short", _ready, start_timeout=1)
    with pytest.raises(SidecarUnavailable, match="within 1 s"):
        await short.start()
    assert short.proc is not None
    short.proc.kill()
    await short.proc.wait()

    long = Sidecar(late, tmp_path / "long", _ready, start_timeout=20)
    await long.start()
    try:
        assert long.client is not None and (await long.client.get_global()).asn == 0
    finally:
        await long.stop()
