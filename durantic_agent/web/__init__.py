"""The read-only web view: an aiohttp sub-application serving the machine page and its JSON."""

from __future__ import annotations

from .app import make_web_app

__all__ = ["make_web_app"]
