"""The machine page of a real agent in the lab, in a real Chromium.

Topology (tests.lab.demo.build): agents a, b, c in a WireGuard mesh; a and b announce the VIP 10.50.0.10
with exec checks; c prefers a's path by policy. c's web listener (127.0.0.1:9179 inside its namespace)
is forwarded to the host. The Routing tab shows the VIP with its best path highlighted, expanding the row
shows b's path and why it lost, the page follows a failover by itself, and the Peers tab lists a and b
as established. Screenshots go to artifacts/screenshots/lab-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import SHOTS, pw
from tests.lab.demo import VIP_PREFIX, DemoLab, best_source, module_demo
from tests.lab.harness import wait_for

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest) -> Iterator[DemoLab]:
    with module_demo(request, "dw", forward=("c", "a")) as d:
        yield d


async def test_routing_and_peers_of_a_lab_agent(demo: DemoLab, page: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect = pw.expect
    await page.goto(demo.forwards["c"].url + "ui/")

    # Routing: the VIP's best path (a, LOCAL_PREF 200 from c's policy) is highlighted and installed.
    vip = page.locator(f'tr.dest[data-prefix="{VIP_PREFIX}"]')
    await expect(vip).to_have_class("dest best")
    await expect(vip.locator(".star")).to_have_count(1)
    await expect(vip.locator("td").nth(2)).to_have_text("a")
    await expect(vip.locator("td").nth(3)).to_have_text("Direct")
    await expect(vip).to_contain_text("installed")
    await expect(vip.locator("td.reason")).to_have_text("LOCAL_PREF 200 > 100")
    await expect(vip.locator("td").nth(12)).to_have_text("2")  # two paths

    # Expanding shows the alternative (b) and why it lost.
    await vip.click()
    detail = page.locator(f'tr.detail[data-prefix="{VIP_PREFIX}"]')
    await expect(detail.locator("tr.is-best td").nth(1)).to_contain_text("a")
    alt = detail.locator("tr.alt")
    await expect(alt).to_have_count(1)
    await expect(alt.locator("td").nth(1)).to_contain_text("b 100.64.0.2")
    await expect(alt.locator(".verdict")).to_contain_text("lost: LOCAL_PREF 200 > 100")
    await page.screenshot(path=str(SHOTS / "lab-routing.png"))

    # a's check fails: without a reload the page shows b's path as best, and the row stays open.
    await page.evaluate("window.__same_document = true")
    demo.flags["a"].unlink()
    try:
        await expect(vip.locator("td").nth(2)).to_have_text("b", timeout=15000)
        await expect(vip.locator("td.reason")).to_have_text("AS path length 1 < 2")
        await expect(alt.locator("td").nth(1)).to_contain_text("a 100.64.0.1")
        await expect(alt.locator("td").nth(4)).to_have_text("4200000001 4200000002")  # a relays b's path
        await page.screenshot(path=str(SHOTS / "lab-failover.png"))
        assert await page.evaluate("window.__same_document") is True
    finally:
        demo.flags["a"].touch()
    wait_for(lambda: best_source(demo.agents["c"]) == "a", 20, "c: VIP back via a")
    await expect(vip.locator("td").nth(2)).to_have_text("a", timeout=6000)

    # Peers: the members with their BGP state and path type.
    await page.click('#tabs button[data-tab="peers"]')
    rows = page.locator("#peers-table tbody tr")
    await expect(rows).to_have_count(2)
    for name, addr in (("a", "100.64.0.1"), ("b", "100.64.0.2")):
        row = page.locator(f'#peers-table tr[data-peer="{name}"]')
        await expect(row.locator("td").nth(1)).to_have_text(addr)
        await expect(row.locator(".state")).to_have_text("Established")
        await expect(row.locator(".path-type")).to_have_text("Direct")
    await page.screenshot(path=str(SHOTS / "lab-peers.png"))

    # The header names the machine (checked last so the checks above still report on their own).
    await expect(page.locator("#machine")).to_contain_text("c · AS4200000003 · id 100.64.0.3")


async def test_announcements_of_a_lab_agent(demo: DemoLab, page: Any) -> None:
    """What a's agent really sends: its VIP with the exec check, green while up, red once the check fails."""
    expect = pw.expect
    await page.goto(demo.forwards["a"].url + "ui/")
    await page.click('#tabs button[data-tab="announcements"]')
    row = page.locator("#ann-table tbody tr").first
    await expect(row.locator("td.check")).to_have_text("exec")
    await expect(row.locator("td.health .badge")).to_have_text("up")
    await expect(row.locator("td.health .badge")).to_have_class("badge b-ok")
    await expect(row).to_contain_text("announced")
    await page.click('#tabs button[data-tab="routing"]')
    own = page.locator(f'tr.dest[data-prefix="{VIP_PREFIX}"] .badge[title="health check"]')
    await expect(own).to_have_text("up")
    await expect(own).to_have_class("badge b-ok")

    demo.flags["a"].unlink()
    try:
        await page.click('#tabs button[data-tab="announcements"]')
        await expect(row.locator("td.health .badge")).to_have_text("down", timeout=15000)
        await expect(row.locator("td.health .badge")).to_have_class("badge b-bad")
        await expect(row).to_contain_text("withdrawn")
        await page.screenshot(path=str(SHOTS / "lab-announcements-down.png"))
    finally:
        demo.flags["a"].touch()
    wait_for(lambda: best_source(demo.agents["c"]) == "a", 20, "c: VIP back via a")


def test_demo_cli_wrappers_reach_each_machine(demo: DemoLab) -> None:
    """`make demo` prints one durantic-X wrapper per machine; each one's `status` names that machine, and
    c's mesh (with its two other members) is in it."""
    import json
    import subprocess

    from tests.lab.demo import cli_wrappers

    for name, wrapper in cli_wrappers(demo).items():
        r = subprocess.run([str(wrapper), "status", "--json"], capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["machine"]["name"] == name
        assert [(m["name"], m["members"], m["up"]) for m in st["meshes"]] == [("demo", 2, True)]
