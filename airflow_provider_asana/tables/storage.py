"""
Resolve where the tables live: a local folder or an object store, and the delta-rs storage options for it.

The options are built from the Airflow connection named in the URI (``s3://<conn_id>@bucket/prefix``).

S3 is tested (moto). GCS and Azure map what their connections usually hold and are untested here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_asana.tables.errors import TablesRootError

_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "abfs": "abfs", "abfss": "abfs", "az": "az"}


@dataclass
class TablesRoot:
    """
    A resolved tables root.

    :param uri: the root delta-rs understands: an absolute local path or ``<scheme>://bucket/prefix``.
    :param storage_options: credentials and settings for delta-rs (never logged).
    """

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)
    display: str = ""
    #: What the caller passed (an ``ObjectStoragePath`` is built from it for stores other than S3).
    given: Any = None

    @property
    def local(self) -> bool:
        return "://" not in self.uri

    def table_uri(self, relative: str) -> str:
        return f"{self.uri.rstrip('/')}/{relative}"

    def filesystem(self) -> Any:
        """
        Return a pyarrow filesystem for the loader's own file writes and reads (paths: :meth:`path`).

        S3 uses pyarrow's S3 client with the same credentials as delta-rs; GCS and Azure go through the
        Airflow connection's fsspec filesystem.
        """
        import pyarrow.fs as pafs

        if self.local:
            return pafs.LocalFileSystem()
        if self.uri.startswith("s3://"):
            o = self.storage_options
            endpoint = o.get("AWS_ENDPOINT_URL", "")
            return pafs.S3FileSystem(
                access_key=o.get("AWS_ACCESS_KEY_ID"),
                secret_key=o.get("AWS_SECRET_ACCESS_KEY"),
                session_token=o.get("AWS_SESSION_TOKEN"),
                region=o.get("AWS_REGION"),
                endpoint_override=endpoint.split("://", 1)[-1] or None,
                scheme="http" if endpoint.startswith("http://") else "https",
                allow_bucket_creation=False,
                allow_bucket_deletion=False,
            )
        from airflow.sdk import ObjectStoragePath

        return pafs.PyFileSystem(pafs.FSSpecHandler(ObjectStoragePath(self.given).fs))

    def path(self, relative: str) -> str:
        """``relative`` (to the root) as a path of :meth:`filesystem`."""
        return os.path.join(self.uri, relative) if self.local else f"{self.uri.split('://', 1)[1]}/{relative}"


def resolve_tables_root(tables_root: Any, storage_options: dict[str, str] | None = None) -> TablesRoot:
    """
    Resolve ``tables_root`` to a delta-rs URI and storage options.

    :param tables_root: a local path, ``file://``, ``s3://[<conn_id>@]bucket/prefix``, ``gs://...``,
        ``abfs://...`` or an ``ObjectStoragePath``.
    :param storage_options: delta-rs options that override the ones built from the connection.
    """
    uri, scheme, conn_id, display = _locate(tables_root)
    options = _options(scheme, conn_id) if scheme and conn_id else {}
    options.update(storage_options or {})
    return TablesRoot(uri, options, display, tables_root)


def table_location(tables_root: Any, table: str) -> str:
    """
    Return the URI of ``table`` (relative to the root) without a connection id; no connection is looked up.

    ``file:///data/lake/asana/task`` for a local root, ``s3://bucket/prefix/task`` for
    ``s3://<conn_id>@bucket/prefix``: what names the table outside the loader (Asset events, lineage).

    :param tables_root: as for :func:`resolve_tables_root`.
    """
    uri, scheme, _, _ = _locate(tables_root)
    # A local path as the file URI people write: only what a URI path cannot hold is escaped (a space, ...),
    # not the "=" of a partition folder (Path.as_uri escapes it).
    root = "file://" + quote(Path(uri).as_posix(), safe="/!$&'()*+,;=:@~") if scheme is None else uri
    return f"{root.rstrip('/')}/{table}"


def _locate(tables_root: Any) -> tuple[str, str | None, str | None, str]:
    """Return the root's delta-rs URI, its store's scheme (None: local), connection id and display form."""
    conn_id = getattr(tables_root, "conn_id", None)
    text = str(tables_root)
    if isinstance(tables_root, Path) or "://" not in text:
        return str(Path(text).expanduser().absolute()), None, None, text
    parts = urlsplit(text)
    if parts.scheme == "file":
        return str(Path(parts.path).absolute()), None, None, text
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None:
        raise TablesRootError(
            f"tables_root {text!r}: scheme {parts.scheme!r} is not supported; use a local path, file://, "
            "s3://<conn_id>@bucket/prefix, gs://<conn_id>@bucket/prefix or abfs://<conn_id>@container/prefix"
        )
    bucket = parts.hostname or ""
    if "@" in parts.netloc:
        conn_id = conn_id or parts.netloc.rsplit("@", 1)[0]
        bucket = parts.netloc.rsplit("@", 1)[1]
    if not bucket:
        raise TablesRootError(
            f"tables_root {text!r} names no bucket: write {parts.scheme}://<conn_id>@bucket/prefix"
        )
    uri = f"{scheme}://{bucket}{parts.path}".rstrip("/")
    return uri, scheme, conn_id, f"{parts.scheme}://{bucket}{parts.path}"


def _options(scheme: str, conn_id: str) -> dict[str, str]:
    if scheme == "s3":
        return s3_options(conn_id)
    if scheme == "gs":
        return gcs_options(conn_id)
    return azure_options(conn_id)


def s3_options(conn_id: str) -> dict[str, str]:
    """
    Build delta-rs options from an Airflow ``aws`` connection.

    Its credentials (keys, session token, or whatever the connection resolves: role assumption, profile),
    region, and ``endpoint_url`` extra (MinIO, moto).

    delta-rs commits to S3 with conditional writes (``If-None-Match``), which AWS S3 supports: no DynamoDB
    lock and no ``AWS_S3_ALLOW_UNSAFE_RENAME`` are needed. Another S3-compatible store must support them too.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
    try:
        credentials = hook.get_credentials()
    except Exception as exc:
        raise TablesRootError(
            f"tables_root: the aws connection {conn_id!r} gave no credentials ({type(exc).__name__}); "
            "check its login/password or role settings"
        ) from None
    options = {"AWS_ACCESS_KEY_ID": credentials.access_key, "AWS_SECRET_ACCESS_KEY": credentials.secret_key}
    if credentials.token:
        options["AWS_SESSION_TOKEN"] = credentials.token
    region = hook.conn_region_name
    if region:
        options["AWS_REGION"] = region
    endpoint = hook.conn_config.endpoint_url
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


