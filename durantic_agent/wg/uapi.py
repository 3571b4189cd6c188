"""A small asyncio client for the WireGuard cross-platform UAPI (wireguard-go's unix socket).

Protocol (wireguard.com/xplatform): "get=1\\n\\n" or "set=1\\n<key=value lines>\\n", reply lines end with
"errno=N\\n\\n". Keys are hex. One connection per operation keeps a failed transaction from
desynchronising the next one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from durantic_agent.wg.keys import b64_to_hex, hex_to_b64
from durantic_agent.wg.plan import PeerChange
from durantic_agent.wg.port import DeviceState, PeerState, WireGuardOpError

__all__ = [
    "DEFAULT_SOCKET_DIR",
    "UapiClient",
    "parse_device",
    "parse_device_text",
    "parse_reply",
    "render_changes",
]

DEFAULT_SOCKET_DIR = Path("/var/run/wireguard")
_READ_LIMIT = 256 * 1024 * 1024  # a get=1 of 50k allowed IPs is ~1.5 MB; leave room


def parse_reply(text: str) -> list[tuple[str, str]]:
    """key=value pairs of a reply, without the trailing errno; raises on errno != 0."""
    # comprehensions rather than a loop: a 50k allowed-IP device is read every liveness poll
    parts = [line.partition("=") for line in text.split("\n") if line]
    bad = next((p for p in parts if not p[1]), None)
    if bad is not None:
        raise WireGuardOpError(f"malformed UAPI line {bad[0]!r}")
    errnos = [v for k, _, v in parts if k == "errno"]
    if not errnos:
        raise WireGuardOpError("UAPI reply without errno")
    errno = int(errnos[-1])
    if errno != 0:
        # wireguard-go reports negative errnos (errno=-22); the port carries the positive value
        raise WireGuardOpError(f"UAPI errno={errno} ({os.strerror(abs(errno))})", errno=abs(errno))
    return [(k, v) for k, _, v in parts if k != "errno"]


def parse_device(ifname: str, pairs: Iterable[tuple[str, str]], public_key: str | None) -> DeviceState:
    """Build a DeviceState from get=1 pairs; `public_key` is derived by the caller from the private key."""
    listen_port = 0
    peers: dict[str, PeerState] = {}
    cur: dict[str, object] | None = None
    ips: set[str] = set()

    def flush() -> None:
        if cur is None:
            return
        sec = int(str(cur.get("hs_sec", 0)))
        nsec = int(str(cur.get("hs_nsec", 0)))
        key = str(cur["public_key"])
        peers[key] = PeerState(
            public_key=key,
            endpoint=str(cur["endpoint"]) if "endpoint" in cur else None,
            allowed_ips=frozenset(ips),
            last_handshake=(sec + nsec / 1e9) if (sec or nsec) else None,
            rx_bytes=int(str(cur.get("rx_bytes", 0))),
            tx_bytes=int(str(cur.get("tx_bytes", 0))),
            persistent_keepalive=int(str(cur.get("keepalive", 0))),
        )

    for key, value in pairs:
        if key == "allowed_ip":  # by far the most frequent line
            if cur is not None:
                ips.add(value)
        elif key == "public_key":
            flush()
            cur = {"public_key": hex_to_b64(value)}
            ips = set()
        elif cur is None:
            if key == "listen_port":
                listen_port = int(value)
        elif key == "endpoint":
            cur["endpoint"] = value
        elif key == "last_handshake_time_sec":
            cur["hs_sec"] = value
        elif key == "last_handshake_time_nsec":
            cur["hs_nsec"] = value
        elif key in ("rx_bytes", "tx_bytes"):
            cur[key] = value
        elif key == "persistent_keepalive_interval":
            cur["keepalive"] = value
    flush()
    return DeviceState(ifname=ifname, public_key=public_key, listen_port=listen_port, peers=peers)


_ALLOWED = re.compile(r"^allowed_ip=(.*)$", re.M)
_OTHER = re.compile(r"^(?!allowed_ip=)([^=\n]+)=(.*)$", re.M)
_ERRNO = re.compile(r"^errno=(-?\d+)$", re.M)


def _without_allowed(rest: str) -> str:
    """A peer's lines without its allowed_ip lines (wireguard-go sends them as one run), found with two
    string searches instead of a regex over every line."""
    first = rest.find("allowed_ip=")
    if first < 0:
        return rest
    last = max(first, rest.rfind("\nallowed_ip=") + 1)  # where the last allowed_ip line starts
    end = rest.find("\n", last)
    return rest[:first] + ("" if end < 0 else rest[end + 1 :])


def parse_device_text(
    ifname: str, text: str, public_key: Callable[[str], str | None], allowed_ips: bool = True
) -> DeviceState:
    """`parse_device(parse_reply(text))`, but the allowed IPs (nearly every line of a big device) are
    collected by a regex per peer instead of a Python loop per line, or with allowed_ips=False skipped
    (every peer's set is then empty)."""
    errnos = _ERRNO.findall(text)
    if not errnos:
        raise WireGuardOpError("UAPI reply without errno")
    parse_reply(f"errno={errnos[-1]}\n")  # raises on errno != 0
    chunks = ("\n" + text).split("\npublic_key=")
    head = _OTHER.findall(chunks[0])
    priv = next((v for k, v in head if k == "private_key"), "")
    dev = parse_device(ifname, head, public_key(priv))
    peers: dict[str, PeerState] = {}
    for chunk in chunks[1:]:
        key_hex, _, rest = chunk.partition("\n")
        if not allowed_ips:
            rest = _without_allowed(rest)
        for key, st in parse_device(ifname, [("public_key", key_hex), *_OTHER.findall(rest)], None).peers.items():
            peers[key] = dataclasses.replace(st, allowed_ips=frozenset(_ALLOWED.findall(rest)))
    return dataclasses.replace(dev, peers=peers)


def render_changes(changes: Sequence[PeerChange]) -> list[str]:
    """UAPI set lines for ordered peer changes (no framing)."""
    lines: list[str] = []
    for ch in changes:
        lines.append(f"public_key={b64_to_hex(ch.public_key)}")
        if ch.remove:
            lines.append("remove=true")
            continue
        if not ch.create:
            lines.append("update_only=true")
        if ch.endpoint is not None:
            lines.append(f"endpoint={ch.endpoint}")
        if ch.persistent_keepalive is not None:
            lines.append(f"persistent_keepalive_interval={ch.persistent_keepalive}")
        if ch.replace_allowed_ips:
            lines.append("replace_allowed_ips=true")
        lines.extend(f"allowed_ip={ip}" for ip in ch.allowed_ips)
    return lines


class UapiClient:
    def __init__(self, socket_dir: Path = DEFAULT_SOCKET_DIR, timeout: float = 10.0) -> None:
        self.socket_dir = socket_dir
        self.timeout = timeout

    def socket_path(self, ifname: str) -> Path:
        return self.socket_dir / f"{ifname}.sock"

    async def _exchange(self, ifname: str, request: str) -> list[tuple[str, str]]:
        text = await self._exchange_text(ifname, request)
        try:
            return parse_reply(text)
        except WireGuardOpError as exc:
            raise WireGuardOpError(f"{ifname}: {exc}", exc.errno) from exc

    async def _exchange_text(self, ifname: str, request: str) -> str:
        path = self.socket_path(ifname)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_unix_connection(str(path), limit=_READ_LIMIT)
                try:
                    writer.write(request.encode())
                    await writer.drain()
                    data = await reader.readuntil(b"\n\n")
                finally:
                    writer.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise WireGuardOpError(f"{ifname}: UAPI socket {path}: {exc}") from exc
        except TimeoutError as exc:
            raise WireGuardOpError(f"{ifname}: UAPI socket {path}: no answer in {self.timeout}s") from exc
        return data.decode()

    async def get(self, ifname: str) -> list[tuple[str, str]]:
        return await self._exchange(ifname, "get=1\n\n")

    async def get_device(
        self, ifname: str, public_key: Callable[[str], str | None], allowed_ips: bool = True
    ) -> DeviceState:
        """get=1 parsed straight into a DeviceState; `public_key` maps the hex private key (or "") to it."""
        text = await self._exchange_text(ifname, "get=1\n\n")
        try:
            return parse_device_text(ifname, text, public_key, allowed_ips)
        except WireGuardOpError as exc:
            raise WireGuardOpError(f"{ifname}: {exc}", exc.errno) from exc

    async def set(self, ifname: str, lines: Sequence[str]) -> None:
        await self._exchange(ifname, "set=1\n" + "".join(f"{line}\n" for line in lines) + "\n")

    async def answers(self, ifname: str) -> bool:
        try:
            await self.get(ifname)
        except WireGuardOpError:
            return False
        return True
