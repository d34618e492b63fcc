"""Who may read or do what, declared on fields; resolver bodies never check roles.

The caller's membership record (loaded once per request, strongly consistent) decides, not
the token: a removed or demoted person loses access at once, even with an unexpired token.
A mutation's permission also travels into its write (``commit_condition``): the transaction
re-checks the actor's membership, so a demotion that lands mid-request still wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from datastore import actors
from datastore.actors import Actor
from datastore.records import Permission, Role
from datastore.store import Cond, attr_eq


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


class CanRefreshGitHubDataOf(Guarded):
    """Anyone's with write_team_data (admins); one's own with read_own_data (members)."""

    message = ("refreshing someone else's GitHub data needs the write_team_data permission; "
               "you may refresh your own")
    error_extensions = {"code": "FORBIDDEN"}

    @staticmethod
    def _target(kwargs: dict[str, Any]) -> str | None:
        given = getattr(kwargs.get("input"), "user_id", None)
        return None if given is None else str(given)

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        member = _ctx(info).active_member
        if member is None:
            return False
        target = self._target(kwargs)
        needed = Permission.READ_OWN_DATA if target in (None, member.user_id) \
            else Permission.WRITE_TEAM_DATA
        return needed in member.permissions

    def commit_condition(self, **kwargs: Any) -> Cond:
        # Checked on the actor's own member item: its userId is the target exactly when
        # they refresh their own.
        target = self._target(kwargs)
        own = actors.has_permission(Permission.READ_OWN_DATA)
        if target is not None:
            own = own & attr_eq("userId", target)
        return actors.has_permission(Permission.WRITE_TEAM_DATA) | own


@dataclass(frozen=True, slots=True)
class AnalyticsView:
    """What one caller may see of the organization's per-person analytics: the one policy
    behind every analytics field (README, "Analytics privacy").

    Admins, and members while ``allowMembersViewOthers`` is on, see ``everyone``. Everyone
    else (viewers; members while it is off) sees their own analytics if their role has
    ``read_own_data`` (viewers' does not), and aggregates only of at least ``min_group_size``
    analyzed people: an average of one person is that person's score.
    """

    everyone: bool
    own_user_id: str | None
    own_username: str | None
    min_group_size: int

    def sees(self, *, user_id: str | None = None, username: str | None = None) -> bool:
        """The analytics, labels and report entries of this person."""
        if self.everyone:
            return True
        return ((user_id is not None and user_id == self.own_user_id)
                or (username is not None and username == self.own_username))

    def sees_group(self, size: int) -> bool:
        """An aggregate over ``size`` analyzed people."""
        return self.everyone or size >= self.min_group_size

    def sees_recommendation(self, subjects: tuple[str, ...] | None, group_size: int) -> bool:
        """A recommendation naming ``subjects`` (None: someone unknown), drawn from a report
        over ``group_size`` analyzed people. One naming only the caller still says that no
        one else was named, so it is an aggregate too."""
        if self.everyone:
            return True
        return (subjects is not None and all(self.sees(user_id=s) for s in subjects)
                and self.sees_group(group_size))


def analytics_view(info: strawberry.Info) -> AnalyticsView:
    ctx = _ctx(info)
    member = ctx.active_member
    min_group_size: int = ctx.settings.analytics_min_group_size
    if member is None:
        return AnalyticsView(False, None, None, min_group_size)
    org = ctx.organization
    others_allowed = member.role is Role.ADMIN or (
        org is not None and org.settings.get("allowMembersViewOthers", True) is not False)
    own = Permission.READ_OWN_DATA in member.permissions
    everyone = Permission.READ_TEAM_DATA in member.permissions and others_allowed
    return AnalyticsView(everyone=everyone,
                         own_user_id=member.user_id if own else None,
                         own_username=member.github_username if own else None,
                         min_group_size=min_group_size)


def may_see_analytics_of(info: strawberry.Info, github_username: str | None) -> bool:
    """Whether the caller may see this person's analytics (None: everyone's)."""
    return analytics_view(info).sees(username=github_username)


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


class OnlyVisiblePeople(FieldExtension):
    """On a list of report people: only those the caller may see (their own entry, or none,
    for those who may not see per-person analytics)."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info,
                **kwargs: Any) -> Any:
        people = next_(source, info, **kwargs)
        view = analytics_view(info)
        return people if view.everyone else [p for p in people
                                             if view.sees(user_id=str(p.user_id))]


class OnlyVisibleRecommendations(FieldExtension):
    """On a report's recommendations (each with ``subjects`` and ``group_size``)."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info,
                **kwargs: Any) -> Any:
        found = next_(source, info, **kwargs)
        view = analytics_view(info)
        return [r for r in found if view.sees_recommendation(r.subjects, r.group_size)]


class Aggregate(FieldExtension):
    """On a number computed over the analyzed people (its source has ``group_size``): null
    for those who may not see per-person analytics when the group is too small."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info,
                **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        return value if analytics_view(info).sees_group(source.group_size) else None


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
