from __future__ import annotations

import os

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api


async def test_gobgpd_fixture_starts_unconfigured(gobgpd: GobgpClient) -> None:
    g = await gobgpd.get_global()
    assert g.asn == 0
    await gobgpd.call(
        "StartBgp",
        api.StartBgpRequest(**{"global": api.Global(asn=65001, router_id="192.0.2.1", listen_port=-1)}),
    )
    assert (await gobgpd.get_global()).asn == 65001
    assert oct(os.stat(os.path.dirname(gobgpd.socket_path)).st_mode & 0o777) == "0o700"
