"""
The files of resource and graph exports: gzip JSON Lines of API-shaped objects, and their ground truth.

A file is written member by member from the organization as of one export of its sequence
(:class:`.walk.Organization`), so only one member's records are in memory at a time. Beside it goes its
*listing*, the ground truth: one ``{"gid": ..., "resource_type": ...}`` row per line of the file, in the
file's order (duplicates included).

- A resource export writes, member by member, the objects of each ``export_request_parameters`` entry in turn
  (so an object two entries select appears twice, as Asana warns), then the teams (their members come from
  every member). Only objects the API shows are written: not deleted, not in the trash.
- A graph export of a project writes the project, its section and its tasks (subtasks included); of a team,
  the same for each of the team's projects. The format is Asana's developer docs' (JSON Lines, each object
  with a ``resource_type``); the spec's text says "JSON", and the fields of each type are **unverified**.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_asana.emulator import fields
from airflow_provider_asana.emulator.exportfile import ExportInfo
from airflow_provider_asana.emulator.member import LEVEL
from airflow_provider_asana.emulator.objects import object_id
from airflow_provider_asana.emulator.shapes import (
    GRAPH_TASK_DEFAULT,
    MESSAGE_DEFAULT,
    MESSAGE_STORIES,
    PROJECT_DEFAULT,
    SECTION_DEFAULT,
    TASK_DEFAULT,
    TEAM_DEFAULT,
    Shaper,
    team,
    users,
)

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.directory import Workspace
    from airflow_provider_asana.emulator.jobrequests import ExportParameter
    from airflow_provider_asana.emulator.shapes import Resource
    from airflow_provider_asana.emulator.walk import MemberView, Organization

DEFAULTS = {"task": TASK_DEFAULT, "team": TEAM_DEFAULT, "message": MESSAGE_DEFAULT}
_FLUSH = 1 << 20


class JsonLinesGzip:
    """
    Writes objects as gzip JSON Lines to ``out``, and a listing row for each to ``listing``.

    :param out: The file.
    :param listing: Where the ground truth goes.
    """

    def __init__(self, out: BinaryIO, listing: BinaryIO) -> None:
        self._out = out
        self._listing = listing
        self._deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._md5, self._sha256 = hashlib.md5(), hashlib.sha256()
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self.info = ExportInfo(0, "", "")
        self._counts: Counter[str] = Counter()

    def write(self, resource: Resource) -> None:
        """Add one object."""
        line = self._encode(resource).encode() + b"\n"
        self._buffer.append(line)
        self._buffered += len(line)
        self._counts[resource["resource_type"]] += 1
        row = {"gid": resource["gid"], "resource_type": resource["resource_type"]}
        self._listing.write(json.dumps(row).encode() + b"\n")
        if self._buffered >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        self.info.raw_size += len(data)
        self._emit(self._deflate.compress(data))

    def _emit(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self.info.size += len(chunk)

    def close(self) -> ExportInfo:
        """End the gzip stream; return what was written."""
        self._flush()
        self._emit(self._deflate.flush())
        self.info.etag, self.info.sha256 = self._md5.hexdigest(), self._sha256.hexdigest()
        self.info.counts = dict(sorted(self._counts.items()))
        return self.info


def write_resource_export(
    out: BinaryIO,
    listing: BinaryIO,
    organization: Organization,
    export: int,
    workspace: Workspace,
    parameters: tuple[ExportParameter, ...],
) -> ExportInfo:
    """
    Write the resource export of ``parameters`` over ``organization`` as of export ``export``.

    :param listing: Receives the ground truth (see the module).
    """
    writer = JsonLinesGzip(out, listing)
    members: dict[str, list[int]] = {}
    teams: dict[str, Resource] = {}
    wants_teams = any(parameter.resource_type == "team" for parameter in parameters)
    for view in organization.members(export):
        shaper = Shaper(view, workspace)
        if wants_teams:
            _collect_teams(view, workspace, teams, members)
        objects = _MemberObjects(view, shaper)
        for parameter in parameters:
            if parameter.resource_type == "team":
                continue
            tree = _tree(parameter)
            for entry in objects.candidates(parameter.resource_type):
                if objects.matches(entry, parameter):
                    writer.write(fields.project(objects.resource(entry), tree))
    for parameter in parameters:
        if parameter.resource_type == "team":
            tree = _tree(parameter)
            for gid in sorted(teams, key=int):
                writer.write(fields.project({**teams[gid], "members": _members(teams[gid], members)}, tree))
    return writer.close()


def _tree(parameter: ExportParameter) -> fields.Tree:
    if parameter.fields is None:
        return DEFAULTS[parameter.resource_type]
    return fields.parse(parameter.fields)


class _MemberObjects:
    """The tasks and messages of one member, each shaped at most once."""

    def __init__(self, view: MemberView, shaper: Shaper) -> None:
        self.view = view
        self.shaper = shaper
        self._resources: dict[int, Resource] = {}
        self._people: dict[int, dict[str, set[str]]] = {}
        self._modified: dict[int, int] = {}

    def candidates(self, resource_type: str) -> list[int]:
        view = self.view
        kinds = view.structure.kinds
        if resource_type == "task":
            return [
                entry for entry in range(len(view.entries)) if kinds[entry] == "Task" and view.visible(entry)
            ]
        return [
            entry
            for entry in range(len(view.entries))
            if kinds[entry] in MESSAGE_STORIES
            and view.visible(entry)
            and view.visible(view.structure.links[entry])
        ]

    def matches(self, entry: int, parameter: ExportParameter) -> bool:
        modified = self._modified.get(entry)
        if modified is None:
            modified = self._modified[entry] = self.view.modified(entry)
        people: dict[str, set[str]] = {}
        if parameter.people:
            people = self._people.get(entry) or self._people.setdefault(entry, self._people_of(entry))
        return parameter.matches(self.view.entries[entry].created, modified, people)

    def _people_of(self, entry: int) -> dict[str, set[str]]:
        if self.view.structure.kinds[entry] == "Task":
            return self.shaper.task_people(entry)
        return self.shaper.message_people(entry)

    def resource(self, entry: int) -> Resource:
        resource = self._resources.get(entry)
        if resource is None:
            is_task = self.view.structure.kinds[entry] == "Task"
            resource = self.shaper.task(entry) if is_task else self.shaper.message(entry)
            self._resources[entry] = resource
        return resource


def _collect_teams(
    view: MemberView, workspace: Workspace, teams: dict[str, Resource], members: dict[str, list[int]]
) -> None:
    kinds = view.structure.kinds
    for entry in range(len(view.entries)):
        kind = kinds[entry]
        if kind == "Team" and view.visible(entry):
            teams[view.gid(entry)] = team(view, entry, workspace, [])
        elif kind == "TeamMembership" and view.visible(entry):
            record = view.entries[entry].record
            members.setdefault(str(record["team"]), []).append(record["member"])


def _members(resource: Resource, members: dict[str, list[int]]) -> list[Resource]:
    return users(members.get(resource["gid"], []))


def write_graph_export(
    out: BinaryIO,
    listing: BinaryIO,
    organization: Organization,
    export: int,
    workspace: Workspace,
    parent: tuple[int, int],
) -> ExportInfo:
    """
    Write the graph export of ``parent`` (``(member, entry)`` of a project or a team) as of export ``export``.

    :param listing: Receives the ground truth (see the module).
    """
    writer = JsonLinesGzip(out, listing)
    member, entry = parent
    view = organization.member(member, export)
    if view.structure.kinds[entry] == "Project":
        _graph_project(writer, Shaper(view, workspace), entry)
        return writer.close()
    team_id = object_id(member, entry)
    for view in organization.members(export):
        shaper = Shaper(view, workspace)
        kinds = view.structure.kinds
        for project in range(len(view.entries)):
            if kinds[project] == "Project" and view.visible(project):
                if view.entries[project].record.get("team") == team_id:
                    _graph_project(writer, shaper, project)
    return writer.close()


def _graph_project(writer: JsonLinesGzip, shaper: Shaper, project: int) -> None:
    view = shaper.view
    writer.write(fields.project(shaper.project(project), PROJECT_DEFAULT))
    writer.write(fields.project(shaper.section(project), SECTION_DEFAULT))
    pending = [child for child in view.children(project) if view.structure.kinds[child] == "Task"]
    while pending:
        task = pending.pop(0)
        if not view.visible(task):
            continue
        writer.write(fields.project(shaper.task(task), GRAPH_TASK_DEFAULT))
        pending += [child for child in view.children(task) if view.structure.kinds[child] == "Task"]
