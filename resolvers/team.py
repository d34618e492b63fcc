"""Reads of the organization and its people, all scoped to the caller's org."""

from __future__ import annotations

from datastore import members
from datastore.records import Member, MemberStatus, Organization, Role
from resolvers.context import Context
from resolvers.paging import Slice, Window, load_slice


async def organization(ctx: Context) -> Organization | None:
    """Loaded with the caller's membership when the request began (one store call for both)."""
    return ctx.organization


async def member(ctx: Context, user_id: str) -> Member | None:
    record: Member | None = await ctx.loaders.member_by_id.load(user_id)
    return record


async def member_by_email(ctx: Context, email: str) -> Member | None:
    found = await members.get_by_email(ctx.store, ctx.caller.org_id, email)
    if found is not None:
        ctx.loaders.prime_members([found])
    return found


async def member_slice(ctx: Context, role: Role | None, status: MemberStatus | None,
                       window: Window, *, prefetch_github_data: bool = False
                       ) -> Slice[Member]:
    q = members.list_query(ctx.caller.org_id, role=role,
                           status=status.value if status else None)
    async with ctx.loaders.listing_members():
        result = await load_slice(ctx, "members", q, window, Member.from_item)
        ctx.loaders.prime_members(result.nodes)  # invitedBy/owner in the page cost nothing
    if prefetch_github_data:
        await ctx.loaders.prefetch_github_data(
            [m.github_username for m in result.nodes if m.github_username])
    return result



