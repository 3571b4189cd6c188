"""The per-announcement series on /metrics: present at 0 from the moment an announcement exists,
counting announces and withdrawals, gone with the announcement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from durantic_agent.metrics import AGENT_METRICS


def _sample(metric: str, /, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


@pytest.fixture(autouse=True)
def _no_announcements_left() -> Iterator[None]:
    """The registry is the process's: leave no series behind for the tests that read it after this one."""
    yield
    AGENT_METRICS.known_announcements([])


def test_series_exist_from_the_start_count_and_leave_with_the_announcement() -> None:
    AGENT_METRICS.known_announcements(["m-web", "m-spare"])
    assert _sample("durantic_announcement_changes_total", name="m-spare", action="announced") == 0
    assert _sample("durantic_announcement_changes_total", name="m-spare", action="withdrawn") == 0
    assert _sample("durantic_announcement_announced", name="m-spare") == 0

    AGENT_METRICS.announcement_change("m-web", True)
    AGENT_METRICS.announcement_change("m-web", False)
    AGENT_METRICS.announcement_change("m-web", True)
    assert _sample("durantic_announcement_changes_total", name="m-web", action="announced") == 2
    assert _sample("durantic_announcement_changes_total", name="m-web", action="withdrawn") == 1
    assert _sample("durantic_announcement_announced", name="m-web") == 1

    AGENT_METRICS.known_announcements(["m-web"])
    assert _sample("durantic_announcement_announced", name="m-spare") is None
    AGENT_METRICS.announcement_change("m-spare", False)  # the withdrawal of the deleted one
    assert _sample("durantic_announcement_changes_total", name="m-spare", action="withdrawn") is None
    assert _sample("durantic_announcement_announced", name="m-web") == 1
