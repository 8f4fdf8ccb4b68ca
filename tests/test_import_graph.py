"""The import graph of the four packages: no cycle among modules, and each package imports only
from the packages before it (DESIGN.md: ssae -> circuits -> probes -> shift).

The graph is read from the source (`ast`), not from `sys.modules`, so it sees every import a
module can run: at module level, inside functions (a lazy import is still a dependency), and under
`if TYPE_CHECKING:` (a type-only import is still part of the design). `from P import name` is an
edge to the submodule `P.name` when there is one, else to the package `P` itself (its `__init__`
must have run); `import a.b` is an edge to `a.b`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ssae", "circuits", "probes", "shift")
"""Lowest first: a module may import from its own package and those before it."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in LAYERS for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The toolkit modules `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    out.add(sub)
                elif base in modules:
                    out.add(base)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "shift.config" in graph["shift.commands.run"]  # module level
    assert "shift.pipeline" in graph["shift.commands.run"]  # inside the command function
    assert "ssae.models" in graph["shift.stages.context"]  # under TYPE_CHECKING
    assert set(LAYERS) <= graph.keys() and len(graph) > 100


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package", LAYERS)
def test_each_package_imports_only_from_the_packages_before_it(package):
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in allowed
    )
    assert not wrong, f"{package} may import only from {sorted(allowed)}: {wrong}"
