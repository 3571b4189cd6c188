"""The machine page in a real Chromium: what an operator sees and clicks, against a fake provider."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from durantic_agent.core.types import RibPath
from durantic_agent.views.rib import rib_rows, row_matches
from durantic_agent.web import make_web_app
from tests.browser.conftest import SHOTS, pw

LOCAL_ASN = 4200000001
NOW = int(time.time())
XSS = '<img src=x onerror="window.__xss=1">'


def rp(prefix: str, nip: str | None, asn: int, **kw: Any) -> RibPath:
    base: dict[str, Any] = dict(
        prefix=prefix,
        next_hop=nip or "0.0.0.0",
        as_path=(asn,) if nip else (),
        as_path_len=1 if nip else 0,
        first_as=asn if nip else 0,
        origin="igp",
        med=None,
        local_pref=None,
        neighbor_ip=nip,
        source_asn=asn,
        source_id=nip or "",
        age=NOW - 3600,
    )
    base.update(kw)
    return RibPath(**base)


class FakeProvider:
    """Same Protocol as the agent's; the test mutates it to check the page follows without a reload."""

    def __init__(self) -> None:
        self.vip_best = "web-2"
        self.peer_state = "established"

    def destinations(self) -> list[list[RibPath]]:
        a = rp("10.50.0.10/32", "100.64.0.2", 4200000002, local_pref=200, communities=("65000:100", "no-export"))
        b = rp("10.50.0.10/32", "100.64.0.3", 4200000003, age=NOW - 60)
        vip = [a, b] if self.vip_best == "web-2" else [b, a]
        vip = [RibPath(**{**_fields(p), "best": i == 0}) for i, p in enumerate(vip)]
        own = [rp("10.50.0.20/32", None, LOCAL_ASN, best=True, large_communities=("4200000001:1:1",))]
        bulk = [[rp(f"10.60.{i // 256}.{i % 256}/32", "100.64.0.2", 4200000002, best=True)] for i in range(250)]
        return [vip, own, *bulk]

    async def status(self) -> dict[str, Any]:
        return {"machine": "web-1", "asn": LOCAL_ASN, "router_id": "100.64.0.1", "version": "0.1.0"}

    async def rib(self, prefix_filter: str | None, offset: int, limit: int) -> dict[str, Any]:
        rows = rib_rows(
            self.destinations(),
            names={"100.64.0.2": "web-2", "100.64.0.3": XSS},
            installed={"10.50.0.10/32"},
            reach={"100.64.0.2": "direct", "100.64.0.3": "transit via web-2"},
            health={"10.50.0.20/32": "up"},
            local_asn=LOCAL_ASN,
        )
        if prefix_filter:
            rows = [r for r in rows if row_matches(r, prefix_filter)]
        return {"total": len(rows), "routes": rows[offset : offset + limit]}

    async def peers(self) -> list[dict[str, Any]]:
        common = dict(received=3, accepted=3, advertised=2, rx_bytes=123456, tx_bytes=98765)
        return [
            dict(
                name="web-2",
                address="100.64.0.2",
                asn=4200000002,
                state=self.peer_state,
                established_at="2025-01-01T00:00:00Z",
                uptime_seconds=4000,
                wg_endpoint="198.51.100.2:51820",
                last_handshake_at="2025-01-01T01:06:10Z",
                handshake_age_seconds=30,
                path_type="Direct",
                **common,
            ),
            dict(
                name=XSS,
                address="100.64.0.3",
                asn=4200000003,
                state="active",
                established_at=None,
                uptime_seconds=None,
                wg_endpoint="198.51.100.3:51820",
                last_handshake_at="2025-01-01T00:51:40Z",
                handshake_age_seconds=900,
                path_type="Transit via web-2",
                **common,
            ),
        ]

    async def announcements(self) -> list[dict[str, Any]]:
        return [
            dict(
                name="web",
                kind="vip",
                prefix="10.50.0.20/32",
                check="http",
                state="up",
                announced=True,
                last_detail="HTTP 200",
                last_latency_seconds=0.0042,
                transitions=1,
            ),
            dict(
                name="office-lan",
                kind="route",
                prefix="192.168.1.0/24",
                check=None,
                state="none",
                announced=True,
                last_detail=None,
                last_latency_seconds=None,
                transitions=0,
            ),
        ]

    async def policies(self) -> dict[str, Any]:
        return {
            "sets": [
                {
                    "name": "prefer-primary",
                    "rules": [
                        {"name": "vips", "match": {"prefixes": ["10.50.0.0/16 le 32"]}, "actions": {"local_pref": 200}}
                    ],
                }
            ],
            "import_policies": ["prefer-primary"],
            "export_policies": [],
        }


def _fields(p: RibPath) -> dict[str, Any]:
    return {f: getattr(p, f) for f in p.__dataclass_fields__}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, FakeProvider]]:
    provider = FakeProvider()
    server = TestServer(make_web_app(provider), host="127.0.0.1", port=_free_port())
    await server.start_server()
    try:
        yield str(server.make_url("/")), provider
    finally:
        await server.close()


