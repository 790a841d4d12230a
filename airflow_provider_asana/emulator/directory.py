"""The emulated account: one user and the workspaces it belongs to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workspace:
    """
    A workspace or organization the emulated user belongs to.

    :param gid: Its gid.
    :param name: Its name.
    :param is_organization: Organizations can be exported; plain workspaces cannot.
    :param enterprise: Whether it is on an Enterprise plan (exports need one).
    :param email_domains: Its email domains.
    """

    gid: str
    name: str
    is_organization: bool
    enterprise: bool
    email_domains: tuple[str, ...] = ()

    def resource(self) -> dict:
        """Return the full workspace resource."""
        return {
            "gid": self.gid,
            "resource_type": "workspace",
            "name": self.name,
            "email_domains": list(self.email_domains),
            "is_organization": self.is_organization,
        }


ENTERPRISE_ORG = Workspace("1200000000000001", "Emulated Enterprise Org", True, True, ("example.com",))
BUSINESS_ORG = Workspace("1200000000000002", "Emulated Business Org", True, False, ("example.org",))
PERSONAL_WORKSPACE = Workspace("1200000000000003", "Personal Projects", False, False)
#: A second exportable organization, for exports of several organizations with one token.
SECOND_ENTERPRISE_ORG = Workspace(
    "1200000000000004", "Emulated Enterprise Org Two", True, True, ("example.net",)
)
WORKSPACES = (ENTERPRISE_ORG, BUSINESS_ORG, PERSONAL_WORKSPACE, SECOND_ENTERPRISE_ORG)
USER_GID = "1200000000000042"


def find_workspace(gid: str) -> Workspace | None:
    """Find the workspace with ``gid``, if the user belongs to it."""
    return next((workspace for workspace in WORKSPACES if workspace.gid == gid), None)


def user_resource() -> dict:
    """Return the full user resource of the token's owner (a service account)."""
    return {
        "gid": USER_GID,
        "resource_type": "user",
        "name": "Emulated Service Account",
        "email": "service-account@example.com",
        "photo": None,
        "workspaces": [workspace.resource() for workspace in WORKSPACES],
    }
