"""What the web page and the API need from the agent: a read-only port returning plain JSON-able dicts."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ViewProvider"]


class ViewProvider(Protocol):
    async def status(self) -> dict[str, Any]:
        """{"machine", "asn", "router_id", "version", "gobgpd": {"pid", "restarts", "up"}, "uptime", ...}."""
        ...

    async def rib(self, prefix_filter: str | None, offset: int, limit: int) -> dict[str, Any]:
        """{"total": n, "routes": [rows from views.rib.rib_rows]} for destinations matching the filter."""
        ...

    async def peers(self) -> list[dict[str, Any]]:
        """[{name, address, asn, state, uptime, received, accepted, advertised, wg_endpoint,
        last_handshake, rx_bytes, tx_bytes, path_type}]."""
        ...

    async def announcements(self) -> list[dict[str, Any]]:
        """[{name, kind, prefix, check, state, announced, last_detail, last_latency, transitions}]."""
        ...

    async def policies(self) -> dict[str, Any]:
        """{"sets": [policy set documents], "import_policies": [...], "export_policies": [...]}."""
        ...
