"""
Asana's OpenAPI spec as the tests read it: ``asana_oas_extract.yaml``, made by
``scripts/extract_asana_spec.py`` from Asana/openapi's ``defs/asana_oas.yaml`` (its header says which build
and how to regenerate it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

EXTRACT_PATH = Path(__file__).with_name("asana_oas_extract.yaml")
SCRIPT_PATH = Path(__file__).parents[2] / "scripts" / "extract_asana_spec.py"


def extract_script() -> ModuleType:
    """``scripts/extract_asana_spec.py`` as a module (``scripts/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("extract_asana_spec", SCRIPT_PATH)
    assert spec is not None, f"cannot load {SCRIPT_PATH}"
    assert spec.loader is not None, f"cannot load {SCRIPT_PATH}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_extract() -> dict[str, Any]:
    """The shipped extract, parsed."""
    return extract_script().load(EXTRACT_PATH.read_bytes())
