"""The organization's activity feed (GSI2) and its live subscription."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from datastore import activity
from datastore.records import ActivityEvent, Member, MemberStatus
from resolvers.context import Context
from resolvers.paging import Slice, Window, load_slice


async def activity_slice(ctx: Context, window: Window) -> Slice[ActivityEvent]:
    return await load_slice(ctx, "activity", activity.recent_query(ctx.caller.org_id), window,
                            ActivityEvent.from_item)


ENDED = "access_ended"  # ctx.extra key: why a subscription stopped delivering


def concerns_caller(ctx: Context, event: ActivityEvent) -> bool:
    """Whether an event may have changed what the subscriber may see: something done to or
    by them (role, status, profile, ownership), or to the organization (its settings)."""
    user = ctx.caller.user_id
    return event.target == user or event.actor_id == user \
        or event.action.startswith("organization.")


def access_ended(member: Member | None) -> str | None:
    """Why the caller may no longer subscribe, or None while they are an active member."""
    if member is None:
        return "you are no longer a member of this organization"
    if member.status is not MemberStatus.ACTIVE:
        return f"your membership of this organization is {member.status.value}"
    return None


async def live(ctx: Context) -> AsyncIterator[ActivityEvent]:
    """Events of the caller's org, each delivered under the membership of its moment.

    Before an event goes out, the caller's membership and organization are read again
    (strongly consistent, one BatchGetItem) when the event concerns them or their
    organization, or when the last read is older than ``membership_recheck_seconds``. Each
    event then resolves through fresh loaders, as a request of that moment would: a demoted
    admin's next event shows what a viewer sees. When the caller is no longer an active
    member the stream ends, with the reason in ``ctx.extra[ENDED]`` for the transport.
    """
    org = ctx.caller.org_id
    recheck = ctx.settings.membership_recheck_seconds
    async for event in ctx.broker.subscribe(org):
        if event.org_id != org:  # the broker is keyed by org; check anyway
            continue
        if concerns_caller(ctx, event) or time.monotonic() - ctx.read_at >= recheck:
            await ctx.refresh()
        ended = access_ended(ctx.member)
        if ended is not None:
            ctx.extra[ENDED] = ended
            return
        ctx.renew()
        yield event


async def event(ctx: Context, at_ms: int, event_id: str) -> ActivityEvent | None:
    return await activity.get(ctx.store, ctx.caller.org_id, at_ms, event_id)
