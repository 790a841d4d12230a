"""What the transfers into object storage share: their templated switches, and their Asset events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset
from airflow.sdk.definitions.asset import AssetRef

if TYPE_CHECKING:
    from airflow.sdk import Context


def as_bool(value: Any, name: str) -> bool:
    """Read a bool, or the text a template renders a bool to."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(f"{name} must be True or False (or a template rendering 'true'/'false'); got {value!r}.")


def announce(context: Context, outlets: Iterable[Any], extra: dict[str, Any]) -> None:
    """
    Give each Asset in ``outlets`` an event whose extra is a copy of ``extra``.

    Each :class:`~airflow.sdk.Asset`, and each reference to one (``Asset.ref(name=...)``,
    ``Asset.ref(uri=...)``), gets one; an ``AssetAlias`` gets none.
    """
    for outlet in outlets:
        if isinstance(outlet, (Asset, AssetRef)):
            context["outlet_events"][outlet].extra = dict(extra)
