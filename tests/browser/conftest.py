"""Shared browser fixtures: Debian's chromium driven by Playwright (never Playwright's own download)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pw: Any
if os.environ.get("CI") == "true":
    import playwright.async_api as pw  # under CI a missing playwright is a failure, not a skip
else:
    pw = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A fresh page; the test fails if the page throws a JavaScript error."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)")
    async with pw.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            pg = await browser.new_page(viewport={"width": 1500, "height": 900})
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            yield pg
            assert errors == [], errors
        finally:
            await browser.close()
