"""Errors of the lake-tables loader."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class LakeTablesError(AirflowException):
    """Loading an export into the lake tables failed; every table was left as it was."""


class ExportFileError(LakeTablesError):
    """The export file cannot be read: missing, not gzip, corrupt or truncated."""


class BadLineError(ExportFileError):
    """
    A line of the export is not a JSON object with a ``__type``.

    :param line_number: 1-based line number in the inflated file.
    """

    def __init__(self, message: str, *, line_number: int) -> None:
        super().__init__(message)
        self.line_number = line_number


class TablesRootError(LakeTablesError):
    """``tables_root`` (or its connection) cannot be used."""
