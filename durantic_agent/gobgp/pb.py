"""The generated GoBGP 3.10 stubs, imported in one place, plus small packing helpers."""

from __future__ import annotations

from typing import Any

from google.protobuf.any_pb2 import Any as AnyPb

from durantic_agent._gobgp import attribute_pb2 as attr
from durantic_agent._gobgp import capability_pb2 as cap
from durantic_agent._gobgp import gobgp_pb2 as api
from durantic_agent._gobgp import gobgp_pb2_grpc as rpc

__all__ = ["V4U", "V6U", "AnyPb", "api", "attr", "cap", "family_for", "pack", "rpc"]

V4U = api.Family(afi=api.Family.AFI_IP, safi=api.Family.SAFI_UNICAST)
V6U = api.Family(afi=api.Family.AFI_IP6, safi=api.Family.SAFI_UNICAST)


def pack(msg: Any) -> Any:
    a = AnyPb()
    a.Pack(msg)
    return a


def family_for(version: int) -> Any:
    return V4U if version == 4 else V6U
