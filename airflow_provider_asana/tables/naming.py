"""Where each record kind lands and what the loader's own columns and folders are called."""

from __future__ import annotations

import re

#: Columns the loader adds to every table (source fields never start with ``_export_``).
EXPORT_GID = "_export_gid"
EXPORT_CREATED_AT = "_export_created_at"
RECORD_HASH = "_export_record_hash"
ADDED_COLUMNS = (EXPORT_GID, EXPORT_CREATED_AT, RECORD_HASH)
#: The change tables' own column (a partition column: its value lives in the Delta log, not in the files).
CHANGE_TYPE = "_change_type"
#: The key of change tracking, and the field every record names its kind with.
KEY = "__object_id"
TYPE_FIELD = "__type"

#: Folders under the tables root that are not record kinds.
EXPORTS_TABLE = "_exports"
REJECTED_TABLE = "_rejected"
CHANGES_FOLDER = "_changes"
#: A load's journal lives here while it writes (see :mod:`airflow_provider_asana.tables.journal`).
LOADS_FOLDER = "_loads"

STORY_TABLE = "story"

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def is_story_type(type_name: str) -> bool:
    """``Comment`` and every type ending in ``Story`` or ``Comment`` share one shape and one table."""
    return type_name == "Comment" or type_name.endswith(("Story", "Comment"))


def snake_case(name: str) -> str:
    """``DomainUser`` -> ``domain_user``, ``HTMLDoc`` -> ``html_doc``; anything else becomes ``_``."""
    return _NOT_NAME.sub("_", _WORD_BOUNDARY.sub("_", name).lower()).strip("_")


def table_for_type(type_name: str) -> str:
    """
    Return the table a record of ``type_name`` lands in.

    Never one of the loader's own folders: a name that would start with ``_`` or be empty gets ``type_``
    in front.
    """
    if is_story_type(type_name):
        return STORY_TABLE
    name = snake_case(type_name)
    return name if name and not name.startswith("_") else f"type_{name}"


def changes_table(table: str) -> str:
    """Return the change table of ``table``, relative to the tables root."""
    return f"{CHANGES_FOLDER}/{table}"
