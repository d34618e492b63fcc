"""Per-organization API quotas (the design doc's ``usage.apiCalls``), counted in the store.

What counts is decided at the edge (web/edge.py): one call per operation of an active member.

Every process counts its requests locally and adds them to the organization item with one
atomic update per ``flush_calls`` requests or per second, whichever comes first (so about
one write per second per busy organization and process); the first
request of an organization in a process always goes to the store, to learn the limit. So the
count is exact across processes (nothing is lost: every flush is an atomic ADD), while a
request costs a store write only now and then. The price: with N processes, an organization
may exceed its limit by at most N x ``flush_calls`` calls before all of them refuse.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from datastore import organizations
from datastore.errors import NotFound, StoreError
from datastore.store import Store

log = logging.getLogger("devinsights.quota")
FLUSH_SECONDS = 1.0


class QuotaExceeded(Exception):
    def __init__(self, limit: int, period: str, retry_after: int, *, left: int = 0,
                 calls: int = 1) -> None:
        used = (f"the organization has used all {limit} API calls of {period}" if left <= 0
                else f"this request counts {calls} API calls and the organization has "
                     f"{left} of its {limit} of {period} left")
        super().__init__(f"{used}; the quota resets in {retry_after} seconds (at the start "
                         "of next month, UTC) or when the plan's limit is raised")
        self.retry_after = retry_after


def month_of(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m")


def seconds_to_next_month(now: float) -> int:
    today = datetime.datetime.fromtimestamp(now, datetime.UTC)
    first = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return max(1, int((following - today).total_seconds()))


@dataclass
class _Tally:
    period: str
    pending: int = 0
    stored: int | None = None  # the count in the store after our last flush
    limit: int | None = None
    flushed_at: float = 0.0
    flushing: bool = False


class UsageMeter:
    def __init__(self, store: Callable[[], Store], *, flush_calls: int = 1000,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.flush_calls = flush_calls
        self.clock = clock
        self._tallies: dict[str, _Tally] = {}

    async def admit(self, org_id: str, calls: int = 1) -> None:
        """Count ``calls`` calls of ``org_id`` (the operations of one request); raise
        QuotaExceeded, counting none, when they do not all fit in what its quota has left."""
        now = self.clock()
        period = month_of(now)
        tally = self._tallies.get(org_id)
        if tally is None or tally.period != period:
            tally = self._tallies[org_id] = _Tally(period)
        if (tally.limit is not None and tally.stored is not None
                and tally.stored + tally.pending + calls > tally.limit):
            raise QuotaExceeded(tally.limit, period, seconds_to_next_month(now),
                                left=tally.limit - tally.stored - tally.pending, calls=calls)
        tally.pending += calls
        due = (tally.stored is None or tally.pending >= self.flush_calls
               or now - tally.flushed_at >= FLUSH_SECONDS)
        if due and not tally.flushing:
            await self._flush(org_id, tally, now)

    async def _flush(self, org_id: str, tally: _Tally, now: float) -> None:
        amount, tally.pending, tally.flushing = tally.pending, 0, True
        try:
            tally.stored, tally.limit = await organizations.count_api_call(
                self._store(), org_id, tally.period, amount)
            tally.flushed_at = now
        except NotFound:
            # No organization yet (createOrganization): nothing to count, and no reason to
            # ask again before the next regular flush.
            tally.stored, tally.limit, tally.flushed_at = 0, None, now
        except StoreError as exc:
            tally.pending += amount  # keep the calls; the request itself decides its outcome
            log.warning("could not count API calls: %s", type(exc).__name__)
        finally:
            tally.flushing = False

    async def flush_all(self) -> None:
        """Write every pending count (at shutdown)."""
        now = self.clock()
        for org_id, tally in list(self._tallies.items()):
            if tally.pending and not tally.flushing:
                await self._flush(org_id, tally, now)
