"""The emulator's import graph, read from its source: no loops, stdlib only, sealed off both ways."""

from __future__ import annotations

import sys
from pathlib import Path

import airflow_provider_asana.emulator

from tests.import_graph import cycles, import_graph, imports, module_files

PACKAGE = "airflow_provider_asana.emulator"
PACKAGE_DIR = Path(airflow_provider_asana.emulator.__file__).parent
#: Third-party imports allowed, by module: the pytest plugin is loaded by pytest.
ALLOWED_THIRD_PARTY = {f"{PACKAGE}.pytest_plugin": {"pytest"}}


def test_the_emulator_has_no_import_loop() -> None:
    graph = import_graph(PACKAGE_DIR, PACKAGE)

    assert len(graph) > 10
    assert cycles(graph) == []


def test_the_emulator_imports_only_the_standard_library_and_itself() -> None:
    foreign = set()
    for module, path in module_files(PACKAGE_DIR, PACKAGE).items():
        for base, _ in imports(path, module):
            top = base.split(".")[0]
            own = base == PACKAGE or base.startswith(PACKAGE + ".")
            if (
                not own
                and top not in sys.stdlib_module_names
                and top not in ALLOWED_THIRD_PARTY.get(module, ())
            ):
                foreign.add(f"{module} imports {base}")

    assert foreign == set(), "the emulator must stay standalone (no provider code, no Airflow, stdlib only)"


def test_the_provider_never_imports_the_emulator() -> None:
    # What lets the emulator ship in the wheel: a worker running the provider never loads it.
    provider_dir = PACKAGE_DIR.parent
    uses = {
        f"{module} imports {target}"
        for module, path in module_files(provider_dir, provider_dir.name).items()
        if not module.startswith(PACKAGE)
        for base, name in imports(path, module)
        for target in [f"{base}.{name}" if name else base]
        if target == PACKAGE or target.startswith(PACKAGE + ".")
    }

    assert uses == set()


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_loop_through_type_checking_and_relative_imports_is_found(tmp_path: Path) -> None:
    package = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "from pkg.a import A\n",
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import b\nA = 1\n",
            "sub/__init__.py": "",
            "sub/b.py": "from .. import c\n",
            "c.py": "def f():\n    import pkg.a\n",
            "d.py": "from pkg import a, c\n",
        },
    )

    graph = import_graph(package, "pkg")

    assert graph == {
        "pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(), "pkg.sub.b": {"pkg.c"}, "pkg.c": {"pkg.a"},
        "pkg.d": {"pkg.a", "pkg.c"},
    }  # fmt: skip
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_a_graph_without_loops_has_no_cycles() -> None:
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]
