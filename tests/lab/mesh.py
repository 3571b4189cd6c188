"""Mesh topologies for lab tests: machines on an underlay, keys, members files, agent configs."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from durantic_agent.wg.keys import hex_to_b64

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


def members_doc(machines: list[Machine], port: int = 51820) -> dict[str, Any]:
    return {
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


def write_members(lab: Lab, mesh: str, machines: list[Machine]) -> str:
    f = lab.base / f"members-{mesh}.yaml"
    f.write_text(yaml.safe_dump(members_doc(machines)))
    return str(f)


def start_mesh(lab: Lab, machines: list[Machine], mesh: str = "m", prefix_len: int = 24) -> dict[str, AgentHandle]:
    for m in machines:
        keygen(lab, m)
    mf = write_members(lab, mesh, machines)
    out = {}
    for m in machines:
        cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, mesh, prefix_len, mf)])
        cfg["wireguard"] = {"backend": "userspace"}
        out[m.name] = lab.start_agent(m.name, m.ns, cfg)
    return out


def wg_allowed(h: AgentHandle) -> dict[str, set[str]]:
    """public key (base64) -> AllowedIPs, read from wireguard-go over its UAPI socket."""
    ifname = h.config["meshes"][0]["interface"]
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(f"/var/run/wireguard/{ifname}.sock")
        s.sendall(b"get=1\n\n")
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out: dict[str, set[str]] = {}
    cur = None
    for line in data.decode().splitlines():
        k, _, v = line.partition("=")
        if k == "public_key":
            cur = hex_to_b64(v)
            out[cur] = set()
        elif k == "allowed_ip" and cur:
            out[cur].add(v)
    return out
