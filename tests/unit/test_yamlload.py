"""cli.yamlload: the same result (types included) or the same error as PyYAML's safe load."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from durantic_agent.cli import yamlload
from durantic_agent.cli.yamlload import load_yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (
            list(a) == list(b)
            and all(_same(k, k2) for k, k2 in zip(a, b, strict=True))
            and all(_same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


PLAIN = [
    "",
    "---\n",
    "~",
    "a: 1\n",
    "announcements:\n- name: r1\n  route: 10.0.0.0/24\n- name: r2\n  route: 10.0.1.0/24\n  med: 10\n",
    "{announcements: [{name: a, route: 10.0.0.0/24}]}",
    "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: true\nh: False\n",
    "a: 010\nb: 0x1F\nc: 0b101\nd: 1_000\ne: 190:20:30\nf: -0\ng: +12\n",
    "a: 1.5\nb: .inf\nc: -.INF\nd: .nan\ne: 1e3\nf: 1.0e+3\ng: 6.8523015e+5\nh: 190:20:30.15\n",
    "a: null\nb: ~\nc:\nd: Null\ne: ''\nf: \"\"\n",
    "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\n",
    "a: '1'\nb: \"true\"\nc: |\n  block\n  text\nd: >\n  folded\n  text\n",
    "1: a\n2.5: b\ntrue: c\nnull: d\n2001-01-01: e\n",
    "a: 1\na: 2\nb: 3\n",  # duplicate keys: the last value wins, in the first key's place
    "1: a\ntrue: b\n",  # equal keys of different types
    "- a\n- [b, c]\n- {d: e}\n- - f\n  - g\n",
    "a: 10.0.0.0/24\nb: fd00::/64\nc: '::1'\nd: 65000:100\ne: -x\nf: =x\ng: <<x\n",
    "key with spaces: value with:colon\n'quoted key': 1\n",
    "%YAML 1.1\n---\na: 1\n...\n",
    "a: !\n",
    "a:\n  b:\n    c:\n      d: [1, 2, {e: f}]\n",
    "é: ü\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_same_result_as_pyyaml(text: str) -> None:
    assert _same(load_yaml(text), yaml.load(text, Loader=_LOADER))


UNUSUAL = [
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",
    "a: !!str 1\nb: !!int '2'\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\n",
    "? [a, b]\n: c\n",
    "? {a: b}\n: c\n",
    "a: =\n",
    "=: a\n",
    "a: 1\n---\nb: 2\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "\tx: 1\n",
    "a: !foo 1\n",
    "a: 2001-13-45\n",
]


@pytest.mark.parametrize("text", UNUSUAL)
def test_unusual_documents_are_left_to_pyyaml(text: str) -> None:
    try:
        want: Any = ("ok", yaml.load(text, Loader=_LOADER))
    except Exception as e:
        want = ("error", type(e), str(e))
    try:
        got: Any = ("ok", load_yaml(text))
    except Exception as e:
        got = ("error", type(e), str(e))
    assert got[0] == want[0]
    if got[0] == "ok":
        assert _same(got[1], want[1])
    else:
        assert got[1:] == want[1:]


@pytest.mark.parametrize("text", ["a: &x 1\n", "a: !!str 1\n", "b: *x\n", "<<: {a: 1}\n", "a: 1\n---\nb: 2\n"])
def test_unusual_documents_leave_the_fast_path(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - _Unusual, or PyYAML's own error
        yamlload._load_plain(text)


def test_generated_routes_file() -> None:
    doc = {"announcements": [{"name": f"r{i:05d}", "route": f"10.{i // 256}.{i % 256}.0/24"} for i in range(2000)]}
    text = yaml.safe_dump(doc, sort_keys=False)
    assert _same(yamlload._load_plain(text), doc)
