"""Mirror messages of GoBGP's Path, Destination, ListPathResponse and WatchEventResponse whose `nlri` and
`pattrs` stay serialized bytes.

On the wire a sub-message and a `bytes` field are the same (length-delimited), so these parse what gobgpd
sends without building a message per attribute: a table's attributes repeat a lot (a few peers, next hops,
community sets), and a reader that keys a cache on each attribute's bytes parses each distinct one once
(gobgp/decode.py, gobgp/watch.py). They live in the generated stubs' descriptor pool under their own package.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, message_factory

from .pb import api

__all__ = ["Destination", "DestinationBatch", "ListPathResponse", "Path", "WatchEventResponse", "as_raw_path"]

_PKG = "durantic.raw"


def _build() -> dict[str, Any]:
    pool = api.DESCRIPTOR.pool
    names = ("Path", "Destination", "ListPathResponse", "DestinationBatch", "WatchEventResponse")
    try:
        return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PKG}.{n}")) for n in names}
    except KeyError:
        pass
    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="durantic_agent/gobgp/raw.proto", package=_PKG, dependency=[api.DESCRIPTOR.name], syntax="proto3"
    )
    for dep in api.DESCRIPTOR.dependencies:
        fdp.dependency.append(dep.name)
    path = fdp.message_type.add()
    api.Path.DESCRIPTOR.CopyToProto(path)
    for fld in path.field:
        if fld.name in ("nlri", "pattrs"):
            fld.type = f.TYPE_BYTES
            fld.ClearField("type_name")
    dest = fdp.message_type.add(name="Destination")
    dest.field.add(name="prefix", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    dest.field.add(name="paths", number=2, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED, type_name=f".{_PKG}.Path")
    lpr = fdp.message_type.add(name="ListPathResponse")
    lpr.field.add(
        name="destination", number=1, type=f.TYPE_MESSAGE, label=f.LABEL_OPTIONAL, type_name=f".{_PKG}.Destination"
    )
    # A ListPathResponse is field 1 holding one Destination, so many of them concatenated are, on the wire,
    # one message whose field 1 is `repeated Destination` (gobgp/bulk.py).
    batch = fdp.message_type.add(name="DestinationBatch")
    batch.field.add(
        name="destination", number=1, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED, type_name=f".{_PKG}.Destination"
    )
    ev = fdp.message_type.add(name="WatchEventResponse")
    table = ev.nested_type.add(name="TableEvent")
    table.field.add(name="paths", number=2, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED, type_name=f".{_PKG}.Path")
    ev.oneof_decl.add(name="event")
    ev.field.add(name="peer", number=2, type=f.TYPE_BYTES, label=f.LABEL_OPTIONAL, oneof_index=0)
    ev.field.add(
        name="table",
        number=3,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_OPTIONAL,
        type_name=f".{_PKG}.WatchEventResponse.TableEvent",
        oneof_index=0,
    )
    pool.Add(fdp)
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PKG}.{n}")) for n in names}


_classes = _build()
Path: Any = _classes["Path"]
Destination: Any = _classes["Destination"]
ListPathResponse: Any = _classes["ListPathResponse"]
DestinationBatch: Any = _classes["DestinationBatch"]
WatchEventResponse: Any = _classes["WatchEventResponse"]


def as_raw_path(p: Any) -> Any:
    """A typed `api.Path` (or a raw one, returned as is) as its raw mirror."""
    if isinstance(p, Path):
        return p
    return Path.FromString(p.SerializeToString())
