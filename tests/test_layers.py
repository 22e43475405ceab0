"""The package's rooms import only downwards: core <- components <- program <- offline; core <- notify <- admin.

A newcomer can trust the tree: nothing in ``gitops/core`` knows about Pulumi resources, CLIs or chat.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.harness import ROOT

ALLOWED = {
    "gitops.core": {"gitops.core"},
    "components": {"gitops.core", "components"},
    "gitops.program": {"gitops.core", "components"},
    "gitops.notify": {"gitops.core", "gitops.notify"},
    "gitops.admin": {"gitops.core", "gitops.notify", "gitops.admin"},
    "gitops.offline": {"gitops.core", "gitops.program", "gitops.offline"},
    "gitops.localcluster": {"gitops.core", "gitops.localcluster"},
}


def room_of(module: str) -> str | None:
    for room in sorted(ALLOWED, key=len, reverse=True):
        if module == room or module.startswith(room + "."):
            return room
    return None


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module + ("" if node.module != "gitops" else "." + node.names[0].name))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("gitops", "components")}


SOURCES = sorted([*(ROOT / "gitops").rglob("*.py"), *(ROOT / "components").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_imports_only_point_down(path: Path) -> None:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    room = room_of(module)
    if room is None:  # gitops/cli.py and the entry points sit on top and may use every room
        return
    wrong = {m for m in imports(path) if room_of(m) not in ALLOWED[room]}
    assert not wrong, f"{module} ({room}) imports {sorted(wrong)}"


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _edges(path: Path, known: set[str]) -> set[str]:
    """Every project module ``path`` imports, at any depth of the file (a lazy import inside a function is
    still a dependency), with ``from package import module`` resolved to the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known}


def test_no_import_cycle_in_the_project() -> None:
    modules = {_module_of(p): p for p in SOURCES}
    graph = {name: _edges(path, set(modules)) - {name} for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [name, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
