"""Activity events: one per mutation, written in the same transaction as the change."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from datastore import keys
from datastore.records import ActivityEvent, now_ms
from datastore.store import Put, Query, Store

ACTIVITY_TTL_SECONDS = 90 * 24 * 3600


# Events sort by their millisecond, then by id: an id that starts with a per-process sequence
# keeps two events of one process in one millisecond in the order they happened (a mutation
# and the next one, say), where random ids would order them by chance.
_sequence = itertools.count()


def event(store: Store, org_id: str, actor_id: str, action: str, target: str | None = None,
          **details: Any) -> ActivityEvent:
    event_id = f"{next(_sequence) % 16**6:06x}{uuid.uuid4().hex[:8]}"
    return ActivityEvent(org_id=org_id, event_id=event_id, at=now_ms(),
                         actor_id=actor_id, action=action, target=target, details=details,
                         expires_at=store.now_seconds() + ACTIVITY_TTL_SECONDS)


def put_event(e: ActivityEvent) -> Put:
    return Put(e.to_item())


def recent_query(org_id: str, *, limit: int | None = None, cursor: str | None = None,
                 since_ms: int | None = None) -> Query:
    """GSI2: the organization's activity, newest first."""
    between = None
    if since_ms is not None:
        between = (keys.activity_time(since_ms), keys.TIMESTAMP + "9" * 13 + "~")
    return Query(partition=keys.activity_index(org_id), index="GSI2",
                 prefix=None if between else keys.TIMESTAMP, between=between, forward=False,
                 limit=limit, cursor=cursor)


async def get(store: Store, org_id: str, at_ms: int, event_id: str) -> ActivityEvent | None:
    item = await store.get(keys.activity(org_id, at_ms, event_id))
    return ActivityEvent.from_item(item) if item else None
