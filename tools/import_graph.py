"""The drawing of ``helpers/`` from its imports: rooms, floors, arrows, circles, imports up.

    python tools/import_graph.py            # the figures and the circles, if any
    python tools/import_graph.py --edges    # every arrow, module -> module

Every ``import`` and ``from ... import`` of a ``helpers`` module counts as an arrow, at the top
of a file or inside a function (an import inside a function hides a dependency; it does not
remove it). A room is a package (a folder); a floor is a module's height above the modules that
import nothing of the course's (a module sits one floor above the highest it imports); a circle
is a set of modules that import one another round; an import up is an arrow to a module on the
same floor or higher (only a circle makes one). tests/test_architecture.py asserts that there
are no circles and no imports up.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "helpers"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _targets(node: ast.AST, name: str, is_package: bool, known: set[str]) -> Iterable[str]:
    """The package's modules that one import statement of module ``name`` reaches."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _longest(alias.name, known)
        return
    if not isinstance(node, ast.ImportFrom):
        return
    base = node.module or ""
    if node.level:
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, *([base] if base else [])])
    for alias in node.names:
        full = f"{base}.{alias.name}"
        yield from ([full] if full in known else _longest(base, known))


def _longest(dotted: str, known: set[str]) -> Iterable[str]:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            yield ".".join(parts[:end])
            return


def edges(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the package's modules it imports (a package's __init__ is a module too)."""
    found = modules(root)
    known = set(found)
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            graph[name].update(t for t in _targets(node, name, is_package, known) if t != name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's floor, computed on the graph with each circle as one node."""
    group_of = {member: tuple(group) for group in circles(graph) for member in group}
    height: dict[str, int] = {}

    def floor(node: str, seen: frozenset = frozenset()) -> int:
        if node in height:
            return height[node]
        group = group_of.get(node, (node,))
        below = {t for member in group for t in graph[member] if t not in group}
        value = 1 + max((floor(t, seen | set(group)) for t in below), default=-1)
        for member in group:
            height[member] = value
        return value

    for node in graph:
        floor(node)
    return height


def summary(root: Path = ROOT) -> dict:
    graph = edges(root)
    height = floors(graph)
    arrows = sum(len(targets) for targets in graph.values())
    up = [(a, b) for a, targets in graph.items() for b in targets if height[b] >= height[a]]
    rooms = {name.rsplit(".", 1)[0] if not modules(root)[name].name == "__init__.py" else name
             for name in graph}
    return {"modules": len(graph), "rooms": len(rooms), "floors": max(height.values()) + 1,
            "arrows": arrows, "circles": circles(graph), "up": sorted(up)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every arrow")
    parser.add_argument("--root", type=Path, default=ROOT, help="another checkout")
    args = parser.parse_args(argv)
    figures = summary(args.root)
    print(f"{figures['modules']} modules in {figures['rooms']} rooms, {figures['floors']} floors, "
          f"{figures['arrows']} arrows, {len(figures['circles'])} circles, "
          f"{len(figures['up'])} imports up")
    for group in figures["circles"]:
        print("  circle:", " <-> ".join(group))
    for a, b in figures["up"]:
        print(f"  up: {a} -> {b}")
    if args.edges:
        for name, targets in sorted(edges(args.root).items()):
            for target in sorted(targets):
                print(f"{name} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
