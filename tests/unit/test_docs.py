"""The repository explains itself: the configuration reference matches the schemas, and every link in the
docs resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from durantic_agent.config.reference import missing_descriptions, render, stale_descriptions

ROOT = Path(__file__).resolve().parents[2]
_TEXT = {".py", ".md", ".yaml", ".yml", ".sh", ".toml", ".js", ".html", ".cfg"}
# The steering folder beside a checkout, spelt in pieces so this file does not itself point at it.
_DIR = "sha" + "red"
_OUTSIDE = re.compile(rf"\.\./{_DIR}|{_DIR}/notes|{_DIR}/DESIGN")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _markdown() -> list[Path]:
    skip = {".venv", ".git", "build", "dist", "node_modules"}
    return [p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts)]


def test_config_reference_is_current() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    assert doc == render(), "docs/config.md is stale: python -m durantic_agent.config.reference > docs/config.md"


def test_every_key_is_described() -> None:
    assert missing_descriptions() == []
    assert stale_descriptions() == []


def test_doc_links_resolve_inside_the_repository() -> None:
    broken: list[str] = []
    for md in _markdown():
        for target in _LINK.findall(md.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (md.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{md.relative_to(ROOT)}: {target}")
    assert broken == []


def test_nothing_points_outside_the_repository() -> None:
    offenders: list[str] = []
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if not p.is_file() or {".venv", ".git", ".stamps", "build", "dist"} & set(rel.parts):
            continue
        if p.suffix not in _TEXT and p.name != "Makefile":
            continue
        if p.resolve() == Path(__file__).resolve():
            continue
        text = p.read_text(errors="replace")
        if _OUTSIDE.search(text):
            offenders.append(str(rel))
    assert offenders == [], offenders
