"""
Lake tables: Asana exports as Delta Lake tables, one per record kind, with a change table each.

``load_organization_export`` and ``load_resource_export`` are imported on first use: importing this package costs nothing (DAG files import
operators that import it).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_asana.tables.load import load_organization_export, load_resource_export, recover

__all__ = ["load_organization_export", "load_resource_export", "recover"]


#: What the ``tables`` extra installs that these modules import.
EXTRA_MODULES = ("deltalake", "pyarrow", "duckdb", "isal", "xxhash")


def __getattr__(name: str) -> Any:
    if name in __all__:
        missing = [module for module in EXTRA_MODULES if importlib.util.find_spec(module) is None]
        if missing:
            raise ModuleNotFoundError(
                f"Lake tables need {', '.join(missing)}, which is not installed: install the provider with its "
                "tables extra, pip install 'airflow-provider-asana[tables]' (with your constraints file).",
                name=missing[0],
            )
        from airflow_provider_asana.tables import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
