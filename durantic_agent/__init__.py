"""Durantic agent: a BGP control agent for WireGuard meshes, driving a bundled gobgpd over gRPC."""

from __future__ import annotations

__version__ = "0.1.0"
GOBGP_VERSION = "4.8.0"
