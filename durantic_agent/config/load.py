"""Reading agent.yaml and mesh members files into a validated AgentConfig, or a ConfigError naming every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from ..files import secret_problem
from ..validation import format_errors
from .schema import AgentConfig

__all__ = ["load_config", "parse_config"]


def _read_yaml(path: Path, label: str) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError([f"{label}: {str(path)!r} does not exist"]) from None
    except OSError as e:
        raise ConfigError([f"{label}: {str(path)!r} cannot be read: {e.strerror}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([f"{label}: {str(path)!r} is not valid YAML ({problem}{where})"]) from None


def parse_config(doc: Any, base_dir: Path | None = None) -> AgentConfig:
    """Validate an already-parsed document. Members files (relative to base_dir) are read and inlined."""
    if not isinstance(doc, dict):
        raise ConfigError([f"(top level): {type(doc).__name__} is not a mapping of agent settings"])
    errors: list[str] = []
    doc = dict(doc)
    meshes = doc.get("meshes")
    if isinstance(meshes, list):
        new_meshes = []
        for i, mesh in enumerate(meshes):
            if isinstance(mesh, dict) and mesh.get("members_file") is not None:
                mf = Path(str(mesh["members_file"]))
                if base_dir is not None and not mf.is_absolute():
                    mf = base_dir / mf
                label = f"meshes[{i}].members_file"
                try:
                    members_doc = _read_yaml(mf, label)
                except ConfigError as e:
                    errors.extend(e.messages)
                    new_meshes.append(mesh)
                    continue
                if not isinstance(members_doc, dict) or set(members_doc) - {"members", "route_servers"}:
                    errors.append(f"{label}: {str(mf)!r} must be a mapping of `members` (and `route_servers`)")
                elif mesh.get("members") is not None:
                    errors.append(f"meshes[{i}]: set either `members` or `members_file`, not both")
                else:
                    mesh = {**mesh, "members": members_doc.get("members") or []}
                    if "route_servers" in members_doc and mesh.get("route_servers") is not None:
                        errors.append(
                            f"meshes[{i}]: set `route_servers` in agent.yaml or in the members file, not both"
                        )
                    elif "route_servers" in members_doc:
                        # the members file is shared by every machine: the topology travels with it
                        mesh["route_servers"] = members_doc["route_servers"]
            new_meshes.append(mesh)
        doc["meshes"] = new_meshes
    try:
        cfg = AgentConfig.model_validate(doc)
    except ValidationError as e:
        errors.extend(format_errors(e))
        raise ConfigError(errors) from None
    errors.extend(_missing_files(cfg))
    if errors:
        raise ConfigError(errors)
    try:
        _ = cfg.router_id
    except ValueError:
        raise ConfigError(["machine.router_id: is required when no mesh or neighbour gives an IPv4 address"]) from None
    return cfg


def _missing_files(cfg: AgentConfig) -> list[str]:
    """Files the agent will read at start: named now, so `config check` catches them before a deploy."""
    secrets = [(f"meshes[{i}].private_key_file", m.private_key_file) for i, m in enumerate(cfg.meshes)]
    secrets += [
        (f"neighbors[{i}].password_file", n.password_file) for i, n in enumerate(cfg.neighbors) if n.password_file
    ]
    out = []
    for field, path in secrets:
        if not path.is_file():
            out.append(f"{field}: {str(path)!r} does not exist")
        elif (problem := secret_problem(path)) is not None:
            out.append(f"{field}: {problem}")
    return out


def load_config(path: str | Path) -> AgentConfig:
    p = Path(path)
    doc = _read_yaml(p, "config")
    return parse_config(doc, base_dir=p.parent)
