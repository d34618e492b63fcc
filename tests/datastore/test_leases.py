"""A lease held by one process at a time, on both backends (datastore/leases.py)."""

from __future__ import annotations

from datastore import leases
from datastore.store import Store
from tests.conftest import Clock


async def test_one_holder_at_a_time_until_it_runs_out(store: Store, clock: Clock) -> None:
    assert await leases.acquire(store, "duty", "a", 60)
    assert not await leases.acquire(store, "duty", "b", 60)
    assert await leases.acquire(store, "duty", "a", 60)  # the holder renews
    clock.advance(59)
    assert not await leases.acquire(store, "duty", "b", 60)  # renewed: 60 s from the renewal
    clock.advance(2)
    assert await leases.acquire(store, "duty", "b", 60)  # ran out: b takes it
    assert not await leases.acquire(store, "duty", "a", 60)
    assert await leases.acquire(store, "other", "a", 60)  # another name, another lease


async def test_a_release_frees_the_lease_only_for_its_holder(store: Store) -> None:
    assert await leases.acquire(store, "duty", "a", 60)
    await leases.release(store, "duty", "b")  # not b's to give up
    assert not await leases.acquire(store, "duty", "b", 60)
    await leases.release(store, "duty", "a")
    assert await leases.acquire(store, "duty", "b", 60)


async def test_a_lease_is_no_organization(store: Store) -> None:
    assert await leases.acquire(store, "duty", "a", 60)
    assert await store.organization_ids() == []
