"""
OpenLineage datasets for what the operators read (an Asana organization) and write (a file, Delta tables).

Stores are named by :mod:`airflow_provider_asana.download.naming` (the OpenLineage naming spec, without the
connection id); the Asana organization is ``asana://<API host>`` + ``organization/<gid>``
(``asana://app.asana.com`` for Asana itself). docs/lineage.md states the scheme and the facets for users.

Nothing here imports OpenLineage at module import: the ``*_dataset`` and :func:`operator_lineage` functions
import it when called, which happens only when the OpenLineage provider asks an operator for its lineage.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_asana.download.naming import storage_naming

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset, OutputDataset
    from airflow.providers.openlineage.extractors import OperatorLineage

ASANA_SCHEME = "asana"


def organization_naming(base_url: str, organization_gid: str) -> tuple[str, str]:
    """
    Return the OpenLineage ``(namespace, name)`` of an Asana organization.

    :param base_url: The connection's API base URL: its host (and port) is the namespace's authority, so
        Asana itself is ``asana://app.asana.com`` and an emulator ``asana://127.0.0.1:<port>``.
    :param organization_gid: The organization's gid.
    """
    authority = urlsplit(base_url).netloc.rsplit("@", 1)[-1].lower()
    return f"{ASANA_SCHEME}://{authority}", f"organization/{organization_gid}"


def openlineage_installed() -> bool:
    """Tell whether Airflow's OpenLineage provider is installed, without importing it."""
    try:
        return importlib.util.find_spec("airflow.providers.openlineage") is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


def organization_dataset(base_url: str, organization_gid: str) -> Dataset:
    """Return the Asana organization as an OpenLineage dataset (an input)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = organization_naming(base_url, organization_gid)
    return Dataset(namespace=namespace, name=name)


def file_dataset(uri: str, *, size: int, sha256: str, azure_account: str | None = None) -> OutputDataset:
    """
    Return a landed file as an OpenLineage dataset (an output) with its size and checksum.

    Facets: ``outputStatistics`` (``size`` in bytes, ``fileCount`` 1) and ``version`` (``datasetVersion``:
    the hex SHA-256 of the bytes, the file's content version).
    """
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet

    namespace, name = storage_naming(uri, azure_account=azure_account)
    return OutputDataset(
        namespace=namespace,
        name=name,
        facets={"version": DatasetVersionDatasetFacet(datasetVersion=sha256)},
        outputFacets={"outputStatistics": OutputStatisticsOutputDatasetFacet(size=size, fileCount=1)},
    )


def source_dataset(uri: str, *, azure_account: str | None = None) -> Dataset:
    """Return a file read as an OpenLineage dataset (an input)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = storage_naming(uri, azure_account=azure_account)
    return Dataset(namespace=namespace, name=name)


def table_dataset(
    uri: str,
    *,
    rows: int,
    version: int | None,
    schema_json: str | None,
    azure_account: str | None = None,
) -> OutputDataset:
    """
    Return a Delta table written as an OpenLineage dataset (an output).

    Facets: ``schema`` (the table's columns and their Delta types, nested for structs), ``storage``
    (``delta``, ``parquet``), ``version`` (the Delta version the load committed) and ``outputStatistics``
    (``rowCount``: the rows of the snapshot written).

    :param schema_json: The table's Delta schema as JSON (``DeltaTable.schema().to_json()``); None omits the
        schema facet.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SchemaDatasetFacet,
    )
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.storage_dataset import StorageDatasetFacet

    namespace, name = storage_naming(uri, azure_account=azure_account)
    facets: dict[str, Any] = {"storage": StorageDatasetFacet(storageLayer="delta", fileFormat="parquet")}
    if schema_json is not None:
        facets["schema"] = SchemaDatasetFacet(fields=_schema_fields(json.loads(schema_json)["fields"]))
    if version is not None:
        facets["version"] = DatasetVersionDatasetFacet(datasetVersion=str(version))
    return OutputDataset(
        namespace=namespace,
        name=name,
        facets=facets,
        outputFacets={"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows)},
    )


def operator_lineage(inputs: Sequence[Dataset], outputs: Sequence[Dataset]) -> OperatorLineage:
    """Wrap datasets in the OpenLineage provider's ``OperatorLineage``."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=list(inputs), outputs=list(outputs))


def _schema_fields(fields: list[dict[str, Any]]) -> list[Any]:
    """Map Delta schema JSON fields to OpenLineage schema fields (structs nested, arrays and maps by name)."""
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacetFields

    mapped = []
    for field in fields:
        kind = field["type"]
        if isinstance(kind, str):
            mapped.append(SchemaDatasetFacetFields(name=field["name"], type=kind))
        elif kind.get("type") == "struct":
            nested = _schema_fields(kind["fields"])
            mapped.append(SchemaDatasetFacetFields(name=field["name"], type="struct", fields=nested))
        else:
            mapped.append(SchemaDatasetFacetFields(name=field["name"], type=str(kind.get("type"))))
    return mapped
