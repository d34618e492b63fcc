"""Refreshing the GitHub analytics cache: fetch, compute, write the newest result only.

- In a process, concurrent refreshes of one person of one organization share one fetch.
- Across processes, the write is conditional: it lands only where no item is stored or the
  stored one was fetched earlier (``cachedAt``), so a slow refresh never overwrites a newer
  one; the loser returns what won.
- People of one organization are fetched ``org_concurrency`` at a time; the client bounds
  the requests in flight over all of them.
- ``refresh_stale`` refreshes what expires within a while (the CLI, the scheduler), and
  stops at a primary rate limit: the rest waits for the next run, counted as failed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datastore import activity, keys, members, organizations
from datastore.actors import Actor
from datastore.errors import NotFound, TransactionCanceled
from datastore.github_api import Fetched, GitHubClient
from datastore.github_history import read_history
from datastore.github_metrics import compute
from datastore.github_settings import GitHubError, GitHubRateLimited, GitHubUnavailable
from datastore.records import DAY_SECONDS, GitHubData, Member, MemberStatus
from datastore.store import Check, Put, Store, attr_lt, item_exists, item_missing

log = logging.getLogger("devinsights.github")

DATA_SOURCE = "REAL GitHub API"  # the design's value for data fetched from GitHub


@dataclass
class Summary:
    refreshed: int = 0
    unchanged: int = 0  # fetched again, same figures: only cachedAt and expiresAt moved on
    failed: int = 0
    api_calls: int = 0
    failures: list[str] = field(default_factory=list)
    rate_limited_until: dt.datetime | None = None

    def line(self) -> str:
        text = (f"{self.refreshed} refreshed, {self.unchanged} unchanged, {self.failed} failed, "
                f"{self.api_calls} GitHub API calls")
        if self.rate_limited_until is not None:
            text += (f"; GitHub's rate limit stopped the run until "
                     f"{self.rate_limited_until:%H:%M:%S} UTC")
        return text


@dataclass(frozen=True, slots=True)
class Outcome:
    data: GitHubData
    changed: bool
    api_calls: int


class Refresher:
    def __init__(self, store: Store, github: GitHubClient, *,
                 ttl_seconds: int = DAY_SECONDS, org_concurrency: int = 2) -> None:
        self.store, self.github = store, github
        self.ttl_seconds, self.org_concurrency = ttl_seconds, org_concurrency
        self._running: dict[tuple[str, str], asyncio.Future[Outcome]] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def refresh(self, member: Member, *, timezone: str, actor: Actor | None = None,
                      patient: bool = True) -> Outcome:
        """Fetch ``member``'s GitHub activity, compute it and store the result; ``actor``
        is the person who asked (None for the CLI and the scheduler, who write no activity
        event)."""
        username = member.github_username
        if not username:
            raise NotFound(f"{member.name} has no GitHub username to analyze")
        key = (member.org_id, username)
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            outcome = await self._refresh(member, username, timezone, actor, patient)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: those who shared it raise it themselves
            raise
        else:
            future.set_result(outcome)
            return outcome
        finally:
            del self._running[key]

    async def _refresh(self, member: Member, username: str, timezone: str,
                       actor: Actor | None, patient: bool) -> Outcome:
        slots = self._slots.setdefault(member.org_id,
                                       asyncio.Semaphore(self.org_concurrency))
        async with slots:
            started = time.perf_counter()
            now = dt.datetime.now(dt.UTC)
            limit = self.github.config.person_timeout_seconds
            try:
                async with asyncio.timeout(limit):
                    fetched = await self.github.fetch(username, now=now, patient=patient)
            except TimeoutError:
                raise GitHubUnavailable(f"GitHub took longer than {limit:g} s for "
                                        f"{username}'s activity") from None
            data = compute(read_history(username, fetched.documents), timezone=timezone,
                           now=now, window_days=self.github.config.window_days)
            elapsed = round((time.perf_counter() - started) * 1000)
        record = GitHubData(
            org_id=member.org_id, github_username=username, user_id=member.user_id,
            data=data, cached_at=int(now.timestamp() * 1000),
            expires_at=self.store.now_seconds() + self.ttl_seconds, data_source=DATA_SOURCE,
            generation_time=f"{elapsed}ms", api_calls_made=fetched.api_calls)
        return await self._write(record, fetched, actor)

    async def _write(self, record: GitHubData, fetched: Fetched, actor: Actor | None
                     ) -> Outcome:
        key = keys.github_data(record.org_id, record.github_username)
        before = await self.store.get(key, consistent=True)
        changed = before is None or before.get("data") != record.data
        put = Put(record.to_item(),
                  condition=item_missing() | attr_lt("cachedAt", record.cached_at))
        actions: list[Put | Check] = [put]
        if actor is not None:
            actions.append(activity.put_event(activity.event(
                self.store, record.org_id, actor.user_id, "github_data.refreshed",
                record.github_username)))
        else:
            # A scheduled refresh takes seconds: the person may have been removed, or the
            # organization deleted, meanwhile. Their analytics must not come back.
            actions.append(Check(keys.member(record.org_id, record.user_id)
                                 if record.user_id else keys.organization(record.org_id),
                                 item_exists()))
        try:
            if actor is not None:
                await actor.transact(self.store, actions)
            else:
                await self.store.transact(actions)
        except TransactionCanceled as exc:
            if actor is None and exc.failed(1):
                log.info("github data: the person or organization is gone; not stored",
                         extra={"fields": {"org": record.org_id}})
                return Outcome(record, False, fetched.api_calls)
            if not exc.failed(0):
                raise
            newer = await self.store.get(key, consistent=True)
            assert newer is not None, "only a newer item fails the write's condition"
            log.info("github data: a newer refresh won", extra={"fields": {
                "org": record.org_id, "username": record.github_username}})
            return Outcome(GitHubData.from_item(newer), False, fetched.api_calls)
        log.info("github data refreshed", extra={"fields": {
            "org": record.org_id, "username": record.github_username,
            "apiCalls": fetched.api_calls, "notModified": fetched.not_modified,
            "leftOut": len(fetched.left_out), "changed": changed}})
        return Outcome(record, changed, fetched.api_calls)


async def stale_members(store: Store, org_id: str, within_seconds: float) -> list[Member]:
    """Active members with a GitHub username whose analytics are missing or expire within
    ``within_seconds``."""
    people = [Member.from_item(i) for i in await store.query_all(members.list_query(org_id))]
    people = [m for m in people if m.github_username and m.status is MemberStatus.ACTIVE]
    found = await store.batch_get(
        [keys.github_data(org_id, m.github_username or "") for m in people])
    expiring = {item["githubUsername"]: item["expiresAt"] for item in found.values()}
    horizon = store.now_seconds() + within_seconds
    return [m for m in people if expiring.get(m.github_username, 0) <= horizon]


Progress = Callable[[int, int, str], None]  # done, total, what just finished


async def refresh_stale(refresher: Refresher, org_ids: Sequence[str], *,
                        within_seconds: float, progress: Progress | None = None) -> Summary:
    summary = Summary()
    for org_id in org_ids:
        org = await organizations.get(refresher.store, org_id)
        if org is None:
            summary.failed += 1
            summary.failures.append(f"{org_id}: no such organization")
            continue
        due = await stale_members(refresher.store, org_id, within_seconds)
        await _refresh_all(refresher, due, str(org.settings.get("timezone") or "UTC"),
                           summary, progress)
        if summary.rate_limited_until is not None:
            break
    return summary


async def _refresh_all(refresher: Refresher, due: list[Member], timezone: str,
                       summary: Summary, progress: Progress | None) -> None:
    """``org_concurrency`` workers take the people in turn; after a spent rate limit they
    try no one else."""
    waiting = list(reversed(due))
    done = 0

    async def worker() -> None:
        nonlocal done
        while waiting:
            member = waiting.pop()
            label = f"{member.org_id}/{member.github_username}"
            if summary.rate_limited_until is not None:
                summary.failed += 1
                summary.failures.append(f"{label}: not tried (rate limited)")
            else:
                await _refresh_one(refresher, member, timezone, summary, label)
            done += 1
            if progress is not None:
                progress(done, len(due), label)

    await asyncio.gather(*(worker() for _ in range(refresher.org_concurrency)))


async def _refresh_one(refresher: Refresher, member: Member, timezone: str, summary: Summary,
                       label: str) -> None:
    try:
        outcome = await refresher.refresh(member, timezone=timezone)
    except GitHubError as exc:
        if isinstance(exc, GitHubRateLimited) and not exc.secondary:
            summary.rate_limited_until = exc.resets_at
        summary.api_calls += exc.api_calls
        summary.failed += 1
        summary.failures.append(f"{label}: {exc}")
    else:
        summary.api_calls += outcome.api_calls
        if outcome.changed:
            summary.refreshed += 1
        else:
            summary.unchanged += 1
