"""The configuration reference (docs/config.md), generated from the schemas so it cannot drift from them.

`python -m durantic_agent.config.reference > docs/config.md` rewrites it; a unit test fails when the file
and the schemas disagree, or when a key has no description.
"""

from __future__ import annotations

import enum
import ipaddress
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..objects.document import ObjectsDoc
from .descriptions import DESCRIPTIONS, TYPES
from .schema import AgentConfig, MeshMember

__all__ = ["FILES", "missing_descriptions", "render", "rows", "stale_descriptions"]

# (title, key prefix, model, what the file is)
FILES: tuple[tuple[str, str, type[BaseModel], str], ...] = (
    ("agent.yaml", "", AgentConfig, "The machine's identity, meshes, neighbours and local settings (`agent run -c`)."),
    (
        "Mesh members file",
        "members[].",
        MeshMember,
        "`meshes[].members_file` (a YAML file with a `members:` list and optionally `route_servers:`, the names "
        "of `meshes[].route_servers`), or inline `meshes[].members`.",
    ),
    ("Objects file", "", ObjectsDoc, "What `durantic apply -f` takes and `durantic get -o yaml` prints."),
)

# Validator function names (see validation.py, config/schema.py, health/spec.py) -> what a user types.
_VALIDATOR_LABELS = {
    "_asn": "ASN (1-4294967295, or asdot a.b)",
    "_addr": "IP address",
    "_iface": "address/length",
    "_net": "IP prefix",
    "_name": "name ([A-Za-z0-9][A-Za-z0-9_.-]{0,62})",
    "parse_duration": "duration (300ms, 2s, 1m)",
    "_wg_key": "WireGuard key (base64)",
    "_endpoint": "host:port",
    "_hostport": "loopback host:port",
}


def _validator_label(metadata: list[Any]) -> str | None:
    for m in metadata:
        func = getattr(m, "func", None)
        name = getattr(func, "__name__", "")
        if name in _VALIDATOR_LABELS:
            return _VALIDATOR_LABELS[name]
    return None


def _bounds(metadata: list[Any]) -> str:
    lo = hi = None
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            lo = m.ge
        elif isinstance(m, annotated_types.Le):
            hi = m.le
        elif isinstance(m, FieldInfo):
            b = _bounds(list(m.metadata))
            if b:
                return b
    if lo is not None and hi is not None:
        return f" {lo}..{hi}"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _label(tp: Any, metadata: list[Any]) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(tp)
        return _label(base, [*metadata, *extra])
    known = _validator_label(metadata)
    if known:
        return known
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if all(isinstance(a, type) and issubclass(a, ipaddress._BaseAddress) for a in args):
            return "IP address"
        labels = [_label(a, []) for a in args]
        return " or ".join(dict.fromkeys(labels))
    if origin in (list, tuple, set, frozenset):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"list of {_label(args[0], []) if args else 'values'}"
    if origin is dict:
        return "map of string to string"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in tp)
    names = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
    if tp in names:
        return names[tp] + _bounds(metadata)
    if isinstance(tp, type) and issubclass(tp, ipaddress.IPv4Address):
        return "IPv4 address"
    return getattr(tp, "__name__", str(tp))


def _default(field: FieldInfo, label: str) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, float) and "duration" in label:
        return f"`{value:g}s`"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)) and not value:
        return "empty"
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return ",".join(f"{a}-{b}" for a, b in value)  # status ranges
    return f"`{value}`"


def _submodels(tp: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _submodels(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            yield from _submodels(a)
    elif origin in (list, tuple):
        for sub, _ in _submodels(typing.get_args(tp)[0]):
            yield sub, True
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp, False


def rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(key path, type, default) for every key of `model`, depth first; lists of mappings end in `[]`."""
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        label = TYPES.get(key) or TYPES.get(key.removeprefix("meshes[]."))
        label = label or _label(field.annotation, list(field.metadata))
        yield key, label, _default(field, label)
        for sub, is_list in _submodels(field.annotation):
            yield from rows(sub, f"{key}[]." if is_list else f"{key}.")


def _keys() -> list[str]:
    return [key for _, prefix, model, _ in FILES for key, _, _ in rows(model, prefix)]


def missing_descriptions() -> list[str]:
    return [key for key in _keys() if key not in DESCRIPTIONS]


def stale_descriptions() -> list[str]:
    keys = set(_keys())
    return sorted(k for k in [*DESCRIPTIONS, *TYPES] if k not in keys and f"meshes[].{k}" not in keys)


def render() -> str:
    out = [
        "# Configuration reference",
        "",
        "Every key the agent reads, with its type, default and meaning. Generated from the schemas by",
        "`python -m durantic_agent.config.reference > docs/config.md`; a unit test keeps the two in step.",
        "`durantic config check FILE` validates an agent.yaml; `durantic apply --dry-run -f FILE` an objects file.",
        "A key not listed here is an error (`unknown key`).",
        "",
    ]
    for title, prefix, model, what in FILES:
        out += [f"## {title}", "", what, "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, label, default in rows(model, prefix):
            desc = DESCRIPTIONS.get(key, "").replace("|", "\\|")
            out.append(f"| `{key}` | {label} | {default} | {desc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
