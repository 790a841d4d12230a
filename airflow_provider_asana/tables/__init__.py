"""
Lake tables: an Asana organization export as Delta Lake tables, one per record kind, with a change table each.

``load_organization_export`` is imported on first use: importing this package costs nothing (DAG files import
operators that import it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_asana.tables.load import load_organization_export, recover

__all__ = ["load_organization_export", "recover"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_provider_asana.tables import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
