"""The process's way to GitHub: one client and refresher, opened when a refresh first runs.

Reads of the API never come here; gidgethub and httpx are imported on the first refresh
(the mutation, the scheduler), not when the server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from datastore import leases
from datastore.github_settings import GitHubConfig, GitHubNotConfigured
from datastore.records import DAY_SECONDS
from datastore.store import Store

log = logging.getLogger("devinsights.github")
SCHEDULER_LEASE = "analytics-scheduler"

if TYPE_CHECKING:
    from datastore.github_api import GitHubClient
    from datastore.github_refresh import Refresher


class GitHubSource:
    def __init__(self, config: GitHubConfig, *, ttl_seconds: int = DAY_SECONDS,
                 org_concurrency: int = 2) -> None:
        self.config = config
        self.ttl_seconds, self.org_concurrency = ttl_seconds, org_concurrency
        self._client: GitHubClient | None = None
        self._refreshers: dict[int, Refresher] = {}
        self._opening = asyncio.Lock()
        self.on_response: Callable[[int], None] | None = None  # every GitHub response

    @property
    def configured(self) -> bool:
        return self.config.configured

    async def refresher(self, store: Store) -> Refresher:
        """The refresher writing to ``store``; raises GitHubNotConfigured without
        credentials."""
        if not self.config.configured:
            raise GitHubNotConfigured
        async with self._opening:
            if self._client is None:
                from datastore.github_api import GitHubClient
                client = GitHubClient(self.config)
                client.on_response = self.on_response
                self._client = await client.__aenter__()
            found = self._refreshers.get(id(store))
            if found is None or found.store is not store:
                from datastore.github_refresh import Refresher
                found = self._refreshers[id(store)] = Refresher(
                    store, self._client, ttl_seconds=self.ttl_seconds,
                    org_concurrency=self.org_concurrency)
            return found

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._refreshers.clear()

    async def run_scheduler(self, store: Store, interval_seconds: float) -> None:
        """Refresh what expires within two intervals, every interval, until cancelled; a
        spent rate limit puts the next run after its reset. Of all the processes on the
        store, only the holder of the scheduler's lease runs (datastore/leases.py)."""
        holder = leases.holder_id()
        lease_seconds = 2 * interval_seconds
        try:
            while True:
                pause = interval_seconds
                try:
                    if await leases.acquire(store, SCHEDULER_LEASE, holder, lease_seconds):
                        pause = await self._scheduled_run(store, holder, interval_seconds)
                except Exception as exc:  # the next run tries again; the server goes on
                    log.error("analytics refresh failed", extra={"fields": {
                        "errorType": type(exc).__name__}})
                await asyncio.sleep(pause)
        finally:
            with contextlib.suppress(Exception):
                await leases.release(store, SCHEDULER_LEASE, holder)

    async def _scheduled_run(self, store: Store, holder: str, interval_seconds: float
                             ) -> float:
        """One run, renewing the lease while it lasts; the pause before the next."""
        from datastore.github_refresh import refresh_stale

        async def renew() -> None:
            while True:
                await asyncio.sleep(interval_seconds / 2)
                await leases.acquire(store, SCHEDULER_LEASE, holder, 2 * interval_seconds)

        renewal = asyncio.create_task(renew(), name="analytics-lease")
        try:
            refresher = await self.refresher(store)
            summary = await refresh_stale(refresher, await store.organization_ids(),
                                          within_seconds=2 * interval_seconds)
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
        log.info("analytics refreshed", extra={"fields": {
            "refreshed": summary.refreshed, "unchanged": summary.unchanged,
            "failed": summary.failed, "apiCalls": summary.api_calls,
            "failures": summary.failures[:20]}})
        if summary.rate_limited_until is not None:
            wait = (summary.rate_limited_until - dt.datetime.now(dt.UTC))
            return max(interval_seconds, wait.total_seconds())
        return interval_seconds
