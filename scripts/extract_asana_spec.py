#!/usr/bin/env python3
"""
Trim Asana's OpenAPI spec to the paths this project emulates and every component they reach through ``$ref``.

Kept: ``openapi``, ``info``, the paths in :data:`PATHS` (and ``--path``), the components in :data:`COMPONENTS`
(and ``--component``), every component those reach, transitively, and ``x-source-operations``: the full spec's
path -> methods, so a test can probe the emulator with every Asana route.

The tests check the emulator against the extract (``tests/asana_spec/asana_oas_extract.yaml``), so a clone
needs no copy of the 3 MB spec. Regenerate it from Asana/openapi's ``defs/asana_oas.yaml``::

    python scripts/extract_asana_spec.py path/to/asana_oas.yaml --source-build 2026-06-11

The output depends only on the source and the options: the same input gives the same file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

PATHS = (
    # Served by the emulator (airflow_provider_asana/emulator/api.py).
    "/organization_exports",
    "/organization_exports/{organization_export_gid}",
    "/users/{user_gid}",
    "/workspaces",
    # Emulated next (issue 13): resource and graph exports and the job that tracks them.
    "/exports/resource",
    "/exports/graph",
    "/jobs/{job_gid}",
)
COMPONENTS = (
    # The full workspace: /workspaces answers with its fields when opt_fields asks for them.
    "#/components/schemas/WorkspaceResponse",
    # The objects of resource and graph export files (the emulator's tests validate each line against them).
    "#/components/schemas/TaskResponse",
    "#/components/schemas/TeamResponse",
    "#/components/schemas/StoryCompact",
    "#/components/schemas/AttachmentResponse",
    "#/components/schemas/StatusUpdateResponse",
    "#/components/schemas/ProjectResponse",
    "#/components/schemas/SectionResponse",
)
SOURCE = "Asana/openapi defs/asana_oas.yaml, https://github.com/Asana/openapi/blob/master/defs/asana_oas.yaml"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "asana_spec" / "asana_oas_extract.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SOURCE_OPERATIONS_KEY = "x-source-operations"
_COMPONENT_PREFIX = "#/components/"


class SpecError(ValueError):
    """The source spec lacks a requested path, or a ``$ref`` points outside its components."""


def refs(node: Any) -> Iterator[str]:
    """Yield every ``$ref`` string in a YAML tree, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def component_key(ref: str) -> tuple[str, str]:
    """``#/components/schemas/Foo`` (or a pointer inside it) -> ``("schemas", "Foo")``."""
    parts = [_unescape(part) for part in ref.removeprefix(_COMPONENT_PREFIX).split("/")]
    if not ref.startswith(_COMPONENT_PREFIX) or len(parts) < 2:
        raise SpecError(f"$ref {ref!r} does not point into #/components/: only local component refs are kept")
    return parts[0], parts[1]


def _unescape(token: str) -> str:
    """A JSON pointer token as the key it names (RFC 6901)."""
    return token.replace("~1", "/").replace("~0", "~")


def resolve(spec: dict[str, Any], ref: str) -> Any:
    """The node a local ``$ref`` points to; :class:`SpecError` naming the ref if it is not there."""
    node: Any = spec
    for part in map(_unescape, ref.removeprefix("#/").split("/")):
        try:
            node = node[int(part) if isinstance(node, list) else part]
        except (KeyError, IndexError, TypeError, ValueError):
            raise SpecError(f"$ref {ref!r} does not resolve: no {part!r} there") from None
    return node


def extract(spec: dict[str, Any], paths: Iterable[str], components: Iterable[str] = ()) -> dict[str, Any]:
    """
    The spec's ``openapi``, ``info``, the given paths and components, and every component they reach.

    Paths and components keep the source's order, so the result does not depend on the order of the arguments.

    :param spec: the full OpenAPI document, as loaded from YAML.
    :param paths: path templates exactly as the spec spells them, e.g. ``/users/{user_gid}``.
    :param components: more roots, as ``$ref`` strings, e.g. ``#/components/schemas/WorkspaceResponse``.
    :raises SpecError: a path is not in the spec, or a root or a reachable ``$ref`` does not resolve.
    """
    wanted = set(paths)
    missing = sorted(wanted - set(spec["paths"]))
    if missing:
        raise SpecError(
            f"paths not in the spec: {', '.join(missing)}; spell them as the spec's `paths` keys do "
            "(templates such as /users/{user_gid}, not /users/me)"
        )
    kept_paths = {path: item for path, item in spec["paths"].items() if path in wanted}
    reached: set[tuple[str, str]] = set()
    pending = [*refs(kept_paths), *components]
    while pending:
        ref = pending.pop()
        key = component_key(ref)
        if key in reached:
            continue
        resolve(spec, ref)
        reached.add(key)
        pending.extend(refs(spec["components"][key[0]][key[1]]))
    kept_components = {
        section: {name: entry for name, entry in entries.items() if (section, name) in reached}
        for section, entries in spec.get("components", {}).items()
    }
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        SOURCE_OPERATIONS_KEY: source_operations(spec),
        "paths": kept_paths,
        "components": {section: entries for section, entries in kept_components.items() if entries},
    }


