"""The organization's activity feed (GSI2) and its live subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator

from datastore import activity
from datastore.records import ActivityEvent
from resolvers.context import Context
from resolvers.paging import Slice, load_slice


async def activity_slice(ctx: Context, first: int | None, after: str | None
                         ) -> Slice[ActivityEvent]:
    return await load_slice(ctx, "activity", activity.recent_query(ctx.caller.org_id), first,
                            after, ActivityEvent.from_item)


async def live(ctx: Context) -> AsyncIterator[ActivityEvent]:
    async for event in ctx.broker.subscribe(ctx.caller.org_id):
        if event.org_id == ctx.caller.org_id:  # the broker is keyed by org; check anyway
            yield event
