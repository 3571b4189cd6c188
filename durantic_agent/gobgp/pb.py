"""The generated GoBGP 4.8 stubs (proto package `api`), imported in one place, plus the few names the adapter
uses everywhere. The package is split over six generated modules; `api` is gobgp.proto (requests, Path,
Peer, policies), `attr` attribute.proto, `nlri` nlri.proto, `common` common.proto (Family), `cap` capability.proto.
"""

from __future__ import annotations

from typing import Any

from durantic_agent._gobgp import attribute_pb2 as attr
from durantic_agent._gobgp import capability_pb2 as cap
from durantic_agent._gobgp import common_pb2 as common
from durantic_agent._gobgp import gobgp_pb2 as api
from durantic_agent._gobgp import gobgp_pb2_grpc as rpc
from durantic_agent._gobgp import nlri_pb2 as nlri

__all__ = [
    "ESTABLISHED",
    "GLOBAL",
    "SERVICE",
    "V4U",
    "V6U",
    "api",
    "attr",
    "cap",
    "common",
    "family_for",
    "ip_nlri",
    "nlri",
    "rpc",
]

V4U = common.Family(afi=common.Family.AFI_IP, safi=common.Family.SAFI_UNICAST)
V6U = common.Family(afi=common.Family.AFI_IP6, safi=common.Family.SAFI_UNICAST)
GLOBAL = api.TABLE_TYPE_GLOBAL
ESTABLISHED = api.PeerState.SESSION_STATE_ESTABLISHED
SERVICE = "/" + api.DESCRIPTOR.services_by_name["GoBgpService"].full_name


def family_for(version: int) -> Any:
    return V4U if version == 4 else V6U


def ip_nlri(address: str, prefix_len: int) -> Any:
    """The typed NLRI of a unicast prefix (v4: a oneof message, not a packed Any)."""
    return nlri.NLRI(prefix=nlri.IPAddressPrefix(prefix=address, prefix_len=prefix_len))
