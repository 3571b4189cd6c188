from __future__ import annotations

import pytest

from durantic_agent.agent.reconcilers.routes import diff
from durantic_agent.core.types import Route


def test_diff_replaces_changed_and_new_and_deletes_unwanted() -> None:
    cur = {
        "10.0.0.0/24": Route("10.0.0.0/24", dev="wg0"),
        "10.1.0.0/24": Route("10.1.0.0/24", dev="wg0"),
        "10.2.0.0/24": Route("10.2.0.0/24", dev="wg0"),
    }
    want = {
        "10.0.0.0/24": Route("10.0.0.0/24", dev="wg0"),
        "10.1.0.0/24": Route("10.1.0.0/24", dev="wg1"),
        "10.3.0.0/24": Route("10.3.0.0/24", dev="wg0"),
    }
    assert diff(want, cur) == ([want["10.1.0.0/24"], want["10.3.0.0/24"]], ["10.2.0.0/24"])
    assert diff(want, {r.dst: r for r in want.values()}) == ([], [])


def test_wanted_route_without_device_accepts_the_kernel_chosen_one() -> None:
    want = {"10.0.0.0/24": Route("10.0.0.0/24", gateway="192.0.2.1")}
    assert diff(want, {"10.0.0.0/24": Route("10.0.0.0/24", dev="eth0", gateway="192.0.2.1")}) == ([], [])
    moved = {"10.0.0.0/24": Route("10.0.0.0/24", dev="eth0", gateway="192.0.2.9")}
    assert diff(want, moved) == ([want["10.0.0.0/24"]], [])


def test_route_normalises() -> None:
    assert Route("10.0.0.1/24", gateway="2001:DB8::1") == Route("10.0.0.0/24", gateway="2001:db8::1")
    with pytest.raises(ValueError):
        Route("10.0.0.0/33")
