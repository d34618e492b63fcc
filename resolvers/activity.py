"""The organization's activity feed (GSI2) and its live subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator

from datastore import activity, members
from datastore.records import ActivityEvent, MemberStatus
from resolvers.context import Context
from resolvers.paging import Slice, Window, load_slice


async def activity_slice(ctx: Context, window: Window) -> Slice[ActivityEvent]:
    return await load_slice(ctx, "activity", activity.recent_query(ctx.caller.org_id), window,
                            ActivityEvent.from_item)


async def live(ctx: Context) -> AsyncIterator[ActivityEvent]:
    """Events of the caller's org while the caller stays an active member.

    Membership is re-read whenever an event is about the subscriber (removed, suspended,
    role changed): a removed person's open subscription ends at once, like their requests.
    """
    org, user = ctx.caller.org_id, ctx.caller.user_id
    async for event in ctx.broker.subscribe(org):
        if event.org_id != org:  # the broker is keyed by org; check anyway
            continue
        if event.target == user:
            member = await members.get(ctx.store, org, user, consistent=True)
            if member is None or member.status is not MemberStatus.ACTIVE:
                return
        yield event


async def event(ctx: Context, at_ms: int, event_id: str) -> ActivityEvent | None:
    return await activity.get(ctx.store, ctx.caller.org_id, at_ms, event_id)
