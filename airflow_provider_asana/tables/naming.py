"""Where each record kind lands and what the loader's own columns and folders are called."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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


#: Where a resource export's tables live under the tables root (``resources/task``, ``resources/_exports``).
RESOURCES_FOLDER = "resources"
#: The key and the kind field of a resource export's API-shaped objects.
RESOURCE_KEY = "gid"
RESOURCE_TYPE_FIELD = "resource_type"


def table_for_resource_type(resource_type: str) -> str:
    """Return the table of a resource export's objects of ``resource_type`` (``task`` -> ``task``)."""
    name = snake_case(resource_type)
    return name if name and not name.startswith("_") else f"type_{name}"


@dataclass(frozen=True)
class RecordFormat:
    """
    What a record of an export looks like: the field naming its kind, its key, and its table.

    :param type_field: the top-level field naming the record's kind (``__type``, ``resource_type``).
    :param key: the field that identifies an object across exports (``__object_id``, ``gid``).
    :param table_for_type: the table a kind lands in.
    :param key_required: a record without ``key`` is a bad line (else it is loaded but not tracked).
    :param default_type: the kind of records that have no ``type_field`` (None: such a record is a bad line).
    """

    type_field: str
    key: str
    table_for_type: Callable[[str], str]
    key_required: bool = False
    default_type: str | None = None

    def kind_of(self, obj: dict) -> str:
        """Return the kind of a parsed record that :func:`~airflow_provider_asana.tables.parse.problem` accepted."""
        return str(obj.get(self.type_field) or self.default_type)

    @property
    def type_pattern(self) -> re.Pattern[bytes]:
        """Find the kind in a line's bytes (the first occurrence; the parser checks it was the top level)."""
        return re.compile(b'"' + re.escape(self.type_field.encode()) + rb'"\s*:\s*"([^"\\]*)"')


#: Organization exports: ``__type`` and ``__object_id``.
ORGANIZATION = RecordFormat(type_field=TYPE_FIELD, key=KEY, table_for_type=table_for_type)


def resource_format(default_type: str | None = None) -> RecordFormat:
    """Resource exports: ``resource_type`` and ``gid`` (required: an object without it cannot be upserted)."""
    return RecordFormat(
        type_field=RESOURCE_TYPE_FIELD,
        key=RESOURCE_KEY,
        table_for_type=table_for_resource_type,
        key_required=True,
        default_type=default_type,
    )