def gcs_options(conn_id: str) -> dict[str, str]:
    """delta-rs options from a ``google_cloud_platform`` connection's key file or key JSON (untested)."""
    from airflow.sdk import BaseHook

    extra = BaseHook.get_connection(conn_id).extra_dejson
    key_path = extra.get("key_path") or extra.get("extra__google_cloud_platform__key_path")
    key_json = extra.get("keyfile_dict") or extra.get("extra__google_cloud_platform__keyfile_dict")
    if key_path:
        return {"google_service_account": key_path}
    if key_json:
        return {"google_service_account_key": key_json if isinstance(key_json, str) else json.dumps(key_json)}
    return {}  # application default credentials


def azure_options(conn_id: str) -> dict[str, str]:
    """Build delta-rs options from a ``wasb``/``adls`` connection: key, SAS or service principal (untested)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    options = {"azure_storage_account_name": extra.get("account_name") or conn.login or conn.host or ""}
    if extra.get("sas_token"):
        options["azure_storage_sas_token"] = extra["sas_token"]
    elif extra.get("tenant_id") and extra.get("client_id"):
        options.update(
            azure_tenant_id=extra["tenant_id"],
            azure_client_id=extra["client_id"],
            azure_client_secret=conn.password or "",
        )
    elif conn.password:
        options["azure_storage_account_key"] = conn.password
    return {k: v for k, v in options.items() if v}
