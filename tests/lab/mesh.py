"""Mesh topologies for lab tests: machines on an underlay, keys, members files, agent configs."""

from __future__ import annotations

import asyncio
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import yaml

from durantic_agent.wg import open_backend
from durantic_agent.wg.port import WireGuardNoSocket

from .harness import DURANTIC, AgentHandle, Lab


@dataclass
class Machine:
    name: str
    ns: str
    underlay: str  # underlay address (no length)
    mesh_addr: str  # mesh address (no length)
    asn: int
    pubkey: str = ""
    keyfile: str = ""


def keygen(lab: Lab, m: Machine) -> None:
    key = lab.base / m.name / "wg.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    m.keyfile = str(key)
    m.pubkey = subprocess.run(
        [DURANTIC, "mesh", "keygen", str(key), "--force"], text=True, capture_output=True, check=True
    ).stdout.strip()


def members_doc(machines: list[Machine], port: int = 51820, route_servers: list[str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "members": [
            {
                "name": m.name,
                "asn": m.asn,
                "address": m.mesh_addr,
                "public_key": m.pubkey,
                "endpoint": f"{m.underlay}:{port}",
            }
            for m in machines
        ]
    }
    if route_servers is not None:
        doc["route_servers"] = route_servers
    return doc


def mesh_config(
    lab: Lab, m: Machine, mesh: str, prefix_len: int, members_file: str, port: int = 51820
) -> dict[str, Any]:
    return {
        "name": mesh,
        "interface": f"dur-{lab.prefix}{m.name}{mesh}"[:15],
        "address": f"{m.mesh_addr}/{prefix_len}",
        "listen_port": port,
        "private_key_file": m.keyfile,
        "members_file": members_file,
        "persistent_keepalive": 1,
    }


def write_members(lab: Lab, mesh: str, machines: list[Machine], route_servers: list[str] | None = None) -> str:
    f = lab.base / f"members-{mesh}.yaml"
    f.write_text(yaml.safe_dump(members_doc(machines, route_servers=route_servers)))
    return str(f)


def start_mesh(
    lab: Lab,
    machines: list[Machine],
    mesh: str = "m",
    prefix_len: int = 24,
    backend: str = "userspace",
    route_servers: list[str] | None = None,
) -> dict[str, AgentHandle]:
    for m in machines:
        keygen(lab, m)
    mf = write_members(lab, mesh, machines, route_servers)
    out = {}
    for m in machines:
        cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, mesh, prefix_len, mf)])
        cfg["wireguard"] = {"backend": backend}
        out[m.name] = lab.start_agent(m.name, m.ns, cfg)
    return out


def wg_allowed(h: AgentHandle) -> dict[str, set[str]]:
    """public key (base64) -> AllowedIPs of the agent's first mesh, read through the port of the backend
    the agent runs on (what the agent itself reads back), from a second reader of the same device."""
    kind = h.config.get("wireguard", {}).get("backend", "auto")
    ifname = h.config["meshes"][0]["interface"]

    async def read() -> dict[str, set[str]]:
        be = await open_backend(kind, "dur-", netns=h.ns)
        try:
            dev = await be.device(ifname)
        finally:
            await be.close()
        return {key: set(p.allowed_ips) for key, p in dev.peers.items()}

    # its own loop in a thread: the tests' event loop (pytest-asyncio's) stays untouched. This second
    # reader's own netlink socket into the namespace can fail to open under emulation (the VM): it tries
    # again, the error shown, rather than fail the test on its own socket.
    with ThreadPoolExecutor(1) as pool:
        for attempt in range(3):
            try:
                return pool.submit(asyncio.run, read()).result()
            except WireGuardNoSocket as e:
                if attempt == 2:
                    raise
                print(f"wg_allowed({h.name}): {e}; reading again")
                time.sleep(0.5)
    raise AssertionError("unreachable")
