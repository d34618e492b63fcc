"""The Query root. No argument anywhere takes an organization id: the token decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import strawberry
from strawberry.permission import BasePermission
from strawberry.types.nodes import SelectedField, Selection

from datastore import records
from resolvers import activity, analytics, membership, team
from resolvers.paging import Slice
from schema import permissions
from schema.types import (
    ActivityEvent,
    Connection,
    Edge,
    GitHubData,
    Invitation,
    InvitationStatus,
    Member,
    MemberStatus,
    Organization,
    PageInfo,
    Role,
    TeamReport,
)

R = TypeVar("R")
T = TypeVar("T")

MEMBER_ONLY: list[type[BasePermission]] = [permissions.IsMember]


def connection(result: Slice[R], wrap: Callable[[R], T]) -> Connection[T]:
    edges = [Edge(cursor=c, node=wrap(n)) for n, c in zip(result.nodes, result.cursors,
                                                            strict=True)]
    return Connection(edges=edges, page_info=PageInfo(
        has_next_page=result.has_next, has_previous_page=False,
        start_cursor=result.cursors[0] if result.cursors else None,
        end_cursor=result.cursors[-1] if result.cursors else None))


def selects(fields: Sequence[Selection], *path: str) -> bool:
    """Whether the selection reaches ``path`` (through fragments too)."""
    if not path:
        return True
    for field in fields:
        if isinstance(field, SelectedField):
            for child in field.selections:
                if _reaches(child, path):
                    return True
    return False


def _reaches(selection: Selection, path: Sequence[str]) -> bool:
    if isinstance(selection, SelectedField):
        if selection.name != path[0]:
            return False
        return len(path) == 1 or any(_reaches(c, path[1:]) for c in selection.selections)
    return any(_reaches(c, path) for c in selection.selections)


def _ctx(info: strawberry.Info) -> Any:
    return info.context


@strawberry.type
class Query:
    @strawberry.field(description="The caller's own membership; null if not a member.")
    def viewer(self, info: strawberry.Info) -> Member | None:
        member = _ctx(info).member
        return Member.from_record(member) if member else None

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="The caller's organization (from the token).")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        record = await team.organization(_ctx(info))
        return Organization.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY)
    async def member(self, info: strawberry.Info, id: strawberry.ID) -> Member | None:
        record = await team.member(_ctx(info), str(id))
        return Member.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="A person of the caller's organization by email (GSI1).")
    async def member_by_email(self, info: strawberry.Info, email: str) -> Member | None:
        record = await team.member_by_email(_ctx(info), email)
        return Member.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY)
    async def members(self, info: strawberry.Info, role: Role | None = None,
                      status: MemberStatus | None = None, first: int | None = None,
                      after: str | None = None) -> Connection[Member]:
        ctx = _ctx(info)
        prefetch = (selects(info.selected_fields, "edges", "node", "githubData")
                    and ctx.active_member is not None
                    and ctx.active_member.role is not records.Role.VIEWER)
        result = await team.member_slice(
            ctx, records.Role(role.value) if role else None,
            records.MemberStatus(status.value) if status else None, first, after,
            prefetch_github_data=prefetch)
        return connection(result, Member.from_record)

    @strawberry.field(permission_classes=[permissions.CanInvite])
    async def invitations(self, info: strawberry.Info, status: InvitationStatus | None = None,
                          first: int | None = None, after: str | None = None
                          ) -> Connection[Invitation]:
        result = await membership.invitation_slice(
            _ctx(info), records.InvitationStatus(status.value) if status else None, first,
            after)
        return connection(result, Invitation.from_record)

    @strawberry.field(permission_classes=[permissions.CanSeeAnalyticsOf],
                      description="Cached analytics of one GitHub username; null when absent "
                                  "or expired.")
    async def github_data(self, info: strawberry.Info, username: str) -> GitHubData | None:
        record = await analytics.github_data(_ctx(info), username)
        return GitHubData.from_record(record) if record else None

    @strawberry.field(permission_classes=[permissions.CanSeeTeamAnalytics])
    async def team_git_hub_data(self, info: strawberry.Info) -> list[GitHubData]:
        return [GitHubData.from_record(r) for r in await analytics.team_github_data(_ctx(info))]

    @strawberry.field(permission_classes=[permissions.CanViewReports],
                      description="The report of a date (YYYY-MM-DD), or the latest one.")
    async def team_report(self, info: strawberry.Info, date: str | None = None
                          ) -> TeamReport | None:
        record = await analytics.team_report(_ctx(info), date)
        return TeamReport.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY, description="Newest first (GSI2).")
    async def activity(self, info: strawberry.Info, first: int | None = None,
                       after: str | None = None) -> Connection[ActivityEvent]:
        result = await activity.activity_slice(_ctx(info), first, after)
        return connection(result, ActivityEvent.from_record)
