"""The house rules that code review alone lets slip: imports point one way between packages.

Every import is counted, function-local ones included (a lazy import is for start-up time,
never a way to hide a cycle).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import deblur_cli

PACKAGE = Path(deblur_cli.__file__).parent


def _unit(module: str) -> str:
    """The capability unit a dotted module belongs to: `deblur_cli.weights.index` -> `weights`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the deblur_cli modules that `path` imports anywhere in its body."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("deblur_cli"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("deblur_cli"):
                found.add(target)
    return found


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = _unit(_module_name(path))
        for target in _imports(path):
            dest = _unit(target)
            if dest != source and dest != "__init__":
                graph[source].add(dest)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_packages_import_each_other_one_way() -> None:
    cycle = _find_cycle(_unit_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_in_the_core_imports_the_cli() -> None:
    graph = _unit_graph()
    offenders = sorted(s for s, dests in graph.items() if "cli" in dests and s not in ("cli", "__main__"))
    assert offenders == [], f"core packages importing cli/: {offenders}"


def test_errors_and_defaults_import_no_other_package() -> None:
    graph = _unit_graph()
    assert graph.get("errors", set()) == set()
    assert graph.get("defaults", set()) <= {"errors"}
