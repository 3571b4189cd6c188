"""agent.yaml: schema (pydantic, frozen, extra keys forbidden) and loading with path-naming errors."""

from __future__ import annotations

from .load import load_config, parse_config
from .schema import AgentConfig, Mesh, MeshMember, Neighbor

__all__ = ["AgentConfig", "Mesh", "MeshMember", "Neighbor", "load_config", "parse_config"]