async def test_routing_peers_paging_and_live_update(site: tuple[str, FakeProvider], page: Any) -> None:
    url, provider = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect = pw.expect
    await page.goto(url)

    # Routing: the VIP is there with its best path (web-2, LP 200) highlighted and the reason.
    vip = page.locator('tr.dest[data-prefix="10.50.0.10/32"]')
    await expect(vip).to_have_class("dest best")
    await expect(vip.locator(".star")).to_have_count(1)
    await expect(vip).to_contain_text("web-2")
    await expect(vip).to_contain_text("LOCAL_PREF 200 > 100")
    await expect(vip).to_contain_text("installed")
    await expect(page.locator("#machine")).to_have_text("web-1 · AS4200000001 · id 100.64.0.1 · v0.1.0")
    await expect(page.locator('tr.dest[data-prefix="10.50.0.20/32"]')).to_contain_text("up")

    # Expanding shows the alternative, its reach and why it lost; the row stays open across refreshes.
    await vip.click()
    detail = page.locator('tr.detail[data-prefix="10.50.0.10/32"]')
    alt = detail.locator("tr.alt")
    await expect(alt).to_have_count(1)
    await expect(alt).to_contain_text(XSS)  # shown as text, never parsed as HTML
    await expect(alt).to_contain_text("Transit via web-2")
    await expect(alt.locator(".verdict")).to_have_text("lost: LOCAL_PREF 200 > 100 local_pref")
    await page.screenshot(path=str(SHOTS / "routing.png"), full_page=False)
    await page.wait_for_timeout(2300)  # one refresh cycle: expansion must survive it
    await expect(detail).to_have_count(1)

    # Paging (server side): 252 routes, 100 per page.
    await expect(page.locator("#rib-count")).to_have_text("252 routes")
    await expect(page.locator("#pageinfo")).to_have_text("page 1 of 3")
    await page.click("#next")
    await expect(page.locator("#pageinfo")).to_have_text("page 2 of 3")
    await expect(page.locator("tr.dest").first).to_have_attribute("data-prefix", "10.60.0.98/32")
    await page.select_option("#pagesize", "250")
    await expect(page.locator("#pageinfo")).to_have_text("page 1 of 2")

    # Filter (server side): by prefix and by peer name.
    await page.fill("#filter", "10.50.0.10")
    await expect(page.locator("#rib-count")).to_have_text("1 route")
    await expect(page.locator("tr.dest")).to_have_count(1)
    await page.fill("#filter", "4200000001:1:1")
    await expect(page.locator("tr.dest")).to_have_attribute("data-prefix", "10.50.0.20/32")
    await page.fill("#filter", "")
    await expect(page.locator("#rib-count")).to_have_text("252 routes")

    # Live update without reload: the best path moves to the other peer.
    await page.evaluate("window.__same_document = true")
    provider.vip_best = "web-3"
    await page.fill("#filter", "10.50.0.10")
    vip = page.locator('tr.dest[data-prefix="10.50.0.10/32"]')
    await expect(vip).to_contain_text("Transit via web-2", timeout=6000)
    assert await page.evaluate("window.__same_document") is True

    # Peers: state and path type per member; the page follows a state change by itself.
    await page.click('#tabs button[data-tab="peers"]')
    web2 = page.locator('#peers-table tr[data-peer="web-2"]')
    await expect(web2.locator(".state")).to_have_text("Established")
    await expect(web2.locator(".path-type")).to_have_text("Direct")
    await expect(web2).to_contain_text("1h06m")  # uptime_seconds and handshake_age_seconds as durations
    await expect(web2).to_contain_text("30s")
    other = page.locator("#peers-table tbody tr").nth(1)
    await expect(other.locator(".state")).to_have_text("Active")
    await expect(other.locator(".path-type")).to_have_text("Transit via web-2")
    await expect(other.locator("td").first).to_have_text(XSS)
    await page.screenshot(path=str(SHOTS / "peers.png"))
    provider.peer_state = "idle"
    await expect(web2.locator(".state")).to_have_text("Idle", timeout=6000)
    assert await page.evaluate("window.__same_document") is True

    # Announcements and policies render.
    await page.click('#tabs button[data-tab="announcements"]')
    await expect(page.locator('#ann-table tr[data-name="web"]')).to_contain_text("announced")
    await expect(page.locator('#ann-table tr[data-name="web"]')).to_contain_text("4.2 ms")
    await page.screenshot(path=str(SHOTS / "announcements.png"))
    await page.click('#tabs button[data-tab="policies"]')
    await expect(page.locator(".pset h3")).to_have_text("prefer-primary")
    await expect(page.locator("#policy-assign")).to_contain_text("Import:prefer-primary")
    await page.screenshot(path=str(SHOTS / "policies.png"))
    assert await page.evaluate("window.__xss === undefined")


async def test_api_contract(site: tuple[str, FakeProvider]) -> None:
    import httpx

    url, _ = site
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.get("api/rib", params={"page": 2, "page_size": 10, "filter": "10.60.0"})
        body = r.json()
        assert (r.status_code, body["total"], body["page"], len(body["routes"])) == (200, 250, 2, 10)
        assert r.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        bad = await c.get("api/rib", params={"page_size": "5000"})
        assert (bad.status_code, bad.json()) == (400, {"error": "page_size: '5000' must be between 1 and 1000"})
        assert (await c.get("api/rib", params={"page": "x"})).json() == {"error": "page: 'x' must be an integer"}
        assert (await c.post("api/rib")).status_code == 405  # read-only
        assert (await c.get("api/peers")).json()[0]["path_type"] == "Direct"
        assert (await c.get("static/app.js")).status_code == 200
        assert "<title>durantic</title>" in (await c.get("")).text
