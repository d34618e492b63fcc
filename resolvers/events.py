"""In-process fan-out of activity events to subscribers, one queue per subscription.

With DEVINSIGHTS_EVENTS=process the store's own writes feed it (``attach``); with ``table``
the store's feed of every process's activity does (datastore/feeds.py; README, "Several
processes"), and ``attach`` is not called, so no event is delivered twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from datastore.records import ActivityEvent
from datastore.store import Item, Store

QUEUE_SIZE = 256


class ActivityBroker:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[ActivityEvent]]] = defaultdict(set)

    def attach(self, store: Store) -> None:
        """Publish every activity event the store writes (its in-process write stream)."""
        store.write_listeners.append(self.on_item_written)

    def detach(self, store: Store) -> None:
        if self.on_item_written in store.write_listeners:
            store.write_listeners.remove(self.on_item_written)

    def on_item_written(self, item: Item) -> None:
        if item.get("entityType") == "ACTIVITY" and self._queues.get(
                item.get("organizationId", "")):
            self.publish(ActivityEvent.from_item(item))

    def publish(self, event: ActivityEvent) -> None:
        for queue in list(self._queues.get(event.org_id, ())):
            if queue.full():
                queue.get_nowait()  # a slow subscriber loses its oldest event, not the server
            queue.put_nowait(event)

    async def subscribe(self, org_id: str) -> AsyncIterator[ActivityEvent]:
        queue: asyncio.Queue[ActivityEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues[org_id].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues[org_id].discard(queue)
            if not self._queues[org_id]:
                del self._queues[org_id]

    def subscribers(self, org_id: str) -> int:
        return len(self._queues.get(org_id, ()))