def source_operations(spec: dict[str, Any]) -> dict[str, list[str]]:
    """
    Every operation of the source, as path -> methods: what the tests probe the emulator with.

    An extract of an extract keeps the list it was given, so the list always names the full spec's operations.
    """
    if SOURCE_OPERATIONS_KEY in spec:
        return spec[SOURCE_OPERATIONS_KEY]
    return {path: [m for m in item if m in HTTP_METHODS] for path, item in spec["paths"].items()}


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(document: dict[str, Any]) -> str:
    """YAML text of a document, the same for the same document on any platform (pure-Python dumper)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def load(text: str | bytes) -> dict[str, Any]:
    """Parse a YAML document (the C loader when available: the full spec is 3 MB)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def header(
    spec: dict[str, Any],
    *,
    source_sha256: str,
    extracted: str,
    source_build: str | None,
    extra_paths: Sequence[str],
    extra_components: Sequence[str],
) -> str:
    """The comment block on top of the extract: where it comes from and how to make it again."""
    command = "python scripts/extract_asana_spec.py path/to/asana_oas.yaml"
    if source_build:
        command += f" --source-build {source_build}"
    command += "".join(f" --path '{path}'" for path in extra_paths)
    command += "".join(f" --component '{ref}'" for ref in extra_components)
    build = f"build of {source_build} (--source-build)" if source_build else "build date not given"
    lines = [
        "generated: do not edit.",
        "Asana's OpenAPI spec trimmed to the paths this project emulates and the components they reach.",
        f"source: {SOURCE}",
        f"source version: openapi {spec['openapi']}, info.version {spec['info'].get('version')}; {build}",
        f"source sha256: {source_sha256}",
        f"extracted: {extracted}",
        f"regenerate: {command}",
    ]
    return "".join(f"# {line}\n" for line in lines)


def body(text: str) -> str:
    """An extract's YAML below its header comment: what must not change between runs on the same source."""
    lines = text.splitlines(keepends=True)
    start = next((index for index, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join(lines[start:])


def _iso_date(value: str) -> str:
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: give YYYY-MM-DD") from None


def main(argv: Sequence[str] | None = None) -> int:
    summary = __doc__.strip().splitlines()[0]
    parser = argparse.ArgumentParser(prog="extract_asana_spec.py", description=summary)
    parser.add_argument("source", type=Path, help="Asana's full OpenAPI spec (defs/asana_oas.yaml)")
    parser.add_argument(
        "--path", action="append", default=[], dest="extra_paths", metavar="TEMPLATE",
        help="one more path template to keep (repeatable), e.g. '/tasks/{task_gid}'",
    )  # fmt: skip
    parser.add_argument(
        "--component", action="append", default=[], dest="extra_components", metavar="REF",
        help="one more component to keep (repeatable), e.g. '#/components/schemas/TaskResponse'",
    )  # fmt: skip
    parser.add_argument(
        "--date", type=_iso_date, default=datetime.date.today().isoformat(),
        help="the extraction date the header states, YYYY-MM-DD (default: today)",
    )  # fmt: skip
    parser.add_argument(
        "--source-build",
        help="the source's build date as its publisher gives it, e.g. 2026-06-11 (the spec states none)",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT,
        help="where to write, '-' for stdout (default: tests/asana_spec/asana_oas_extract.yaml)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        raw = args.source.read_bytes()
    except OSError as error:
        parser.error(f"source: cannot read {args.source}: {error.strerror}")
    try:
        spec = load(raw)
        document = extract(spec, [*PATHS, *args.extra_paths], [*COMPONENTS, *args.extra_components])
    except (SpecError, yaml.YAMLError) as error:
        parser.error(f"source {args.source}: {error}")
    text = header(
        spec,
        source_sha256=hashlib.sha256(raw).hexdigest(),
        extracted=args.date,
        source_build=args.source_build,
        extra_paths=args.extra_paths,
        extra_components=args.extra_components,
    ) + dump(document)
    if str(args.output) == "-":
        sys.stdout.write(text)
    else:
        partial = args.output.with_name(args.output.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(args.output)
        size = len(text.encode())
        print(f"wrote {args.output}: {size:,} bytes, {len(document['paths'])} paths", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
