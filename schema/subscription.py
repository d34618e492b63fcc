"""Live activity of the caller's organization over WebSocket (graphql-transport-ws)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import activity
from schema import permissions
from schema.types import ActivityEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[permissions.IsMember])
    async def activity(self, info: strawberry.Info) -> AsyncGenerator[ActivityEvent, None]:
        async for event in activity.live(info.context):
            yield ActivityEvent.from_record(event)
