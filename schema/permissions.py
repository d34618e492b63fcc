"""Who may read or do what, declared on fields; resolver bodies never check roles.

The caller's membership record (loaded once per request, strongly consistent) decides, not
the token: a removed or demoted person loses access at once, even with an unexpired token.
A mutation's permission also travels into its write (``commit_condition``): the transaction
re-checks the actor's membership, so a demotion that lands mid-request still wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from datastore import actors
from datastore.actors import Actor
from datastore.records import Permission, Role
from datastore.store import Cond


def _ctx(info: strawberry.Info) -> Any:
    return info.context


class Guarded(BasePermission):
    """A permission that a mutation's write re-checks (see the module docstring)."""

    def commit_condition(self, **kwargs: Any) -> Cond:
        raise NotImplementedError


class IsMember(Guarded):
    message = "you are not an active member of this organization"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return _ctx(info).active_member is not None

    def commit_condition(self, **kwargs: Any) -> Cond:
        """What the actor's member item must still say when the mutation's write commits."""
        return actors.is_active()


class _Requires(Guarded):
    needed: Permission
    error_extensions = {"code": "FORBIDDEN"}

    @property
    def message(self) -> str:  # type: ignore[override]
        return f"your role lacks the {self.needed} permission"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        member = _ctx(info).active_member
        return member is not None and self.needed in member.permissions

    def commit_condition(self, **kwargs: Any) -> Cond:
        return actors.has_permission(self.needed)


class IsAdmin(_Requires):
    needed = Permission.MANAGE_SETTINGS


class CanInvite(_Requires):
    needed = Permission.INVITE_MEMBERS


class CanRemoveMembers(_Requires):
    needed = Permission.REMOVE_MEMBERS


class CanManageSettings(_Requires):
    needed = Permission.MANAGE_SETTINGS


class CanGenerateReports(_Requires):
    needed = Permission.GENERATE_REPORTS


class CanViewReports(_Requires):
    needed = Permission.VIEW_REPORTS


class CanWriteTeamData(_Requires):
    needed = Permission.WRITE_TEAM_DATA


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


def silent(permission: type[BasePermission]) -> PermissionExtension:
    """Deny by returning null (for nested optional fields), not by raising."""
    return PermissionExtension(permissions=[permission()], use_directives=False,
                               fail_silently=True)


class DenyAsData(FieldExtension):
    """For mutations: check the permissions before the body runs; a denial becomes a
    ``PermissionDenied`` result, and on success the context gets the actor, whose write
    carries every permission's ``commit_condition``."""

    def __init__(self, permissions: list[Guarded]) -> None:
        self.permissions = permissions

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any,
                            info: strawberry.Info, **kwargs: Any) -> Any:
        from schema.errors import denied

        ctx = _ctx(info)
        condition: Cond | None = None
        for permission in self.permissions:
            if not permission.has_permission(source, info, **kwargs):
                return denied(permission.message or "permission denied")
            required = permission.commit_condition(**kwargs)
            condition = required if condition is None else condition & required
        assert condition is not None
        assert ctx.active_member is not None
        # Mutations run one after another, so the context holds one actor at a time.
        ctx.actor = Actor(ctx.active_member, condition)
        return await next_(source, info, **kwargs)


def typed(*permission: type[Guarded]) -> DenyAsData:
    return DenyAsData([p() for p in permission])
