"""`apply -f` input: YAML, JSON (parsed by json), and flow-style YAML that only looks like JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from durantic_agent.cli.commands.objects import _load_file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "announcements:\n- name: a\n  route: 10.0.0.0/24\n",
            {"announcements": [{"name": "a", "route": "10.0.0.0/24"}]},
        ),
        (
            '{"announcements": [{"name": "a", "route": "10.0.0.0/24"}]}',
            {"announcements": [{"name": "a", "route": "10.0.0.0/24"}]},
        ),
        (
            "{announcements: [{name: a, route: 10.0.0.0/24}]}",
            {"announcements": [{"name": "a", "route": "10.0.0.0/24"}]},
        ),
        ('  {"med": 10, "enabled": true, "x": null}', {"med": 10, "enabled": True, "x": None}),
    ],
)
def test_load_file_yaml_and_json(tmp_path: Path, text: str, expected: object) -> None:
    f = tmp_path / "objects"
    f.write_text(text)
    doc, raw = _load_file(str(f))
    assert doc == expected
    # JSON goes on to the agent as the file's own bytes; anything else is re-encoded
    assert raw == (f.read_bytes() if text.lstrip().startswith('{"') else None)


def test_load_file_bad_yaml_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("{announcements: [\n")
    with pytest.raises(SystemExit) as e:
        _load_file(str(f))
    assert e.value.code == 2
