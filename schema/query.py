"""The Query root. No argument anywhere takes an organization id: the token decides."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.permission import BasePermission

from datastore import keys
from datastore.errors import InvitationUnavailable
from datastore.records import InvitationStatus as StoredInvitationStatus
from resolvers import activity, analytics, membership, team
from resolvers.context import Context
from resolvers.paging import Window
from resolvers.validation import InputInvalid
from schema import permissions
from schema.node import GlobalId, Node, parse_global_id
from schema.scalars import from_seconds
from schema.types import (
    PAGED,
    ActivityEvent,
    ActivityEventConnection,
    GitHubData,
    GitHubDataConnection,
    Invitation,
    InvitationConnection,
    InvitationPreview,
    InvitationState,
    InvitationStatus,
    Member,
    MemberConnection,
    MemberStatus,
    Organization,
    Role,
    TeamReport,
    member_page,
    page_of,
)

MEMBER_ONLY: list[type[BasePermission]] = [permissions.IsMember]
MAX_NODES = 100


def _ctx(info: strawberry.Info) -> Context:
    context: Context = info.context
    return context


def _allowed(permission: type[BasePermission], info: strawberry.Info, **kwargs: Any) -> bool:
    return bool(permission().has_permission(None, info, **kwargs))


async def _organization(info: strawberry.Info, gid: GlobalId) -> Node | None:
    org = _ctx(info).organization
    if gid.rest or org is None or not _allowed(permissions.IsMember, info):
        return None
    return Organization.from_record(org)


async def _member(info: strawberry.Info, gid: GlobalId) -> Node | None:
    if len(gid.rest) != 1 or not _allowed(permissions.IsMember, info):
        return None
    record = await team.member(_ctx(info), gid.rest[0])
    return Member.from_record(record) if record else None


async def _invitation(info: strawberry.Info, gid: GlobalId) -> Node | None:
    if len(gid.rest) != 1 or not _allowed(permissions.CanInvite, info):
        return None
    record = await membership.invitation(_ctx(info), gid.rest[0])
    return Invitation.from_record(record) if record else None


async def _github_data(info: strawberry.Info, gid: GlobalId) -> Node | None:
    if len(gid.rest) != 1 or not permissions.may_see_analytics_of(info, gid.rest[0]):
        return None
    record = await analytics.github_data(_ctx(info), gid.rest[0])
    return GitHubData.from_record(record) if record else None


async def _team_report(info: strawberry.Info, gid: GlobalId) -> Node | None:
    if len(gid.rest) != 1 or not _allowed(permissions.CanViewReports, info):
        return None
    record = await analytics.team_report(_ctx(info), gid.rest[0])
    return TeamReport.from_record(record) if record else None


async def _activity_event(info: strawberry.Info, gid: GlobalId) -> Node | None:
    if len(gid.rest) != 2 or not gid.rest[0].isdigit() \
            or not _allowed(permissions.IsMember, info):
        return None
    record = await activity.event(_ctx(info), int(gid.rest[0]), gid.rest[1])
    return ActivityEvent.from_record(record) if record else None


NODE_TYPES: dict[str, Callable[[strawberry.Info, GlobalId], Awaitable[Node | None]]] = {
    "Organization": _organization, "Member": _member, "Invitation": _invitation,
    "GitHubData": _github_data, "TeamReport": _team_report, "ActivityEvent": _activity_event,
}


async def resolve_node(info: strawberry.Info, value: str) -> Node | None:
    """The object of a global id, or null: for an id of another organization exactly as for
    one that never existed, and for an object the caller may not read."""
    gid = parse_global_id(value)
    if gid is None:
        raise InputInvalid("id", "not an id this API issued; pass the `id` of an object")
    load = NODE_TYPES.get(gid.type_name)
    if load is None:
        raise InputInvalid("id", "not an id this API issued; pass the `id` of an object")
    if gid.org_id != _ctx(info).caller.org_id:
        return None
    try:
        return await load(info, gid)
    except keys.InvalidKeyPart:
        return None


@strawberry.type
class Query:
    @strawberry.field(description="The caller's own membership; null if not a member.")
    def viewer(self, info: strawberry.Info) -> Member | None:
        member = _ctx(info).member
        return Member.from_record(member) if member else None

    @strawberry.field(description="The invitation a token opens, for the person holding "
                                  "it (their token names the organization); null for a token "
                                  "that opens nothing.")
    async def invitation(self, info: strawberry.Info, token: str) -> InvitationPreview | None:
        try:
            found = await membership.preview_invitation(_ctx(info), token)
        except (InvitationUnavailable, InputInvalid):
            return None
        return InvitationPreview(organization_name=found.organization_name,
                                 inviter_name=found.inviter_name, role=Role(found.role.value),
                                 expires_at=from_seconds(found.expires_at),
                                 status=InvitationState(found.state.value))

    @strawberry.field(description="The object with this global id; null when it does not "
                                  "exist in your organization or you may not read it.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, str(id))

    @strawberry.field(description=f"The objects of up to {MAX_NODES} global ids, in order; "
                                  "null where `node(id:)` would be null.")
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]
                    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise InputInvalid("ids", f"pass at most {MAX_NODES} ids")
        # Concurrently, so the request's loaders batch them into few store calls.
        return list(await asyncio.gather(*(resolve_node(info, str(v)) for v in ids)))

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="The caller's organization (from the token).")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        record = await team.organization(_ctx(info))
        return Organization.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="A person of the caller's organization by user id.")
    async def member(self, info: strawberry.Info, user_id: strawberry.ID) -> Member | None:
        record = await team.member(_ctx(info), str(user_id))
        return Member.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="A person of the caller's organization by email (GSI1).")
    async def member_by_email(self, info: strawberry.Info, email: str) -> Member | None:
        record = await team.member_by_email(_ctx(info), email)
        return Member.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="The organization's people (as `organization.members`). "
                                  + PAGED)
    async def members(self, info: strawberry.Info, role: Role | None = None,
                      status: MemberStatus | None = None, first: int | None = None,
                      after: str | None = None, last: int | None = None,
                      before: str | None = None) -> MemberConnection:
        return await member_page(info, role, status, Window(first, after, last, before))

    @strawberry.field(permission_classes=[permissions.CanInvite],
                      description="Newest last. " + PAGED)
    async def invitations(self, info: strawberry.Info, status: InvitationStatus | None = None,
                          first: int | None = None, after: str | None = None,
                          last: int | None = None, before: str | None = None
                          ) -> InvitationConnection:
        ctx = _ctx(info)
        stored = StoredInvitationStatus(status.value) if status else None
        result = await membership.invitation_slice(ctx, stored,
                                                   Window(first, after, last, before))
        edges, page_info = page_of(result, Invitation.from_record)

        async def count() -> int:
            return await membership.invitation_count(ctx, stored)
        return InvitationConnection(edges=edges, page_info=page_info, count=count)

    @strawberry.field(permission_classes=[permissions.CanSeeAnalyticsOf],
                      description="Cached analytics of one GitHub username; null when absent "
                                  "or expired.")
    async def github_data(self, info: strawberry.Info, username: str) -> GitHubData | None:
        record = await analytics.github_data(_ctx(info), username)
        return GitHubData.from_record(record) if record else None

    @strawberry.field(permission_classes=[permissions.CanSeeTeamAnalytics],
                      description="Every member's cached analytics, by GitHub username. "
                                  + PAGED)
    async def team_git_hub_data(self, info: strawberry.Info, first: int | None = None,
                                after: str | None = None, last: int | None = None,
                                before: str | None = None) -> GitHubDataConnection:
        ctx = _ctx(info)
        result = await analytics.team_github_data(ctx, Window(first, after, last, before))
        edges, page_info = page_of(result, GitHubData.from_record)

        async def count() -> int:
            return await analytics.count_github_data(ctx)
        return GitHubDataConnection(edges=edges, page_info=page_info, count=count)

    @strawberry.field(permission_classes=[permissions.CanViewReports],
                      description="The report of a date (YYYY-MM-DD), or the latest one.")
    async def team_report(self, info: strawberry.Info, date: str | None = None
                          ) -> TeamReport | None:
        record = await analytics.team_report(_ctx(info), date)
        return TeamReport.from_record(record) if record else None

    @strawberry.field(permission_classes=MEMBER_ONLY,
                      description="Newest first (GSI2). " + PAGED)
    async def activity(self, info: strawberry.Info, first: int | None = None,
                       after: str | None = None, last: int | None = None,
                       before: str | None = None) -> ActivityEventConnection:
        result = await activity.activity_slice(_ctx(info), Window(first, after, last, before))
        edges, page_info = page_of(result, ActivityEvent.from_record)
        return ActivityEventConnection(edges=edges, page_info=page_info)


