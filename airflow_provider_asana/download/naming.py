"""
Name a file or object for lineage: each store's OpenLineage naming, without the connection id.

``ObjectStoragePath`` URIs carry an Airflow connection id, which no other tool puts in a name:
``s3://<conn_id>@bucket/key`` is namespace ``s3://bucket``, name ``key``; ``gs://bucket`` likewise;
``abfs://<conn_id>@container/path`` is ``abfss://container@<account>.dfs.core.windows.net`` + ``path``;
a local file is ``file`` + its absolute path. docs/lineage.md states the scheme for users.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

_S3 = frozenset({"s3", "s3a", "s3n"})
_GCS = frozenset({"gs", "gcs"})
_ADLS = frozenset({"abfs", "abfss", "az"})
_BLOB = frozenset({"wasb", "wasbs"})
_AZURE_HOST = ".core.windows.net"


def storage_naming(uri: str, *, azure_account: str | None = None) -> tuple[str, str]:
    """
    Return the OpenLineage ``(namespace, name)`` of a file or folder, without the Airflow connection id.

    :param uri: An absolute local path or a URI as ``ObjectStoragePath`` takes it
        (``s3://<conn_id>@bucket/key``, ``file:///path``...).
    :param azure_account: The storage account of an ``abfs://<conn_id>@container/path`` URI, which names
        no account; without it the namespace is ``abfss://container``.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file", "local"):
        return "file", os.path.abspath(unquote(parts.path) or "/")
    userinfo, _, host = parts.netloc.rpartition("@")
    key = unquote(parts.path).lstrip("/")
    if scheme in _S3:
        return f"s3://{host}", key
    if scheme in _GCS:
        return f"gs://{host}", key
    if scheme in _ADLS | _BLOB:
        account: str | None
        if host.lower().endswith(_AZURE_HOST):  # container@account.dfs.core.windows.net: no connection id
            container, account = userinfo, host.split(".", 1)[0]
        else:
            container, account = host, azure_account
        kind, service = ("wasbs", "blob") if scheme in _BLOB else ("abfss", "dfs")
        authority = f"{container}@{account}.{service}{_AZURE_HOST}" if account else container
        return f"{kind}://{authority}", key
    return f"{scheme}://{host}", key


def storage_uri(uri: str, *, azure_account: str | None = None) -> str:
    """Return ``uri`` as the OpenLineage naming writes it (``namespace/name``, ``file:///path``)."""
    namespace, name = storage_naming(uri, azure_account=azure_account)
    return f"file://{name}" if namespace == "file" else f"{namespace}/{name}"


def azure_account_of(path: Any) -> str | None:
    """
    Return the storage account an Azure path's filesystem is bound to; None for other stores.

    :param path: An ``ObjectStoragePath`` or the text of one; only an Azure one builds its filesystem
        (through its connection).
    """
    if urlsplit(str(path)).scheme.lower() not in _ADLS | _BLOB:
        return None
    try:
        if not hasattr(path, "fs"):
            from airflow.sdk import ObjectStoragePath

            path = ObjectStoragePath(str(path))
        return getattr(path.fs, "account_name", None)
    except Exception:
        log.debug("Could not tell the Azure storage account of %s.", path, exc_info=True)
        return None
