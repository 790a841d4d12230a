"""The shipped spec extract is whole and current; scripts/extract_asana_spec.py keeps exactly what it must."""

from __future__ import annotations

import copy
import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.asana_spec import EXTRACT_PATH, SCRIPT_PATH, extract_script, load_extract

script = extract_script()
NO_ROUTE = "No matching route for request"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return load_extract()


def _run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The script as a user runs it."""
    return subprocess.run(
        [sys.executable, str(SCRIPT_PATH), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _lookup(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _all_refs(v)]
    if isinstance(node, list):
        return [r for item in node for r in _all_refs(item)]
    return []


def test_every_ref_in_the_shipped_extract_resolves_inside_it(shipped: dict) -> None:
    refs = _all_refs(shipped)
    unresolved = []
    for ref in sorted(set(refs)):
        try:
            _lookup(shipped, ref)
        except (KeyError, TypeError):
            unresolved.append(ref)

    assert len(refs) > 50
    assert not unresolved, f"refs that point outside the extract: {unresolved}"


def test_every_asana_route_the_emulator_serves_is_in_the_extract(shipped: dict, asana_emulator) -> None:
    """Probe the emulator with every operation in Asana's spec: those it routes must be in the extract."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {asana_emulator.token}"
    routed, probed = set(), 0
    for path, methods in shipped[script.SOURCE_OPERATIONS_KEY].items():
        url = asana_emulator.api_url + re.sub(r"\{[^}]+\}", "1200000000000999", path)
        for method in methods:
            response = session.request(method.upper(), url, timeout=10)
            probed += 1
            if not (response.status_code == 404 and NO_ROUTE in response.text):
                routed.add((path, method))
    session.close()
    in_extract = {(path, method) for path, item in shipped["paths"].items() for method in item}

    assert probed > 200, "x-source-operations should list every operation of Asana's spec"
    assert ("/organization_exports", "post") in routed, f"the probe misses the emulator's routes: {routed}"
    assert len(routed) < probed / 10, f"the probe sees routes everywhere: {len(routed)} of {probed}"
    assert routed <= in_extract, f"served by the emulator, not in the extract: {sorted(routed - in_extract)}"


def test_the_shipped_extract_is_what_the_script_makes_of_it(tmp_path: Path) -> None:
    """
    Re-extracting the extract changes nothing below the header: it holds no component its paths do not
    reach, every path and component the script lists, and the script's current output format.
    """
    header = EXTRACT_PATH.read_text().split("\nopenapi:")[0]
    date = re.search(r"^# extracted: (\S+)$", header, re.MULTILINE)
    assert date, f"no '# extracted:' line in the header of {EXTRACT_PATH}"
    output = tmp_path / "again.yaml"

    result = _run_script(EXTRACT_PATH, "--date", date[1], "--output", output)

    assert result.returncode == 0, result.stderr
    assert script.body(output.read_text()) == script.body(EXTRACT_PATH.read_text()), (
        "the shipped extract is stale: regenerate it with the command in its header"
    )


def test_the_shipped_extract_says_where_it_comes_from() -> None:
    lines = EXTRACT_PATH.read_text().splitlines()
    header = "\n".join(line for line in lines[:12] if line.startswith("#"))

    assert "# generated: do not edit" in header
    assert "Asana/openapi defs/asana_oas.yaml" in header
    version = r"^# source version: openapi 3\.\S+, info\.version \S+; build of \d{4}-\d\d-\d\d"
    assert re.search(version, header, re.M)
    assert re.search(r"^# source sha256: [0-9a-f]{64}$", header, re.M)
    assert re.search(r"^# extracted: \d{4}-\d\d-\d\d$", header, re.M)
    assert "# regenerate: python scripts/extract_asana_spec.py path/to/asana_oas.yaml" in header


