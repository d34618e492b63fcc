"""Per-request loaders, named ``<thing>_by_<key>``; every key is built from the caller's org."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader

from datastore import keys
from datastore.keys import Key
from datastore.records import GitHubData, Member, Organization, TeamReport
from datastore.store import BATCH_GET_LIMIT, Item, Store

T = TypeVar("T")


def _batched(store: Store, key_of: Callable[[str], Key], parse: Callable[[Item], T]
             ) -> DataLoader:
    async def load(ids: Sequence[str]) -> list[T | None]:
        found = await store.batch_get([key_of(i) for i in ids])
        out: list[T | None] = []
        for i in ids:
            item = found.get(key_of(i))
            out.append(parse(item) if item is not None else None)
        return out
    return DataLoader(load, max_batch_size=BATCH_GET_LIMIT)


class Loaders:
    def __init__(self, store: Store, org_id: str) -> None:
        self.org_id = org_id
        self.member_by_id: Any = _batched(store, lambda u: keys.member(org_id, u),
                                          Member.from_item)
        self.github_data_by_username: Any = _batched(
            store, lambda u: keys.github_data(org_id, u), GitHubData.from_item)
        self.team_report_by_date: Any = _batched(
            store, lambda d: keys.team_report(org_id, d), TeamReport.from_item)
        self.organization: Any = _batched(store, lambda _o: keys.organization(org_id),
                                          Organization.from_item)

    def prime_members(self, members: Sequence[Member]) -> None:
        for m in members:
            self.member_by_id.prime(m.user_id, m)

    def prime_github_data(self, records: Sequence[GitHubData]) -> None:
        for r in records:
            self.github_data_by_username.prime(r.github_username, r)

    def forget_member(self, user_id: str) -> None:
        self.member_by_id.clear(user_id)



