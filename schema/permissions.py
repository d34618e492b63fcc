"""Who may read or do what, declared on fields; resolver bodies never check roles.

The caller's membership record (loaded once per request) decides, not the token: a removed
or demoted person loses access at once, even with an unexpired token.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission, PermissionExtension

from datastore.records import Role


def _ctx(info: strawberry.Info) -> Any:
    return info.context


class IsMember(BasePermission):
    message = "you are not an active member of this organization"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return _ctx(info).active_member is not None


class _Requires(BasePermission):
    needed: str = ""
    error_extensions = {"code": "FORBIDDEN"}

    @property
    def message(self) -> str:  # type: ignore[override]
        return f"your role lacks the {self.needed} permission"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        member = _ctx(info).active_member
        return member is not None and self.needed in member.permissions


class IsAdmin(_Requires):
    needed = "manage_settings"


class CanInvite(_Requires):
    needed = "invite_members"


class CanRemoveMembers(_Requires):
    needed = "remove_members"


class CanManageSettings(_Requires):
    needed = "manage_settings"


class CanGenerateReports(_Requires):
    needed = "generate_reports"


class CanViewReports(_Requires):
    needed = "view_reports"


class CanWriteTeamData(_Requires):
    needed = "write_team_data"


def may_see_analytics_of(info: strawberry.Info, github_username: str | None) -> bool:
    """Admins see everyone; members themselves, and others unless settings forbid; viewers
    see no per-person analytics."""
    ctx = _ctx(info)
    member = ctx.active_member
    if member is None or member.role is Role.VIEWER:
        return False
    if member.role is Role.ADMIN:
        return True
    if github_username is not None and github_username == member.github_username:
        return True
    org = ctx.organization
    return org is not None and org.settings.get("allowMembersViewOthers", True) is not False


class CanSeeAnalyticsOf(BasePermission):
    """On a Member (source) or a ``username`` argument."""

    message = "you may not see this person's analytics"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        username = kwargs.get("username", getattr(source, "github_username", None))
        return may_see_analytics_of(info, username)


class CanSeeTeamAnalytics(BasePermission):
    message = "your role may not see the team's per-person analytics"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return may_see_analytics_of(info, None)


class CanRecordGitHubData(BasePermission):
    """Admins ingest for anyone; a member only for their own GitHub username."""

    message = "you may record GitHub data only for your own GitHub username"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        member = _ctx(info).active_member
        if member is None:
            return False
        if "write_team_data" in member.permissions:
            return True
        username = getattr(kwargs.get("input"), "github_username", None)
        return member.role is Role.MEMBER and username == member.github_username


def silent(permission: type[BasePermission]) -> PermissionExtension:
    """Deny by returning null (for nested optional fields), not by raising."""
    return PermissionExtension(permissions=[permission()], use_directives=False,
                               fail_silently=True)


class DenyAsData(PermissionExtension):
    """For mutations: a denied permission becomes a ``PermissionDenied`` result."""

    def _on_unauthorized(self, permission: BasePermission) -> Any:
        from schema.errors import denied

        return denied(permission.message or "permission denied")


def typed(*permission: type[BasePermission]) -> DenyAsData:
    return DenyAsData(permissions=[p() for p in permission], use_directives=False)