def _ref(section: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{section}/{name}"}


def _synthetic_spec() -> dict[str, Any]:
    """Three paths; components chained across sections, in a cycle, some reached only from a dropped path."""
    json_of = lambda schema: {"content": {"application/json": {"schema": schema}}}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Synthetic", "version": "7"},
        "servers": [{"url": "https://example.test"}],
        "tags": [{"name": "t"}],
        "paths": {
            "/b": {"delete": {"responses": {"204": {"description": "gone"}}}},
            "/kept": {
                "parameters": [_ref("parameters", "limit")],
                "get": {"responses": {"200": _ref("responses", "KeptOk")}},
                "post": {
                    "requestBody": json_of(_ref("schemas", "Request")),
                    "responses": {"201": _ref("responses", "KeptOk")},
                },
            },
            "/dropped": {"get": {"responses": {"200": _ref("responses", "DroppedOk")}}},
        },
        "components": {
            "schemas": {
                "Unused": {"type": "string"},
                "A": {"allOf": [_ref("schemas", "B"), {"properties": {"a": {"type": "string"}}}]},
                "B": {"properties": {"c": {"type": "array", "items": _ref("schemas", "C")}}},
                "C": {"properties": {"self": _ref("schemas", "C"), "back": _ref("schemas", "A")}},
                "Limit": {"type": "integer"},
                "Request": {"type": "object"},
                "OnlyDropped": _ref("schemas", "AlsoOnlyDropped"),
                "AlsoOnlyDropped": {"type": "object"},
                "Root": {"properties": {"x": _ref("schemas", "Limit"), "y": _ref("schemas", "RootChild")}},
                "RootChild": {"type": "boolean"},
            },
            "parameters": {
                "limit": {"name": "limit", "in": "query", "schema": _ref("schemas", "Limit")},
                "unused": {"name": "offset", "in": "query", "schema": {"type": "string"}},
            },
            "responses": {
                "KeptOk": {"description": "ok", **json_of(_ref("schemas", "A"))},
                "DroppedOk": {"description": "ok", **json_of(_ref("schemas", "OnlyDropped"))},
            },
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }


def test_extract_keeps_chained_refs_and_drops_the_rest() -> None:
    spec = _synthetic_spec()

    result = script.extract(spec, ["/kept"])

    assert list(result) == ["openapi", "info", script.SOURCE_OPERATIONS_KEY, "paths", "components"]
    assert result["info"] == spec["info"]
    assert result["openapi"] == "3.0.0"
    assert result["paths"] == {"/kept": spec["paths"]["/kept"]}
    assert {section: list(entries) for section, entries in result["components"].items()} == {
        "schemas": ["A", "B", "C", "Limit", "Request"],
        "parameters": ["limit"],
        "responses": ["KeptOk"],
    }
    assert result["components"]["schemas"]["C"] == spec["components"]["schemas"]["C"]
    operations = {"/b": ["delete"], "/kept": ["get", "post"], "/dropped": ["get"]}
    assert result[script.SOURCE_OPERATIONS_KEY] == operations


def test_extract_keeps_named_components_and_what_they_reach() -> None:
    spec = _synthetic_spec()

    result = script.extract(spec, ["/b"], ["#/components/schemas/Root"])

    schemas = spec["components"]["schemas"]
    assert result["paths"] == {"/b": spec["paths"]["/b"]}
    assert result["components"] == {"schemas": {key: schemas[key] for key in ("Limit", "Root", "RootChild")}}


def test_extract_follows_the_source_order_and_leaves_the_source_alone() -> None:
    spec = _synthetic_spec()
    before = copy.deepcopy(spec)

    one = script.extract(spec, ["/kept", "/dropped", "/b"])
    other = script.extract(spec, ["/dropped", "/b", "/kept", "/b"])

    assert script.dump(one) == script.dump(other)
    assert list(one["paths"]) == ["/b", "/kept", "/dropped"]
    kept = ["A", "B", "C", "Limit", "Request", "OnlyDropped", "AlsoOnlyDropped"]
    assert list(one["components"]["schemas"]) == kept
    assert spec == before


@pytest.mark.parametrize(
    ("change", "paths", "components", "message"),
    [
        (None, ["/kept", "/users/me"], [], "paths not in the spec: /users/me"),
        (None, ["/kept"], ["#/components/schemas/Nope"], "'#/components/schemas/Nope' does not resolve"),
        (("B", _ref("schemas", "Gone")), ["/kept"], [], "'#/components/schemas/Gone' does not resolve"),
        (("B", {"$ref": "other.yaml#/Thing"}), ["/kept"], [], "'other.yaml#/Thing' does not point into"),
        (("B", {"$ref": "#/paths/~1b"}), ["/kept"], [], "'#/paths/~1b' does not point into #/components/"),
    ],
)  # fmt: skip
def test_extract_names_what_it_cannot_find(change, paths: list, components: list, message: str) -> None:
    spec = _synthetic_spec()
    if change:
        spec["components"]["schemas"][change[0]] = change[1]

    with pytest.raises(script.SpecError, match=re.escape(message)):
        script.extract(spec, paths, components)


def test_dump_round_trips_the_shipped_extract(shipped: dict) -> None:
    assert script.load(script.dump(shipped)) == shipped


def test_the_script_writes_the_same_file_for_the_same_source(tmp_path: Path) -> None:
    spec = _synthetic_spec()
    spec["paths"]["/organization_exports"] = spec["paths"].pop("/kept")
    for path in set(script.PATHS) - {"/organization_exports"}:
        spec["paths"][path] = {"get": {"description": "x"}}
    for ref in script.COMPONENTS:
        spec["components"]["schemas"][ref.rsplit("/", 1)[1]] = {"type": "object"}
    source = tmp_path / "asana_oas.yaml"
    source.write_text(yaml.safe_dump(spec))
    first, second, today = tmp_path / "first.yaml", tmp_path / "second.yaml", tmp_path / "today.yaml"

    runs = [
        _run_script(source, "--date", "2026-06-12", "--source-build", "2026-06-11", "--output", first),
        _run_script(source, "--date", "2026-06-12", "--source-build", "2026-06-11", "--output", second),
        _run_script(source, "--output", today),
    ]

    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    assert first.read_bytes() == second.read_bytes()
    assert script.body(today.read_text()) == script.body(first.read_text())
    text = first.read_text()
    assert f"# source sha256: {hashlib.sha256(source.read_bytes()).hexdigest()}\n" in text
    assert "# extracted: 2026-06-12\n" in text
    assert "info.version 7; build of 2026-06-11" in text
    assert text.startswith("# generated: do not edit")
    assert script.load(text) == script.extract(spec, script.PATHS, script.COMPONENTS)
    assert "Unused" not in text
    assert "servers" not in script.load(text)


def test_the_script_refuses_a_path_the_source_lacks_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "asana_oas.yaml"
    source.write_text(yaml.safe_dump(_synthetic_spec()))
    output = tmp_path / "out.yaml"

    result = _run_script(source, "--output", output)

    assert result.returncode == 2
    assert "paths not in the spec: /exports/graph, /exports/resource, /jobs/{job_gid}" in result.stderr
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [source]
