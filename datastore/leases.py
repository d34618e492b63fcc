"""A lease: at most one holder of a named duty at a time, across every process on the store.

The analytics scheduler runs in each `serve` process (and each worker); only the lease's
holder refreshes, so GitHub is asked once however many processes serve. A holder renews
its lease as it goes; a holder that dies loses it when it runs out, and another process
takes it at its next try. The item lives outside every organization's partition
(``PK = LEASE#{name}``), so exports and deletions of an organization never see it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid

from datastore.errors import ConditionFailed
from datastore.keys import Key
from datastore.store import Store, attr_eq, attr_lt, item_missing

LEASE = "LEASE#"
KEEP_SECONDS = 3600  # an abandoned lease item is deleted by TTL an hour after it ran out


def holder_id() -> str:
    """This process, as a lease holder: host, pid, and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire(store: Store, name: str, holder: str, seconds: float) -> bool:
    """Hold ``name`` for ``seconds`` from now, or renew it; False while another holds it."""
    now_ms = int(store.clock() * 1000)
    until_ms = now_ms + int(seconds * 1000)
    item = {"PK": LEASE + name, "SK": LEASE + name, "entityType": "LEASE", "holder": holder,
            "untilMs": until_ms, "expiresAt": until_ms // 1000 + KEEP_SECONDS}
    try:
        await store.put(item, condition=item_missing() | attr_eq("holder", holder)
                        | attr_lt("untilMs", now_ms))
    except ConditionFailed:
        return False
    return True


async def release(store: Store, name: str, holder: str) -> None:
    """Give the lease up now (at shutdown), so another process need not wait it out."""
    with contextlib.suppress(ConditionFailed):  # it ran out and another holds it now
        await store.delete(Key(LEASE + name, LEASE + name), condition=attr_eq("holder", holder))
