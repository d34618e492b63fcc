"""An organization to act in, people to add to it, and what its counters must say."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

from datastore import activity, keys, members, organizations
from datastore.actors import Actor, acting
from datastore.records import Member, MemberStatus, Organization, Permission, Role
from datastore.store import Item, Query, Store

ORG = "org-acme"
OWNER = "user-owner"


async def open_org(store: Store, org_id: str = ORG, max_members: int = 20) -> Member:
    """A new organization and its owner, its one admin."""
    _, owner = await organizations.create(store, org_id, f"{org_id} Inc", OWNER,
                                          f"owner@{org_id}.example", "Olive Owner",
                                          plan="enterprise", max_members=max_members)
    return owner


async def join(store: Store, user_id: str, role: Role = Role.MEMBER, *, org_id: str = ORG,
               name: str | None = None) -> Member:
    person = Member(org_id=org_id, user_id=user_id, email=f"{user_id}@{org_id}.example",
                    name=name or user_id, role=role, status=MemberStatus.ACTIVE, joined_at=1)
    return await members.add(store, person, activity.event(store, org_id, OWNER,
                                                           "member.added", user_id))


def as_actor(member: Member) -> Actor:
    return acting(member, Permission.REMOVE_MEMBERS)


async def org_of(store: Store, org_id: str = ORG) -> Organization:
    org = await organizations.get(store, org_id, consistent=True)
    assert org is not None
    return org


async def items_of(store: Store, kind: str, org_id: str = ORG) -> list[Item]:
    found = await store.query_all(Query(partition=keys.org_pk(org_id), consistent=True))
    return [i for i in found if i["entityType"] == kind]


async def actions_of(store: Store, org_id: str = ORG) -> list[str]:
    """Activity actions, oldest first."""
    events = sorted(await items_of(store, "ACTIVITY", org_id), key=lambda e: e["SK"])
    return [e["action"] for e in events]


async def assert_counters_match_the_people(store: Store, org_id: str = ORG) -> Organization:
    """Every counter answer equals a count of the people stored."""
    people = [Member.from_item(i) for i in await items_of(store, "MEMBER", org_id)]
    org = await org_of(store, org_id)
    slots = Counter(members.slot(m) for m in people)
    assert org.current_members == len(people)
    assert org.admin_count == slots[(Role.ADMIN, MemberStatus.ACTIVE)] >= 1
    for role in (None, *Role):
        for status in (None, *MemberStatus):
            expected = sum(n for (r, s), n in slots.items()
                           if role in (None, r) and status in (None, s))
            assert members.count(org, role, status) == expected, (role, status)
    return org


class Barrier:
    """A fault hook that holds every transaction until ``parties`` have arrived, so racers
    have all read before any of them writes (then, and for retries, it lets all through)."""

    def __init__(self, parties: int, timeout: float = 10.0) -> None:
        self.parties = parties
        self.timeout = timeout
        self.arrived = 0
        self.released = asyncio.Event()

    async def __call__(self, op: str, _request: Any) -> None:
        if op != "transact" or self.released.is_set():
            return None
        self.arrived += 1
        if self.arrived >= self.parties:
            self.released.set()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), self.timeout)
        return None


async def race(store: Store, *calls: Any) -> list[Any]:
    """Run the coroutines at once, their transactions held until all are ready; each
    result is a value or the exception it raised."""
    store.fault_hook = Barrier(len(calls))
    try:
        return list(await asyncio.gather(*calls, return_exceptions=True))
    finally:
        store.fault_hook = None
