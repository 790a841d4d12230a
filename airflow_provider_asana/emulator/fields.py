"""``opt_fields``: which properties of a resource an answer carries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Tree = dict[str, "Tree"]
ALWAYS = ("gid", "resource_type")


def parse(values: Iterable[str]) -> Tree:
    """
    Turn ``opt_fields`` values (comma-separated, possibly repeated) into a tree of property paths.

    ``organization.name`` implies ``organization``.
    """
    tree: Tree = {}
    for value in values:
        for path in value.split(","):
            node = tree
            for part in path.strip().split("."):
                if part:
                    node = node.setdefault(part, {})
    return tree


def project(resource: Any, tree: Tree) -> Any:
    """
    Select the part of ``resource`` that ``tree`` names; ``gid`` and ``resource_type`` are always kept.

    A selected nested resource without selected sub-properties is reduced to ``gid`` and
    ``resource_type``; unknown names are ignored.
    """
    if isinstance(resource, list):
        return [project(item, tree) for item in resource]
    if not isinstance(resource, Mapping):
        return resource
    return {
        key: project(value, tree.get(key, {}))
        for key, value in resource.items()
        if key in ALWAYS or key in tree
    }


def select(resource: Any, opt_fields: list[str] | None, default: Tree) -> Any:
    """Project ``resource`` on the requested ``opt_fields``, or on ``default`` when none were sent."""
    return project(resource, parse(opt_fields) if opt_fields else default)
