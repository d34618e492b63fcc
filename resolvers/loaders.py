"""Per-request loaders, named ``<thing>_by_<key>``; every key is built from the caller's org.

A listing in flight answers point lookups: when the members page and, say, the team report's
people resolve concurrently, the report's member loads wait for the page and take the members
it returned instead of racing it with a BatchGetItem of their own. That keeps the number of
store calls of a query fixed, whatever the timing of the backend.

Many keys at once are read the cheaper of two ways. BatchGetItem charges every item as if it
were 4 KB; a Query of the entity's prefix charges the bytes it reads, summed. So when a
request wants a good share of the team's people or analytics (a quarter of the team, with
items of about 1 KB), one Query of the whole prefix costs less than fetching each by key:
at 100 members the dashboard's analytics cost 7 RCU that way instead of 50.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader

from datastore import analytics, keys, members
from datastore.keys import Key
from datastore.records import GitHubData, Member, Organization, TeamReport
from datastore.store import Item, Query, Store

T = TypeVar("T")
READ_UNIT_BYTES = 4096
# What a member or GitHub data item weighs, for choosing between BatchGetItem and a Query of
# the prefix; erring high only makes the Query chosen a little later.
ITEM_BYTES_ESTIMATE = 1024


@dataclass(frozen=True, slots=True)
class Prefix:
    """Every item of one kind in the org, as a Query, and how to key them."""

    query: Query
    id_of: Callable[[Item], str]
    population: Callable[[], int]  # how many such items the org is expected to hold

    def cheaper_than_fetching(self, wanted: int) -> bool:
        population = self.population()
        if population <= 0:  # the org's size is unknown: fetch by key, never the whole org
            return False
        units_each = math.ceil(ITEM_BYTES_ESTIMATE / READ_UNIT_BYTES)
        units_all = math.ceil(population * ITEM_BYTES_ESTIMATE / READ_UNIT_BYTES)
        return units_all <= wanted * units_each


class _Source(Generic[T]):
    """Values already known this request, and listings that may still add some."""

    def __init__(self) -> None:
        self.known: dict[str, T] = {}
        self.pending: set[asyncio.Event] = set()

    async def settled(self) -> None:
        while self.pending:
            await next(iter(self.pending)).wait()


def _batched(store: Store, key_of: Callable[[str], Key], parse: Callable[[Item], T],
             source: _Source[T] | None = None, cache: dict[str, Any] | None = None,
             prefix: Prefix | None = None) -> DataLoader[str, T | None]:
    async def load(ids: Sequence[str]) -> list[T | None]:
        known: dict[str, T] = {}
        if source is not None:
            await source.settled()
            known = source.known
        missing = [i for i in ids if i not in known]
        found: dict[str, Item] = {}
        if prefix is not None and len(missing) > 1 and prefix.cheaper_than_fetching(
                len(missing)):
            found = {prefix.id_of(i): i for i in await store.query_all(prefix.query)}
        elif missing:
            by_key = await store.batch_get([key_of(i) for i in missing])
            found = {i: by_key[key_of(i)] for i in missing if key_of(i) in by_key}
        out: list[T | None] = []
        for i in ids:
            if i in known:
                out.append(known[i])
                continue
            item = found.get(i)
            out.append(parse(item) if item is not None else None)
        return out
    # No max_batch_size: the store splits BatchGetItem into chunks of 100 itself, and the
    # choice above needs to see every key a tick wants.
    return DataLoader(load, cache_map=cache if cache is not None else {})


class Loaders:
    """Built lazily: a request that reads no people or analytics makes no DataLoader."""

    def __init__(self, store: Store, org_id: str) -> None:
        self.store = store
        self.org_id = org_id
        self.team_size = 0  # the organization's currentMembers, once the context read it
        self._members: _Source[Member] = _Source()
        self._github: _Source[GitHubData] = _Source()
        self._member_cache: dict[str, asyncio.Future[Member | None]] = {}
        self._github_cache: dict[str, asyncio.Future[GitHubData | None]] = {}

    @functools.cached_property
    def member_by_id(self) -> Any:
        org_id = self.org_id
        return _batched(self.store, lambda u: keys.member(org_id, u), Member.from_item,
                        self._members, self._member_cache,
                        Prefix(members.list_query(org_id), lambda i: str(i["userId"]),
                               lambda: self.team_size))

    @functools.cached_property
    def github_data_by_username(self) -> Any:
        org_id = self.org_id
        return _batched(self.store, lambda u: keys.github_data(org_id, u),
                        GitHubData.from_item, self._github, self._github_cache,
                        Prefix(analytics.team_github_query(org_id),
                               lambda i: str(i["githubUsername"]), lambda: self.team_size))

    @functools.cached_property
    def team_report_by_date(self) -> Any:
        org_id = self.org_id
        return _batched(self.store, lambda d: keys.team_report(org_id, d),
                        TeamReport.from_item)

    @functools.cached_property
    def organization(self) -> Any:
        org_id = self.org_id
        return _batched(self.store, lambda _o: keys.organization(org_id),
                        Organization.from_item)

    @contextlib.asynccontextmanager
    async def listing_members(self) -> AsyncIterator[None]:
        async with self._listing(self._members):
            yield

    @contextlib.asynccontextmanager
    async def listing_github_data(self) -> AsyncIterator[None]:
        async with self._listing(self._github):
            yield

    @staticmethod
    @contextlib.asynccontextmanager
    async def _listing(source: _Source[Any]) -> AsyncIterator[None]:
        done = asyncio.Event()
        source.pending.add(done)
        try:
            yield
        finally:
            source.pending.discard(done)
            done.set()

    def peek_member(self, user_id: str) -> tuple[bool, Member | None]:
        """(True, value) when this request already loaded the person, without awaiting."""
        return _peek(self._member_cache, user_id)

    def peek_github_data(self, username: str) -> tuple[bool, GitHubData | None]:
        return _peek(self._github_cache, username)

    async def prefetch_github_data(self, usernames: Sequence[str]) -> None:
        """Load analytics a page is about to ask for, so its fields resolve without awaiting."""
        await self.github_data_by_username.load_many(list(dict.fromkeys(usernames)))

    def prime_members(self, members: Sequence[Member]) -> None:
        for m in members:
            self._members.known[m.user_id] = m
            self._member_cache[m.user_id] = _done(m)

    def prime_github_data(self, records: Sequence[GitHubData]) -> None:
        for r in records:
            self._github.known[r.github_username] = r
            self._github_cache[r.github_username] = _done(r)

    def forget_member(self, user_id: str) -> None:
        self._members.known.pop(user_id, None)
        self._member_cache.pop(user_id, None)


def _done(value: T) -> asyncio.Future[T | None]:
    """A resolved future, as the loaders' cache holds them (priming without a DataLoader)."""
    future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _peek(cache: dict[str, asyncio.Future[T | None]], key: str) -> tuple[bool, T | None]:
    future = cache.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception():
        return False, None
    return True, future.result()
