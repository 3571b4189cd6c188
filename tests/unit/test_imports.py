"""The import graph, read from the source: no cycles; the generated GoBGP stubs only under gobgp/; pyroute2
only under netlink/ and wg/; adapters import only the core types and shared utilities, never upward."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "durantic_agent"
ADAPTERS = ("gobgp", "netlink", "wg")
# What an adapter may import from the agent besides its own package.
SHARED = {"core", "errors", "aioutil", "procutil"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> every module it imports (absolute names; `from x import y` counts x and x.y)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if "_gobgp" in path.parts:
            continue
        mod = _module(path)
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = deps
    return graph


GRAPH = _imports()
INTERNAL = {m: {d for d in deps if d in GRAPH and d != m} for m, deps in GRAPH.items()}


def _area(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(INTERNAL[m]):
            if d.startswith(m + "."):
                continue  # a package importing its own submodules
            if state.get(d) == 1:
                cycles.append(" -> ".join([*stack[stack.index(d) :], d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(INTERNAL):
        if m not in state:
            visit(m)
    assert cycles == []


def test_generated_stubs_only_under_gobgp() -> None:
    """The stubs, and gobgp/pb.py that re-exports them: only gobgp/ builds GoBGP requests."""
    stubs = ("durantic_agent._gobgp", "durantic_agent.gobgp.pb")
    bad = sorted(m for m, deps in GRAPH.items() if any(d.startswith(stubs) for d in deps) and _area(m) != "gobgp")
    assert bad == []


def test_pyroute2_only_under_netlink_and_wg() -> None:
    bad = sorted(
        m
        for m, deps in GRAPH.items()
        if any(d.split(".")[0] == "pyroute2" for d in deps) and _area(m) not in ("netlink", "wg")
    )
    assert bad == []


def test_adapters_import_only_the_core_and_shared_utilities() -> None:
    bad = []
    for m, deps in INTERNAL.items():
        area = _area(m)
        if area not in ADAPTERS:
            continue
        for d in sorted(deps):
            if _area(d) not in {area, *SHARED} and d != "durantic_agent":
                bad.append(f"{m} -> {d}")
    assert bad == []


def test_core_imports_nothing_of_the_agent() -> None:
    bad = [f"{m} -> {d}" for m, deps in INTERNAL.items() if _area(m) == "core" for d in deps if _area(d) != "core"]
    assert bad == []


# Field names of GoBGP's policy messages (DefinedSet, Statement, PolicyAssignment): spelt only where the
# messages are built.
_GOBGP_POLICY_FIELDS = {
    "defined_type",
    "ip_prefix",
    "mask_length_min",
    "mask_length_max",
    "prefix_set",
    "neighbor_set",
    "community_set",
    "large_community_set",
    "as_path_set",
    "as_path_length",
    "route_action",
    "default_action",
}


def test_only_gobgp_builds_gobgp_policy_messages() -> None:
    """The policy layer hands the adapter core/policies types; only gobgp/ turns them into GoBGP's shapes."""
    bad = []
    for path in ROOT.rglob("*.py"):
        mod = _module(path)
        if "_gobgp" in path.parts or _area(mod) == "gobgp":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in _GOBGP_POLICY_FIELDS:
                bad.append(f"{mod}: {node.value!r}")
    assert bad == []


def test_policy_decisions_do_not_import_the_adapters() -> None:
    control = [m for m in INTERNAL if _area(m) in ("policy", "mesh_policy", "peer_policy")]
    assert control
    bad = [f"{m} -> {d}" for m in control for d in sorted(INTERNAL[m]) if _area(d) in ADAPTERS]
    assert bad == []
