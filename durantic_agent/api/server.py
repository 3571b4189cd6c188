"""aiohttp servers: the full API on the unix socket, and the read-only web view + /metrics on loopback TCP.

Writes are validated whole before anything changes: a 400 carries every error, one line each naming the
field (list items by their name) and the value; a change the disk cannot take is a 507 (no space) or
500, and changes nothing. The TCP listener, which any
local user reaches, answers only to its own Host names (DNS rebinding), under a connection cap and
deadlines (api/guard.py); every response carries security headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from ..config.schema import AgentConfig
from ..desired import DrainPhase
from ..errors import AgentError, ConfigError, StorageError, ValidationFailed
from ..limits import WEB_HEAD_TIMEOUT, WEB_IDLE_TIMEOUT, WEB_LIFETIME, raise_nofile_limit, web_connection_cap
from ..objects.announcement import Announcement
from ..objects.document import parse_doc
from ..objects.store import ObjectStore
from ..validation import format_errors
from ..views.provider import ViewProvider
from .guard import ConnectionGuard


class LiveViews(ViewProvider, Protocol):
    """The read side the API serves (agent/views.py's AgentViews)."""

    async def checks(self) -> list[dict[str, Any]]: ...

    def iter_rib_json(self, prefix: str | None = None, longer: bool = False) -> AsyncIterator[bytes]: ...

    async def peers(self, timeout: float | None = None) -> list[dict[str, Any]]: ...

    async def rejected_rows(self) -> list[dict[str, Any]]: ...


class Agent(Protocol):
    """What the API uses of the running agent: its objects, views and operations (agent/app.py's Agent)."""

    cfg: AgentConfig
    store: ObjectStore
    drain: DrainPhase

    @property
    def views(self) -> LiveViews: ...

    def status(self) -> dict[str, Any]: ...

    def objects_changed(self) -> None: ...

    async def reload(self) -> None: ...

    async def set_drain(self, drained: bool, grace: float) -> None: ...


__all__ = ["ApiServer", "build_api_app"]

log = logging.getLogger("durantic.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ValidationFailed, ConfigError) as e:
        return _json({"error": "; ".join(e.messages), "errors": e.messages}, status=400)
    except StorageError as e:
        log.error("%s", e)
        return _error(507 if e.errno in (errno.ENOSPC, errno.EDQUOT) else 500, f"state file {e}")
    except AgentError as e:
        return _error(503, str(e))


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name) in ("1", "true")


async def _body(request: web.Request, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty); anything else is a ValidationFailed (400).
    With `allowed`, other keys are refused."""
    raw = await request.read() if request.can_read_body else b""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValidationFailed(f"(body): is not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValidationFailed(f"(body): is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise ValidationFailed("(body): is nested too deeply") from None
    if not isinstance(body, dict):
        raise ValidationFailed(f"(body): a JSON {_json_kind(body)} is not a JSON object")
    if allowed is not None:
        for key in body:
            if key not in allowed:
                raise ValidationFailed(f"{key}: unknown key")
    return body


def _json_kind(v: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(v), "number")


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
STATUS_GOBGPD_DEADLINE = 0.5
"""Seconds `status` waits for gobgpd's peer list: status answers within 1 s even with gobgpd hung."""


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and streams included; the web page's own stricter CSP is kept."""
    for k, v in _SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    response.headers.setdefault("Content-Security-Policy", _API_CSP)


def build_api_app(agent: Agent) -> web.Application:
    routes = web.RouteTableDef()
    store = agent.store

    @routes.get("/v1/status")
    async def status(request: web.Request) -> web.Response:
        st = agent.status()
        st["peers"] = await agent.views.peers(STATUS_GOBGPD_DEADLINE)
        return _json(st)

    @routes.get("/v1/objects")
    async def get_objects(request: web.Request) -> web.Response:
        return _json(store.state.to_doc())

    @routes.post("/v1/apply")
    async def apply(request: web.Request) -> web.Response:
        """?prune=1 also deletes what the document leaves out; ?dry_run=1 validates and changes nothing;
        ?diff=1 (a dry run) adds each changed object's before and after."""
        body = await _body(request)
        prune = _flag(request, "prune")
        diff = _flag(request, "diff")
        dry_run = diff or _flag(request, "dry_run")
        doc = parse_doc(body)
        _, changes = store.apply(doc, prune=prune, dry_run=dry_run, with_objects=diff)
        changed = any(c.action != "unchanged" for c in changes)
        if changed and not dry_run:
            agent.objects_changed()
        out = {"changed": changed, "dry_run": dry_run, "results": [c.to_json(diff) for c in changes]}
        # orjson: one result per object (10k for a large file) encodes 8x faster than with json
        return web.Response(body=orjson.dumps(out, default=str), content_type="application/json")

    @routes.get("/v1/announcements")
    async def list_announcements(request: web.Request) -> web.Response:
        return _json(await agent.views.announcements())

    @routes.get("/v1/announcements/{name}")
    async def show_announcement(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        rows = [r for r in await agent.views.announcements() if r["name"] == name]
        if not rows:
            return _error(404, f"announcement {name!r} not found")
        return _json(rows[0])

    @routes.put("/v1/announcements/{name}")
    async def put_announcement(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = {**await _body(request), "name": name}
        try:
            ann = Announcement.model_validate(body)
        except ValidationError as e:
            raise ValidationFailed(format_errors(e)) from None
        anns = [a for a in store.state.announcements if a.name != name]
        idx = next((i for i, a in enumerate(store.state.announcements) if a.name == name), len(anns))
        anns.insert(idx, ann)
        changed = store.commit(store.state.model_copy(update={"announcements": anns}))
        if changed:
            agent.objects_changed()
        return _json({"changed": changed}, status=200)

    @routes.delete("/v1/announcements/{name}")
    async def delete_announcement(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if store.state.announcement(name) is None:
            return _error(404, f"announcement {name!r} not found")
        anns = [a for a in store.state.announcements if a.name != name]
        store.commit(store.state.model_copy(update={"announcements": anns}))
        agent.objects_changed()
        return _json({"changed": True})

    async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
        await _body(request, frozenset())
        name = request.match_info["name"]
        ann = store.state.announcement(name)
        if ann is None:
            return _error(404, f"announcement {name!r} not found")
        new = ann.model_copy(update={"enabled": enabled})
        anns = [new if a.name == name else a for a in store.state.announcements]
        changed = store.commit(store.state.model_copy(update={"announcements": anns}))
        agent.objects_changed()
        return _json({"changed": changed})

    @routes.post("/v1/announcements/{name}/disable")
    async def disable(request: web.Request) -> web.Response:
        return await _set_enabled(request, False)

    @routes.post("/v1/announcements/{name}/enable")
    async def enable(request: web.Request) -> web.Response:
        return await _set_enabled(request, True)

    @routes.get("/v1/checks")
    async def checks(request: web.Request) -> web.Response:
        return _json(await agent.views.checks())

    @routes.post("/v1/reload")
    async def reload(request: web.Request) -> web.Response:
        await _body(request, frozenset())
        await agent.reload()
        return _json({"reloaded": True})

    @routes.post("/v1/drain")
    async def drain(request: web.Request) -> web.Response:
        body = await _body(request, frozenset({"grace"}))
        grace = body.get("grace", 30)
        if not isinstance(grace, int | float) or isinstance(grace, bool) or not 0 <= grace <= 3600:
            raise ValidationFailed(f"grace: {grace!r} must be a number of seconds between 0 and 3600")
        await agent.set_drain(True, float(grace))
        return _json({"drain": agent.drain.value})

    @routes.post("/v1/undrain")
    async def undrain(request: web.Request) -> web.Response:
        await _body(request, frozenset())
        await agent.set_drain(False, 0)
        return _json({"drain": agent.drain.value})

    @routes.get("/v1/rib")
    async def rib(request: web.Request) -> web.StreamResponse:
        """?prefix=P: that destination; with &longer=1, every destination inside P."""

        prefix = request.query.get("prefix") or None
        longer = _flag(request, "longer")
        if prefix is not None:
            try:
                import ipaddress

                prefix = str(ipaddress.ip_network(prefix, strict=False))
            except ValueError:
                raise ValidationFailed(f"prefix: {prefix!r} is not an address or prefix") from None
        elif longer:
            raise ValidationFailed("longer: needs a prefix")
        views = agent.views
        if request.query.get("rejected") not in ("1", "true"):
            return await stream_json_arrays(request, views.iter_rib_json(prefix, longer=longer))

        async def with_rejected() -> AsyncIterator[bytes]:
            async for chunk in views.iter_rib_json(prefix, longer=longer):
                yield chunk
            rows = [r for r in await views.rejected_rows() if prefix is None or r["prefix"] == prefix]
            yield orjson.dumps(rows, default=str)

        return await stream_json_arrays(request, with_rejected())

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        return await metrics_response(agent)

    @routes.get("/v1/policies")
    async def policies(request: web.Request) -> web.Response:

        return _json(await agent.views.policies())

    @routes.get("/v1/policies/{name}")
    async def show_policy(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        ps = store.state.policy_set(name)
        if ps is None:
            return _error(404, f"policy set {name!r} not found")
        return _json(ps.model_dump(mode="json", exclude_defaults=True))

    @routes.delete("/v1/policies/{name}")
    async def delete_policy(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        st = store.state
        if st.policy_set(name) is None:
            return _error(404, f"policy set {name!r} not found")
        for key in ("import_policies", "export_policies"):
            names = getattr(st, key)
            if name in names:
                return _error(409, f"policy set {name!r} is in use: {key}[{names.index(name)}]")
        store.commit(st.model_copy(update={"policy_sets": [p for p in st.policy_sets if p.name != name]}))
        agent.objects_changed()
        return _json({"changed": True})

    @routes.post("/v1/policies/{name}/test")
    async def test_policy(request: web.Request) -> web.Response:
        from ..policy.evaluate import evaluate, parse_test_route

        name = request.match_info["name"]
        ps = store.state.policy_set(name)
        if ps is None:
            return _error(404, f"policy set {name!r} not found")
        body = await _body(request, frozenset({"prefix", "communities", "large_communities", "as_path"}))
        for key in ("communities", "large_communities", "as_path"):
            val = body.get(key)
            if key == "as_path" and isinstance(val, str):
                continue  # the CLI's --as-path "4200000002 4200000003"
            if val is not None and not (isinstance(val, list) and all(isinstance(x, str | int) for x in val)):
                raise ValidationFailed(f"{key}: {val!r} must be a list")
        try:
            route = parse_test_route(
                str(body.get("prefix", "")),
                communities=body.get("communities") or [],
                large_communities=body.get("large_communities") or [],
                as_path=body.get("as_path") or (),
            )
        except ValueError as e:
            raise ValidationFailed(str(e)) from None
        return _json(evaluate(ps, route, my_asn=agent.cfg.machine.asn).to_json())

    @routes.get("/v1/peers")
    async def peers(request: web.Request) -> web.Response:
        return _json(await agent.views.peers())

    app = web.Application(middlewares=[_errors])
    app.add_routes(routes)
    app.on_response_prepare.append(_security_headers)
    return app


async def stream_json_arrays(request: web.Request, chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """One JSON list written from chunks that are each a JSON list (so a 100k-route RIB is never held in
    memory whole). The first chunk is read before the status is sent, so an unreachable gobgpd is
    still a 503."""
    first = await anext(chunks, None)
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await resp.prepare(request)
    await resp.write(b"[")
    sep = b""
    chunk = first
    while chunk is not None:
        body = chunk.strip()[1:-1]
        if body:
            await resp.write(sep + body)
            sep = b","
        chunk = await anext(chunks, None)
    await resp.write(b"]")
    await resp.write_eof()
    return resp


_LISTEN_RETRY = (1.0, 30.0)
"""First and longest pause between attempts to bind the web listener."""


class ApiServer:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._runners: list[web.AppRunner] = []
        self._tcp: asyncio.Server | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self.guard: ConnectionGuard | None = None
        self._web: dict[str, Any] = {}  # the TCP listener: address, listening, error

    async def start(self) -> None:
        cfg = self.agent.cfg.api
        sock = cfg.socket
        sock.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        runner = web.AppRunner(build_api_app(self.agent), access_log=None)
        await runner.setup()
        old = os.umask(0o177)  # created 0600 from the start: no window where others may connect
        try:
            await web.UnixSite(runner, str(sock)).start()
        finally:
            os.umask(old)
        os.chmod(sock, 0o600)
        self._runners.append(runner)
        if cfg.http:
            hrunner = web.AppRunner(
                build_view_app(self.agent), access_log=None, keepalive_timeout=WEB_IDLE_TIMEOUT, max_field_size=8190
            )
            await hrunner.setup()
            self._runners.append(hrunner)
            self.guard = ConnectionGuard(
                web_connection_cap(raise_nofile_limit()), head_timeout=WEB_HEAD_TIMEOUT, lifetime=WEB_LIFETIME
            )
            self._web = {"address": cfg.http, "listening": False, "error": None}
            if not await self._listen(hrunner, cfg.http):
                # a port taken by another process: the agent runs without its web view, says so in
                # `status`, and keeps trying
                self._listen_task = asyncio.create_task(self._keep_listening(hrunner, cfg.http), name="web-listen")

    async def _listen(self, runner: web.AppRunner, address: str) -> bool:
        host, _, port = address.rpartition(":")
        server = runner.server
        guard = self.guard
        assert server is not None and guard is not None
        state = self._web
        try:
            self._tcp = await asyncio.get_running_loop().create_server(
                lambda: guard.protocol(server()), host.strip("[]"), int(port), backlog=64, reuse_address=True
            )
        except OSError as e:
            why = os.strerror(e.errno) if e.errno else str(e)  # asyncio's own text repeats the address
            if state.get("error") != why:
                log.error("web listener %s cannot listen: %s; retrying", address, why)
            state.update(listening=False, error=why, since=time.time())
            return False
        if state.get("error"):
            log.info("web listener %s listening", address)
        state.update(listening=True, error=None, since=time.time())
        return True

    async def _keep_listening(self, runner: web.AppRunner, address: str) -> None:
        pause = _LISTEN_RETRY[0]
        while True:
            await asyncio.sleep(pause)
            if await self._listen(runner, address):
                return
            pause = min(pause * 2, _LISTEN_RETRY[1])

    def web_status(self) -> dict[str, Any] | None:
        if not self._web:
            return None  # no web listener configured
        out = dict(self._web)
        if self.guard is not None:
            out.update(self.guard.stats())
        return out

    async def stop(self) -> None:
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen_task
        if self._tcp is not None:
            self._tcp.close()
        for r in self._runners:
            await r.cleanup()
        with contextlib.suppress(FileNotFoundError):
            self.agent.cfg.api.socket.unlink()


def allowed_hosts(address: str) -> frozenset[str]:
    """The host names the web listener answers to, whatever the port: its configured address and the
    loopback names. A rebound DNS name (a page elsewhere reaching the listener) is never one of them,
    while a port forward (ssh -L 8080:127.0.0.1:9179) still sends a loopback name with its own port."""
    host = address.rpartition(":")[0]
    return frozenset(h.lower() for h in (host, "localhost", "127.0.0.1", "[::1]", "localhost."))


def host_name(header: str) -> str:
    """The Host header's name without its port (`[::1]:9179` -> `[::1]`)."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[: h.find("]") + 1] if "]" in h else h
    name, _, port = h.rpartition(":")
    return name if name and port.isdigit() else h


async def metrics_response(agent: Agent) -> web.Response:
    """Prometheus text: the peer series are refreshed from gobgpd and WireGuard first (they are read on
    demand, not tracked), then everything is rendered off the loop (many series take a while)."""
    from ..metrics import AGENT_METRICS

    with contextlib.suppress(AgentError, OSError):
        AGENT_METRICS.set_peers(await agent.views.peers(STATUS_GOBGPD_DEADLINE))
    body = await asyncio.to_thread(generate_latest)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_view_app(agent: Agent) -> web.Application:
    """Read-only: GET only, never mutates; answers only to its own Host names."""
    hosts = allowed_hosts(agent.cfg.api.http or "")

    @web.middleware
    async def host_allowed(request: web.Request, handler: Handler) -> web.StreamResponse:
        if host_name(request.headers.get("Host", "")) not in hosts:
            return _error(421, f"Host {request.headers.get('Host', '')[:100]!r} is not this agent's web listener")
        return await handler(request)

    app = web.Application(middlewares=[host_allowed])
    app.on_response_prepare.append(_security_headers)

    async def metrics(request: web.Request) -> web.Response:
        return await metrics_response(agent)

    async def status(request: web.Request) -> web.Response:
        return _json(agent.status())

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/status", status)
    from ..web import make_web_app

    app.add_subapp("/ui/", make_web_app(agent.views))

    async def index(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/ui/")

    app.router.add_get("/", index)
    return app
