"""PyYAML's safe load (libyaml when present), with plain documents built straight from parser events.

Kept because `bench yaml-load` shows it loading a large generated route file several times faster than
`yaml.load(text, CSafeLoader)`, whose Python node per scalar and generic constructor cost most of its time.
Documents made only of mappings, sequences and untagged scalars without anchors (generated route
files) are built from the same parser's events, each scalar resolved with the loader's own implicit
resolvers (as BaseResolver.resolve does) and built by its own constructors, so the result is the one
PyYAML gives. Anything else (tags, anchors, aliases, merge keys, collection keys, a second document, any
error) is left to `yaml.load` itself, which then decides, or words the error, exactly as before.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_yaml"]

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
# implicitly resolved tags whose SafeConstructor builds a value from the scalar alone
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp"))


class _Unusual(Exception):
    """The document needs PyYAML's full composer and constructor."""


def load_yaml(text: str) -> Any:
    """What `yaml.load(text, Loader=CSafeLoader)` returns, or the error it raises."""
    try:
        return _load_plain(text)
    except Exception:  # _Unusual, or an error yaml.load words itself (at the same mark)
        pass
    return yaml.load(text, Loader=_LOADER)


def _load_plain(text: str) -> Any:
    loader = _LOADER(text)
    try:
        return _build(loader)
    finally:
        loader.dispose()


def _scalar(loader: Any, ev: Any, resolvers: dict[Any, Any]) -> Any:
    value: str = ev.value
    if not ev.implicit[0]:
        return value  # quoted: resolve() gives str when there is neither a tag nor a path resolver
    # BaseResolver.resolve for a plain scalar, given no wildcard and no path resolvers (checked in _build)
    tag = _STR
    for t, regexp in resolvers.get(value[:1], ()):
        if regexp.match(value):
            tag = t
            break
    if tag == _STR:
        return value
    if tag not in _SCALAR_TAGS:
        raise _Unusual(tag)  # merge keys, `=`, and the rest
    node = yaml.ScalarNode(tag, value, ev.start_mark, ev.end_mark, style=ev.style)
    return loader.yaml_constructors[tag](loader, node)


def _build(loader: Any) -> Any:
    resolvers = loader.yaml_implicit_resolvers
    if loader.yaml_path_resolvers or resolvers.get(None) or loader.DEFAULT_SCALAR_TAG != _STR:
        raise _Unusual("resolver")
    get = loader.get_event
    if not isinstance(get(), yaml.StreamStartEvent):
        raise _Unusual("stream start")
    ev = get()
    if isinstance(ev, yaml.StreamEndEvent):
        return None
    if not isinstance(ev, yaml.DocumentStartEvent):
        raise _Unusual("document start")
    # open collections, innermost last; for a mapping, its key waiting for a value (or _NO_KEY)
    stack: list[tuple[Any, list[Any]]] = []
    root: Any = None
    no_key = object()
    while True:
        ev = get()
        cls = type(ev)
        closed = False
        if cls is yaml.ScalarEvent:
            if ev.anchor is not None or ev.tag is not None:
                raise _Unusual("anchor or tag")
            obj = _scalar(loader, ev, resolvers)
        elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
            if ev.anchor is not None or ev.tag is not None:
                raise _Unusual("anchor or tag")
            stack.append(({} if cls is yaml.MappingStartEvent else [], [no_key]))
            continue
        elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
            obj, _ = stack.pop()
            closed = True
        elif cls is yaml.DocumentEndEvent:
            break
        else:  # aliases, and anything this reader does not expect
            raise _Unusual(cls.__name__)
        if not stack:
            root = obj
            continue
        top, key = stack[-1]
        if isinstance(top, list):
            top.append(obj)
        elif key[0] is no_key:
            if closed:
                raise _Unusual("collection as a key")  # PyYAML's error for the unhashable key
            key[0] = obj
        else:
            top[key[0]] = obj
            key[0] = no_key
    if not isinstance(get(), yaml.StreamEndEvent):
        raise _Unusual("more than one document")  # yaml.load raises for it
    return root
