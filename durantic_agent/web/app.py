"""aiohttp sub-application: `/` the machine page, `/static/*` its assets, `/api/*` the JSON it polls.

Read-only by construction: only GET routes exist. URLs in the page are relative, so the lead can mount it
at `/` or under a prefix (`app.add_subapp("/ui/", make_web_app(provider))`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..views.provider import ViewProvider

__all__ = ["MAX_PAGE_SIZE", "make_web_app"]

STATIC = Path(__file__).resolve().parent / "static"
MAX_PAGE_SIZE = 1000
PROVIDER: web.AppKey[ViewProvider] = web.AppKey("provider", ViewProvider)  # type: ignore[type-abstract]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _headers(request: web.Request, handler: _Handler) -> web.StreamResponse:
    resp = await handler(request)
    # The page builds its DOM from text only; a strict CSP makes an injection bug inert anyway.
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _bad(field: str, value: str, why: str) -> web.Response:
    return web.json_response({"error": f"{field}: {value!r} {why}"}, status=400)


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int | web.Response:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        return _bad(name, raw, "must be an integer")
    if not lo <= v <= hi:
        return _bad(name, raw, f"must be between {lo} and {hi}")
    return v


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def _rib(request: web.Request) -> web.Response:
    page = _int_param(request, "page", 1, 1, 10**9)
    if isinstance(page, web.Response):
        return page
    size = _int_param(request, "page_size", 100, 1, MAX_PAGE_SIZE)
    if isinstance(size, web.Response):
        return size
    flt = request.query.get("filter", "").strip() or None
    data = await request.app[PROVIDER].rib(flt, (page - 1) * size, size)
    return web.json_response({**data, "page": page, "page_size": size, "filter": flt or ""})


def _simple(method: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        data: Any = await getattr(request.app[PROVIDER], method)()
        return web.json_response(data)

    return handler


def make_web_app(provider: ViewProvider) -> web.Application:
    app = web.Application(middlewares=[_headers])
    app[PROVIDER] = provider
    app.router.add_get("/", _index)
    app.router.add_get("/api/rib", _rib)
    for name in ("status", "peers", "announcements", "policies"):
        app.router.add_get(f"/api/{name}", _simple(name))
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app
