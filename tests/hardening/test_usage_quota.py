"""The per-organization API call counter (the design doc's ``usage.apiCalls``): atomic under
any concurrency, across store instances and processes, and reset by a later period only."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from datastore import keys, organizations
from datastore.dynamodb import DynamoStore
from datastore.embedded import EmbeddedStore
from datastore.errors import NotFound
from datastore.store import Store
from resolvers.context import Caller
from tests.api.conftest import Api
from tests.hardening import tally

ORG = "org-quota-1"
ADMIN = Caller("user-quota-admin", ORG, "admin@quota.example", "Quinn Admin")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def org(store: Store) -> str:
    await organizations.create(store, ORG, "Quota Inc", ADMIN.user_id, str(ADMIN.email),
                               str(ADMIN.name), plan="pro")
    return ORG


async def count(store: Store, period: str, calls: int) -> list[int]:
    results = await asyncio.gather(*(organizations.count_api_call(store, ORG, period)
                                     for _ in range(calls)))
    tally.add(tally.COUNTED, calls)
    assert {limit for _, limit in results} == {organizations.DEFAULT_API_CALL_LIMIT}
    return [current for current, _ in results]


async def stored_usage(store: Store) -> tuple[int, str]:
    item = await store.get(keys.organization(ORG), consistent=True)
    assert item is not None
    calls = item["usage"]["apiCalls"]
    return int(calls["current"]), str(calls["period"])


def assert_nothing_lost(counts: list[int], expected: int) -> None:
    """Every call got its own number, and together they are 1..expected."""
    if sorted(counts) != list(range(1, expected + 1)):
        tally.add(tally.LOST, expected - len(set(counts)))
    assert sorted(counts) == list(range(1, expected + 1))


def twin(store: Store) -> Store:
    """A second store on the same data, as another server process would open it."""
    if isinstance(store, EmbeddedStore):
        return EmbeddedStore(store.path, clock=store.clock, retry=store.retry)
    assert isinstance(store, DynamoStore)
    return DynamoStore(store.settings, clock=store.clock, retry=store.retry)


async def test_two_hundred_concurrent_calls_in_one_period_count_to_exactly_two_hundred(
        store: Store, org: str) -> None:
    counts = await count(store, "2031-01", 200)

    assert_nothing_lost(counts, 200)
    assert await stored_usage(store) == (200, "2031-01")


async def test_the_first_call_of_a_new_period_counts_one_and_the_next_ones_go_on_from_it(
        store: Store, org: str) -> None:
    await count(store, "2031-01", 7)

    assert await count(store, "2031-02", 1) == [1]
    assert await count(store, "2031-02", 1) == [2]
    assert await stored_usage(store) == (2, "2031-02")


async def test_a_new_period_opened_by_a_hundred_calls_at_once_counts_each_of_them(
        store: Store, org: str) -> None:
    await count(store, "2031-01", 30)

    counts = await count(store, "2031-02", 100)

    assert_nothing_lost(counts, 100)
    assert await stored_usage(store) == (100, "2031-02")


async def test_a_caller_whose_clock_still_reads_the_last_period_counts_into_the_new_one(
        store: Store, org: str) -> None:
    await count(store, "2031-02", 5)

    late = await count(store, "2031-01", 1)  # a process a moment behind at the boundary

    assert late == [6]
    assert await count(store, "2031-02", 1) == [7]
    assert await stored_usage(store) == (7, "2031-02")


async def test_callers_on_both_sides_of_a_period_boundary_at_once_lose_no_call(
        store: Store, org: str) -> None:
    await count(store, "2031-01", 10)

    old, new = await asyncio.gather(count(store, "2031-01", 60), count(store, "2031-02", 60))

    current, period = await stored_usage(store)
    assert period == "2031-02"
    assert current >= 60  # every call of the new period, and old ones made after it began
    # The old period's calls before the boundary numbered on from 10; every call after it,
    # of either period, was numbered once in the new period.
    before_boundary = 120 - current
    expected = [*range(11, 11 + before_boundary), *range(1, current + 1)]
    if sorted(old + new) != sorted(expected):
        tally.add(tally.LOST, 1)
    assert sorted(old + new) == sorted(expected)


async def test_batches_counted_at_once_across_a_new_period_add_up_exactly(
        store: Store, org: str) -> None:
    """Server processes add their calls in batches (web/quota.py); batches are atomic too."""
    await count(store, "2031-01", 3)

    results = await asyncio.gather(*(
        organizations.count_api_call(store, ORG, "2031-02", amount=50) for _ in range(20)))
    tally.add(tally.COUNTED, 20 * 50)

    totals = sorted(current for current, _ in results)
    if totals[-1] != 1000:
        tally.add(tally.LOST, 1000 - totals[-1])
    assert totals == list(range(50, 1001, 50))
    assert await stored_usage(store) == (1000, "2031-02")


async def test_counting_for_an_unknown_organization_is_refused_and_writes_nothing(
        store: Store) -> None:
    with pytest.raises(NotFound, match="organization not found"):
        await organizations.count_api_call(store, "org-nobody", "2031-01")

    assert await store.get(keys.organization("org-nobody"), consistent=True) is None


async def test_two_store_instances_on_the_same_data_counting_at_once_lose_nothing(
        store: Store, org: str) -> None:
    other = twin(store)
    try:
        first, second = await asyncio.gather(count(store, "2031-01", 100),
                                             count(other, "2031-01", 100))
        later_first, later_second = await asyncio.gather(count(store, "2031-02", 50),
                                                         count(other, "2031-02", 50))
    finally:
        await other.close()

    assert_nothing_lost(first + second, 200)
    assert_nothing_lost(later_first + later_second, 100)
    assert await stored_usage(store) == (100, "2031-02")


async def start_counter(store: Store, period: str, calls: int
                        ) -> asyncio.subprocess.Process:
    if isinstance(store, EmbeddedStore):
        args = ["embedded", store.path]
    else:
        assert isinstance(store, DynamoStore)
        args = ["dynamodb", str(store.settings.endpoint_url), "--table", store.settings.table]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.hardening.count_calls", *args, "--org", ORG,
        "--period", period, "--calls", str(calls), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    ready = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    assert ready == b"ready\n", ready
    return process


async def counted_by(process: asyncio.subprocess.Process, calls: int) -> list[int]:
    out, err = await asyncio.wait_for(process.communicate(b"go\n"), timeout=60)
    assert process.returncode == 0, err.decode()
    tally.add(tally.COUNTED, calls)
    counts: list[int] = json.loads(out)
    return counts


async def test_two_server_processes_counting_at_once_lose_nothing(
        store: Store, org: str) -> None:
    processes = await asyncio.gather(start_counter(store, "2031-01", 100),
                                     start_counter(store, "2031-01", 100))
    try:
        first, second = await asyncio.gather(*(counted_by(p, 100) for p in processes))
    finally:  # one failing must not leave the other writing into the next test's table
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert_nothing_lost(first + second, 200)
    assert await stored_usage(store) == (200, "2031-01")


async def test_an_admin_reads_the_counted_calls_as_usage_api_calls(
        bare_api: Api, org: str) -> None:
    await count(bare_api.store, "2031-03", 42)

    data = await bare_api.ok("{ organization { usage { apiCalls { current limit } "
                             "apiCallsPeriod } } }", ADMIN)

    assert data == {"organization": {"usage": {
        "apiCalls": {"current": 42, "limit": organizations.DEFAULT_API_CALL_LIMIT},
        "apiCallsPeriod": "2031-03"}}}
