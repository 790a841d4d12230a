"""The provider's import graph, read from its source: no loops, and a download engine that knows no hook."""

from __future__ import annotations

from pathlib import Path

import airflow_provider_asana

from tests.import_graph import cycles, import_graph, imports, module_files

PACKAGE = "airflow_provider_asana"
PACKAGE_DIR = Path(airflow_provider_asana.__file__).parent
DOWNLOAD = f"{PACKAGE}.download"
#: What the download engine may import from the rest of the provider: the retry policy, the provider's
#: exceptions and its User-Agent. Nothing that knows Asana's API: no hook, no request building or error
#: mapping, no gids or export states, no operators.
DOWNLOAD_MAY_IMPORT = {f"{PACKAGE}.retry", f"{PACKAGE}.exceptions", f"{PACKAGE}.user_agent"}


def _is_in(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_the_provider_has_no_import_loop() -> None:
    graph = import_graph(PACKAGE_DIR, PACKAGE)

    assert {f"{PACKAGE}.hooks.asana", f"{DOWNLOAD}.engine", f"{PACKAGE}.retry"} <= set(graph)
    assert cycles(graph) == []


def test_the_download_engine_imports_no_hook_and_nothing_of_asanas_api() -> None:
    engine = module_files(PACKAGE_DIR / "download", DOWNLOAD)
    outside = {
        f"{module} imports {base}"
        for module, path in engine.items()
        for base, _ in imports(path, module)
        if _is_in(base, PACKAGE) and not _is_in(base, DOWNLOAD) and base not in DOWNLOAD_MAY_IMPORT
    }

    assert len(engine) >= 8
    assert outside == set()


def test_the_hook_uses_the_engine_through_its_entry_points_only() -> None:
    """The hook hands the engine a source; it never reaches into the stream, the pipeline or the writers."""
    module = f"{PACKAGE}.hooks.asana"
    used = {base for base, _ in imports(PACKAGE_DIR / "hooks" / "asana.py", module) if _is_in(base, DOWNLOAD)}

    assert used == {DOWNLOAD, f"{DOWNLOAD}.secrets"}
