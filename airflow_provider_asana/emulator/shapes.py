"""
API-shaped objects (tasks, teams, messages, projects, sections) built from the records of an organization export.

The same object, two views: an object's ``gid`` is its record's ``__object_id`` as a string, a user is the
``User`` behind a ``DomainUser`` reference, times are the record's timestamps in Asana's ISO 8601 form. Each
builder returns the object with every field the emulator can give it, opt-in ones included; the default
fields (what an export holds without ``fields``) are the ``*_DEFAULT`` trees, after Asana's schemas
(``TaskResponse``, ``TeamResponse``, ...; the ``[Opt In]`` fields left out).

Derived, not in the organization export (so, the emulator's choices):

- every project has one section, ``Untitled section``, whose gid is :func:`section_gid` of the project;
- custom fields get fixed gids (:data:`CUSTOM_FIELD_BASE`), one per name, and their enum options one per value;
- messages: a project's ``ProjectStatusUpdateStory`` is a ``status_update`` message, its ``ProjectShareStory`` a
  ``default`` message, sent to the project (its ``parents``), followed by the project's followers;
- a task's ``assigned_by`` is the author of its latest ``TaskAssignedComment`` (null without one);
- a story's ``resource_subtype`` comes from its ``__type`` (:data:`STORY_SUBTYPES`, Asana's names where known).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_asana.emulator import fields
from airflow_provider_asana.emulator.formats import iso8601_ms
from airflow_provider_asana.emulator.lifecycle import unit
from airflow_provider_asana.emulator.objects import (
    ENUM_VALUES,
    FIELD_NAMES,
    ID_BASE,
    domain_user_id,
    parse_stamp,
    person,
    user_id,
)
from airflow_provider_asana.emulator.structure import USERS

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.directory import Workspace
    from airflow_provider_asana.emulator.walk import MemberView

Resource = dict[str, Any]
#: Section gids: this plus the project's offset in the object id space (disjoint from every object id).
SECTION_BASE = 1_170_000_000_000_000
#: Custom field gids, then enum option gids.
CUSTOM_FIELD_BASE = 1_190_000_000_000_000
SECTION_NAME = "Untitled section"
PERMALINK = "https://app.asana.com/0"
_STATUS_TYPES = ("on_track", "on_track", "on_track", "at_risk", "off_track", "on_hold", "complete")
_VISIBILITY = {"PUBLIC": "public", "REQUEST_TO_JOIN": "request_to_join", "SECRET": "secret"}
_ASSIGNEE_STATUS = {"INBOX": "inbox", "TODAY": "today", "UPCOMING": "upcoming", "OK": "later"}
_TEAM_ACCESS = (
    "edit_team_name_or_description_access_level", "edit_team_visibility_or_trash_team_access_level",
    "member_invite_management_access_level", "guest_invite_management_access_level",
    "join_request_management_access_level", "team_member_removal_access_level",
)  # fmt: skip
_USERS = {domain_user_id(user): {"gid": str(user_id(user)), "name": person(user)} for user in range(USERS)}
#: Story ``__type`` -> API ``resource_subtype`` (stories of tasks; the rest are a project's).
STORY_SUBTYPES = {
    "Comment": "comment_added", "TaskAddedToListComment": "added_to_project", "AddAttachmentStory": "attachment_added",
    "TaskHeartedStory": "liked", "TaskAssignedComment": "assigned", "TaskUnassignedComment": "unassigned",
    "TaskCompletedComment": "marked_complete", "TaskUncompletedComment": "marked_incomplete",
    "TaskDueDateChangedStory": "due_date_changed", "TaskDueDateRemovedStory": "due_date_changed",
    "TaskStartDateChangedStory": "start_date_changed", "AddedFollowerComment": "collaborator_added",
    "RemovedFollowerComment": "collaborator_removed", "TaskNameChangedStory": "name_changed",
    "TaskDescriptionChangedStory": "notes_changed", "TaskMovedToSectionStory": "section_changed",
    "TaskRemovedFromListComment": "removed_from_project", "ToggleTodayComment": "marked_today",
    "TaskTagAddedStory": "added_to_tag", "TaskTagRemovedStory": "removed_from_tag",
    "TaskCustomFieldChangedStory": "enum_custom_field_changed", "TaskDependencyAddedStory": "dependency_added",
    "TaskDependencyRemovedStory": "dependency_removed", "MentionedInCommentStory": "mentioned",
    "CommentHeartedStory": "comment_liked", "TaskApprovalStatusChangedStory": "approval_status_changed",
    "TaskMilestoneMarkedStory": "resource_subtype_changed", "TaskDuplicatedStory": "duplicated",
    "AttachmentRemovedStory": "attachment_removed", "TaskMergedStory": "duplicate_merged",
}  # fmt: skip
MESSAGE_STORIES = {"ProjectStatusUpdateStory": "status_update", "ProjectShareStory": "default"}

_COMPACT = "name"
_CUSTOM_FIELD = (
    "custom_fields.name,custom_fields.type,custom_fields.resource_subtype,custom_fields.enabled,"
    "custom_fields.display_value,custom_fields.number_value,custom_fields.enum_value.name,"
    "custom_fields.enum_value.color,custom_fields.enum_value.enabled"
)
#: A task's default fields in a graph export (and in a resource export, with its stories and attachments).
GRAPH_TASK_DEFAULT = fields.parse([
    "name,resource_subtype,approval_status,assignee_status,completed,completed_at,created_at,due_at,due_on,"
    "external.gid,external.data,hearted,hearts.user.name,liked,likes.user.name,memberships.project.name,"
    "memberships.section.name,modified_at,notes,num_hearts,num_likes,start_at,start_on,actual_time_minutes,"
    "assignee.name,followers.name,parent.name,parent.resource_subtype,projects.name,tags.name,workspace.name,"
    "permalink_url", _CUSTOM_FIELD,
])  # fmt: skip
TASK_DEFAULT = {
    **GRAPH_TASK_DEFAULT,
    **fields.parse(
        [
            "stories.created_at,stories.created_by.name,stories.resource_subtype,stories.text,"
            "attachments.name,attachments.resource_subtype,attachments.created_at,attachments.host,"
            "attachments.size,attachments.permanent_url,attachments.parent.name,attachments.parent.resource_subtype"
        ]
    ),
}
TEAM_DEFAULT = fields.parse([
    "name,organization.name,permalink_url,visibility,endorsed,members.name," + ",".join(_TEAM_ACCESS)
])  # fmt: skip
MESSAGE_DEFAULT = fields.parse([
    "resource_subtype,status_type,created_by.name,created_at,modified_at,title,text,num_likes,likes.user.name,"
    "stories,attachments,followers.name,parents.name"
])  # fmt: skip
PROJECT_DEFAULT = fields.parse([
    "name,archived,color,created_at,modified_at,notes,public,due_on,due_date,owner.name,team.name,"
    "workspace.name,followers.name,members.name,completed,completed_at,permalink_url"
])  # fmt: skip
SECTION_DEFAULT = fields.parse(["name,created_at,project.name,projects.name"])


def user(domain_user: int) -> Resource:
    """Return the ``UserCompact`` of the user behind ``DomainUser`` ``domain_user``."""
    known = _USERS.get(domain_user)
    if known is None:
        return {"gid": str(domain_user), "resource_type": "user", "name": ""}
    return {"gid": known["gid"], "resource_type": "user", "name": known["name"]}


def users(domain_users: list[int]) -> list[Resource]:
    """Return the users behind ``domain_users``, each once, in order."""
    return [user(du) for du in dict.fromkeys(domain_users)]


def section_gid(project_gid: str) -> str:
    """Return the gid of the one section of project ``project_gid``."""
    return str(SECTION_BASE + int(project_gid) - ID_BASE)


def iso(epoch: int) -> str:
    """Write epoch seconds as Asana writes a date-time."""
    return iso8601_ms(epoch)


def _iso_stamp(text: str) -> str:
    return iso(parse_stamp(text))


class Shaper:
    """
    Builds the API objects of one member of the organization.

    :param view: The member, as of the export being served.
    :param workspace: The workspace the objects belong to.
    """

    def __init__(self, view: MemberView, workspace: Workspace) -> None:
        self.view = view
        self.workspace = {"gid": workspace.gid, "resource_type": "workspace", "name": workspace.name}
        self._tags: dict[int, list[int]] | None = None

    def _record(self, entry: int) -> dict[str, Any]:
        return self.view.entries[entry].record

    def _kind(self, entry: int) -> str:
        return self.view.structure.kinds[entry]

    def _compact(self, entry: int, resource_type: str) -> Resource:
        return {
            "gid": self.view.gid(entry),
            "resource_type": resource_type,
            "name": self._record(entry)["name"],
        }

    def _visible_children(self, entry: int, *kinds: str) -> list[int]:
        view = self.view
        return [child for child in view.children(entry) if self._kind(child) in kinds and view.visible(child)]

    def tags_of(self, task: int) -> list[int]:
        """Return the visible tags listing ``task``."""
        if self._tags is None:
            self._tags = {}
            for entry, kind in enumerate(self.view.structure.kinds[: len(self.view.entries)]):
                if kind == "Tag" and self.view.visible(entry):
                    for item in self.view.children(entry):
                        self._tags.setdefault(item, []).append(entry)
        return self._tags.get(task, [])

    # Tasks

    def task(self, entry: int) -> Resource:
        """Return task ``entry`` with every field, its stories and attachments embedded."""
        view = self.view
        record = self._record(entry)
        gid = view.gid(entry)
        holder = view.structure.links[entry]
        # A deleted project or parent task no longer shows on the task.
        holder = holder if holder >= 0 and view.entries[holder].alive else -1
        in_project = holder >= 0 and self._kind(holder) == "Project"
        project = self._compact(holder, "project") if in_project else None
        subtype = record.get("resource_subtype", "default_task")
        completed = record.get("completed")
        hearts = self._visible_children(entry, "Heart")
        assignee = record.get("assignee")
        task: Resource = {
            "gid": gid, "resource_type": "task", "name": record["name"],
            "resource_subtype": "default_task" if subtype == "section" else subtype,
            "created_by": user(record["creator_du"]),
            "assignee_status": _ASSIGNEE_STATUS.get(record.get("schedule_status", ""), "upcoming"),
            "assigned_by": self._assigned_by(entry) if assignee is not None else None,
            "completed": completed is not None,
            "completed_at": _iso_stamp(completed) if completed is not None else None,
            "created_at": iso(view.entries[entry].created),
            "dependencies": [], "dependents": [],
            "due_at": None, "due_on": record["due_date"][:10] if record.get("due_date") else None,
            "html_notes": _html(record), "hearted": False,
            "hearts": [self._like(heart) for heart in hearts],
            "is_rendered_as_separator": subtype == "section",
            "liked": False, "likes": [self._like(heart) for heart in hearts],
            "memberships": [{"project": project, "section": self._section_compact(holder)}] if project else [],
            "modified_at": iso(view.modified(entry)), "notes": record.get("description", ""),
            "num_hearts": record.get("num_hearts", 0), "num_likes": record.get("num_hearts", 0),
            "num_subtasks": len(self._visible_children(entry, "Task")),
            "start_at": None, "start_on": record["start_on"][:10] if record.get("start_on") else None,
            "actual_time_minutes": None,
            "assignee": user(assignee) if assignee is not None else None,
            "custom_fields": [_custom_field(value) for value in record.get("custom_fields", ())],
            "followers": users(record.get("followers_du", [])),
            "parent": None if in_project or holder < 0 else self._task_compact(holder),
            "projects": [project] if project else [],
            "tags": [self._compact(tag, "tag") for tag in self.tags_of(entry)],
            "workspace": self.workspace,
            "permalink_url": f"{PERMALINK}/{project['gid'] if project else 0}/{gid}",
            "stories": [self._story(story) for story in self._task_stories(entry)],
            "attachments": [self._attachment(asset, entry) for asset in self._visible_children(entry, "Asset")],
        }  # fmt: skip
        if subtype == "approval":
            task["approval_status"] = "approved" if completed is not None else "pending"
        external = record.get("external")
        if external is not None:
            task["external"] = external if isinstance(external, dict) else {"gid": external, "data": ""}
        return task

    def _task_compact(self, entry: int) -> Resource:
        compact = self._compact(entry, "task")
        compact["resource_subtype"] = self._record(entry).get("resource_subtype", "default_task")
        if compact["resource_subtype"] == "section":
            compact["resource_subtype"] = "default_task"
        return compact

    def _task_stories(self, entry: int) -> list[int]:
        return [child for child in self._visible_children(entry, *STORY_SUBTYPES)]

    def _assigned_by(self, entry: int) -> Resource | None:
        assignments = self._visible_children(entry, "TaskAssignedComment")
        return user(self._record(assignments[-1])["creator_du"]) if assignments else None

    def task_people(self, entry: int) -> dict[str, set[str]]:
        """Return the user gids a filter on task ``entry`` looks at, by filter name."""
        record = self._record(entry)
        assignee = record.get("assignee")
        assigned_by = self._assigned_by(entry) if assignee is not None else None
        return {
            "assignee.any": {user(assignee)["gid"]} if assignee is not None else set(),
            "assigned_by.any": {assigned_by["gid"]} if assigned_by else set(),
            "created_by.any": {user(record["creator_du"])["gid"]},
            "commented_on_by.any": {
                user(self._record(story)["creator_du"])["gid"]
                for story in self._visible_children(entry, "Comment")
            },
            "followers.any": {person["gid"] for person in users(record.get("followers_du", []))},
            "liked_by.any": {
                user(self._record(heart)["domain_user"])["gid"]
                for heart in self._visible_children(entry, "Heart")
            },
        }

    def _like(self, heart: int) -> Resource:
        return {"gid": self.view.gid(heart), "user": user(self._record(heart)["domain_user"])}

    def _story(self, entry: int) -> Resource:
        record = self._record(entry)
        return {
            "gid": self.view.gid(entry), "resource_type": "story",
            "created_at": iso(self.view.entries[entry].created), "created_by": user(record["creator_du"]),
            "resource_subtype": STORY_SUBTYPES.get(record["__type"], "comment_added"), "text": record["text"],
        }  # fmt: skip

    def _attachment(self, entry: int, task: int) -> Resource:
        record = self._record(entry)
        size = record.get("size", 0)
        if isinstance(size, str):
            size = int(float(size.split()[0]) * 1_000_000)
        gid = self.view.gid(entry)
        return {
            "gid": gid, "resource_type": "attachment", "name": record["name"], "resource_subtype": "asana",
            "created_at": iso(self.view.entries[entry].created),
            "permanent_url": f"https://app.asana.com/app/asana/-/get_asset?asset_id={gid}", "host": "asana",
            "parent": self._task_compact(task), "size": size,
        }  # fmt: skip

    # Projects and sections (graph exports)

    def project(self, entry: int) -> Resource:
        """Return project ``entry`` with every field."""
        record = self._record(entry)
        gid = self.view.gid(entry)
        owner = record.get("project_owner")
        members = [self._record(m)["member"] for m in self._visible_children(entry, "ProjectMembership")]
        due = record.get("project_due_date_time")
        return {
            "gid": gid, "resource_type": "project", "name": record["name"],
            "archived": record.get("is_archived", False), "color": record.get("color") or "none",
            "created_at": iso(self.view.entries[entry].created), "modified_at": iso(self.view.modified(entry)),
            "notes": record.get("description", ""), "html_notes": _html(record),
            "public": record.get("is_public_to_workspace", False),
            "due_on": due[:10] if due else None, "due_date": due[:10] if due else None,
            "owner": user(owner) if owner is not None else None,
            "team": {"gid": str(record["team"]), "resource_type": "team"} if "team" in record else None,
            "workspace": self.workspace, "followers": users(record.get("followers_du", [])),
            "members": users(members), "completed": False, "completed_at": None,
            "permalink_url": f"{PERMALINK}/{gid}/list",
        }  # fmt: skip

    def _section_compact(self, project: int) -> Resource:
        return {"gid": section_gid(self.view.gid(project)), "resource_type": "section", "name": SECTION_NAME}

    def section(self, project: int) -> Resource:
        """Return the one section of project ``project``."""
        compact = self._compact(project, "project")
        created = iso(self.view.entries[project].created)
        return {
            **self._section_compact(project),
            "created_at": created,
            "project": compact,
            "projects": [compact],
        }

    # Messages

    def message(self, entry: int) -> Resource:
        """Return message ``entry`` (a project story of :data:`MESSAGE_STORIES`) with every field."""
        view = self.view
        record = self._record(entry)
        project = view.structure.links[entry]
        project_record = self._record(project)
        subtype = MESSAGE_STORIES[record["__type"]]
        hearts = self._visible_children(entry, "Heart")
        message: Resource = {
            "gid": view.gid(entry), "resource_type": "message", "resource_subtype": subtype,
            "created_by": user(record["creator_du"]), "created_at": iso(view.entries[entry].created),
            "modified_at": iso(view.modified(entry)),
            "title": f"{'Status update' if subtype == 'status_update' else 'Message'}: {project_record['name']}",
            "text": record["text"], "html_notes": f"<body>{_escape(record['text'])}</body>",
            "num_likes": len(hearts), "likes": [self._like(heart) for heart in hearts],
            "stories": [], "attachments": [],
            "followers": users(project_record.get("followers_du", [])),
            "parents": [self._compact(project, "project")],
        }  # fmt: skip
        if subtype == "status_update":
            seed = view.organization.seed
            message["status_type"] = _STATUS_TYPES[
                int(unit(seed, view.member, entry, 10) * len(_STATUS_TYPES))
            ]
        return message

    def message_people(self, entry: int) -> dict[str, set[str]]:
        """Return the user gids a filter on message ``entry`` looks at, by filter name."""
        message = self.message(entry)
        return {
            "created_by.any": {message["created_by"]["gid"]},
            "commented_on_by.any": set(),
            "followers.any": {person["gid"] for person in message["followers"]},
            "liked_by.any": {like["user"]["gid"] for like in message["likes"]},
        }


def team(view: MemberView, entry: int, workspace: Workspace, members: list[int]) -> Resource:
    """Return team ``entry`` of ``view`` with every field; ``members`` are its members' DomainUser ids."""
    record = view.entries[entry].record
    gid = view.gid(entry)
    resource: Resource = {
        "gid": gid, "resource_type": "team", "name": record["name"],
        "description": "", "html_description": "<body></body>",
        "organization": {"gid": workspace.gid, "resource_type": "workspace", "name": workspace.name},
        "permalink_url": f"{PERMALINK}/{gid}/overview",
        "visibility": _VISIBILITY.get(record.get("team_type", ""), "public"),
        **dict.fromkeys(_TEAM_ACCESS, "all_team_members"), "endorsed": False,
        "members": users(members),
    }  # fmt: skip
    return resource


def _custom_field(value: dict[str, Any]) -> Resource:
    index = FIELD_NAMES.index(value["name"]) if value["name"] in FIELD_NAMES else len(FIELD_NAMES)
    field: Resource = {
        "gid": str(CUSTOM_FIELD_BASE + index), "resource_type": "custom_field", "name": value["name"],
        "type": value["type"], "resource_subtype": value["type"], "enabled": True,
    }  # fmt: skip
    if value["type"] == "enum":
        option = value["enum_value"]
        number = ENUM_VALUES.index(option["name"]) if option["name"] in ENUM_VALUES else len(ENUM_VALUES)
        field["enum_value"] = {
            "gid": str(CUSTOM_FIELD_BASE + 1_000 + number), "resource_type": "enum_option",
            "name": option["name"], "color": option["color"], "enabled": True,
        }  # fmt: skip
        field["display_value"] = option["name"]
    else:
        field["number_value"] = value.get("number_value")
        field["display_value"] = str(value.get("number_value"))
    return field


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html(record: dict[str, Any]) -> str:
    rich = record.get("rich_description")
    if rich is None:
        return f"<body>{_escape(record.get('description', ''))}</body>"
    return rich if rich.startswith("<body>") else f"<body>{rich}</body>"
