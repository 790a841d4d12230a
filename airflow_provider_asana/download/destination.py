"""
Where a download lands: any path or URI ``ObjectStoragePath`` understands, checked before any request.

:class:`Destination` refuses, naming the fix, what cannot be meant (an empty or relative path, a folder);
:meth:`Destination.check` refuses a directory and, without ``overwrite``, an existing object, before the
download starts; :meth:`Destination.writer` picks the atomic writer for its store (see ``writers``).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_asana.download.naming import azure_account_of, storage_uri
from airflow_provider_asana.download.writers import exists_error, is_local, make_writer
from airflow_provider_asana.exceptions import AsanaDownloadError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_asana.download.writers import AtomicWriter

log = logging.getLogger(__name__)

_FIX = (
    "Pass an absolute path or a URI, such as /data/asana/export.json.gz, file:///data/asana/export.json.gz "
    "or s3://aws_conn_id@bucket/asana/export.json.gz."
)


class Destination:
    """
    A download's destination, parsed and checked for its form (no I/O).

    :param destination: An absolute path, a URI (``file://``, ``s3://conn_id@bucket/key``...), an
        ``os.PathLike`` or an :class:`~airflow.sdk.ObjectStoragePath`; it names the file to write.
    :param overwrite: Replace an object already there; if False, refuse before downloading and at commit.
    :param example_name: A file name to suggest when ``destination`` names a folder.
    :raises ValueError: ``destination`` is empty, relative, or names a folder.
    :raises TypeError: ``destination`` is of another type.
    """

    def __init__(
        self,
        destination: str | os.PathLike[str] | ObjectStoragePath,
        *,
        overwrite: bool = False,
        example_name: str = "export.json.gz",
    ) -> None:
        self.example_name = example_name
        self.path = self._parse(destination)
        self.uri = str(self.path)
        self.overwrite = overwrite

    def check(self) -> None:
        """
        Refuse a destination that is a directory or (without ``overwrite``) exists.

        :raises AsanaDownloadError: It is a directory, it exists, or it cannot be checked.
        """
        fs, key, uri = self.path.fs, self.path.path, self.uri
        try:
            fs.invalidate_cache(key)
            exists = fs.exists(key)
            is_dir = exists and fs.isdir(key)
        except Exception as e:
            raise AsanaDownloadError(
                f"destination {uri} could not be checked: {type(e).__name__}: {e}. Check the path and its "
                "connection."
            ) from None
        if is_dir:
            raise AsanaDownloadError(
                f"destination {uri} is a directory: name the file to write, e.g. "
                f"{uri.rstrip('/')}/{self.example_name}."
            )
        if exists and not self.overwrite:
            raise exists_error(uri)

    def writer(self) -> AtomicWriter:
        """Return the atomic writer for this destination's store (not opened yet)."""
        return make_writer(self.path.fs, self.path.path, self.uri, overwrite=self.overwrite)

    def _parse(self, destination: Any) -> ObjectStoragePath:
        from airflow.sdk import ObjectStoragePath

        if isinstance(destination, os.PathLike) and not isinstance(destination, ObjectStoragePath):
            destination = os.fspath(destination)
        if isinstance(destination, str):
            text = destination.strip()
            parts = urlsplit(text)
            if not text:
                raise ValueError(f"destination is empty. {_FIX}")
            self._refuse_folder(text)
            if parts.scheme in ("", "file", "local") and len(parts.scheme) != 1:
                local = parts.path if parts.scheme else text
                if parts.netloc or not local.startswith("/"):
                    raise ValueError(f"destination {destination!r} is a relative local path. {_FIX}")
            path = ObjectStoragePath(text)
        elif isinstance(destination, ObjectStoragePath):
            path = destination
            self._refuse_folder(str(path))
        else:
            raise TypeError(
                "destination must be a str or an airflow.sdk.ObjectStoragePath; got "
                f"{type(destination).__name__}. {_FIX}"
            )
        if is_local(path.fs) and not str(path.path).startswith("/"):
            raise ValueError(f"destination {str(path)!r} is a relative local path. {_FIX}")
        if not path.name:
            raise ValueError(f"destination {str(path)!r} names no file. {_FIX}")
        return path

    def _refuse_folder(self, text: str) -> None:
        """
        Refuse a destination that ends in ``/``: it names a folder, and would land as a file named after it.

        ``ObjectStoragePath`` drops a trailing slash when it is built (``s3://c@b/prefix/`` becomes
        ``s3://c@b/prefix``), so a string is checked before it becomes a path; a path built by the caller is
        checked on its string form (a bucket's root keeps its slash).
        """
        if text.endswith("/"):
            raise ValueError(
                f"destination {text!r} ends in '/': it names a folder, not the file to write. Name the file, "
                f"e.g. {text}{self.example_name}."
            )


def report_lineage(context: Any, uri: str) -> None:
    """
    Report the file written at ``uri`` to Airflow's hook lineage, as an output of ``context`` (a hook).

    Named as OpenLineage names its store, without the connection id (``s3://bucket/key``, not
    ``s3://aws_default@bucket/key``: :mod:`~airflow_provider_asana.download.naming`). Lineage is a
    by-product: a failure to report it is logged at debug level, never raised.
    """
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector

        named = storage_uri(uri, azure_account=azure_account_of(uri))
        get_hook_lineage_collector().add_output_asset(context=context, uri=named)
    except Exception:
        log.debug("Could not report lineage for %s.", uri, exc_info=True)
