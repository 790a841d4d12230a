"""
A package's import graph, read from its source with :mod:`ast` (nothing is imported), and its loops.

Every ``import`` statement counts, wherever it stands: inside functions and under ``if TYPE_CHECKING:``
too, because a loop that only type checkers follow still ties the files together for a reader.
Importing a submodule does not count as importing its parent package's ``__init__``.

Reusable for any package: ``cycles(import_graph(Path("airflow_provider_asana"), "airflow_provider_asana"))``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path


def module_files(package_dir: Path, package: str) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name (an ``__init__`` by its package's)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((package, *parts))] = path
    return modules


def imports(path: Path, module: str) -> Iterator[tuple[str, str | None]]:
    """
    What the file imports, relative imports made absolute: ``(module, None)`` for ``import module``,
    ``(module, name)`` for ``from module import name`` (``name`` may be a submodule or an attribute).
    """
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            yield from ((base, alias.name) for alias in node.names)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def import_graph(package_dir: Path, package: str) -> dict[str, set[str]]:
    """
    Module -> the modules of the same package it imports.

    :param package_dir: The package's folder, e.g. ``airflow_provider_asana/emulator``.
    :param package: Its dotted name, e.g. ``airflow_provider_asana.emulator``.
    """
    files = module_files(package_dir, package)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for module, path in files.items():
        for base, name in imports(path, module):
            target = f"{base}.{name}" if name is not None and f"{base}.{name}" in files else base
            if target in files and target != module:
                graph[module].add(target)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import loops: every strongly connected component of more than one module, sorted (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                on_stack.discard(member)
                component.append(member)
            on_stack.discard(node)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
