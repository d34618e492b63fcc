"""The Store contract: every test here runs against every backend (see the store fixture)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from datastore.errors import (
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    StoreThrottled,
    TransactionCanceled,
)
from datastore.keys import Key
from datastore.store import (
    MAX_ITEM_BYTES,
    Add,
    CallLog,
    Check,
    Delete,
    IndexName,
    Put,
    Query,
    RawBatch,
    RawCount,
    RawCountPage,
    Ref,
    Remove,
    Set,
    Store,
    Update,
    attr_eq,
    attr_gt,
    attr_lt,
    current_calls,
    item_exists,
    item_missing,
)
from tests.conftest import FAST_RETRY, Clock

ORG = "ORG#acme"
OTHER_ORG = "ORG#globex"


def key(sk: str, pk: str = ORG) -> Key:
    return Key(pk, sk)


def make(sk: str, pk: str = ORG, **attrs: Any) -> dict[str, Any]:
    return {"PK": pk, "SK": sk, **attrs}


async def put_all(store: Store, items: list[dict[str, Any]]) -> None:
    for item in items:
        await store.put(item)


async def all_pages(store: Store, q: Query) -> list[tuple[list[str], bool]]:
    """Walk a query page by page; each page as (sort keys, has_next)."""
    pages: list[tuple[list[str], bool]] = []
    cursor: str | None = None
    while True:
        page = await store.query(Query(q.partition, q.index, q.prefix, q.between, q.forward,
                                       q.limit, cursor, q.where))
        pages.append(([i["SK"] for i in page.items], page.has_next))
        if not page.has_next:
            return pages
        cursor = page.cursor
        assert len(pages) < 100, "paging does not terminate"


# Get, put, delete


async def test_get_returns_none_for_a_missing_item(store: Store) -> None:
    assert await store.get(key("MEMBER#nobody")) is None


async def test_put_then_get_returns_the_same_item(store: Store) -> None:
    await store.put(make("MEMBER#u1", name="Ada", role="ADMIN"))

    assert await store.get(key("MEMBER#u1")) == make("MEMBER#u1", name="Ada", role="ADMIN")
    assert await store.get(key("MEMBER#u1"), consistent=True) == make(
        "MEMBER#u1", name="Ada", role="ADMIN")


async def test_put_replaces_the_whole_item(store: Store) -> None:
    await store.put(make("MEMBER#u1", name="Ada", role="ADMIN"))
    await store.put(make("MEMBER#u1", name="Ada L."))

    assert await store.get(key("MEMBER#u1")) == make("MEMBER#u1", name="Ada L.")


async def test_put_with_item_missing_refuses_to_overwrite(store: Store) -> None:
    await store.put(make("EMAIL#ada@example.com", owner="u1"))

    with pytest.raises(ConditionFailed):
        await store.put(make("EMAIL#ada@example.com", owner="u2"), condition=item_missing())

    assert (await store.get(key("EMAIL#ada@example.com")) or {})["owner"] == "u1"


async def test_put_with_item_exists_refuses_to_create(store: Store) -> None:
    with pytest.raises(ConditionFailed):
        await store.put(make("MEMBER#u1", name="Ada"), condition=item_exists())

    assert await store.get(key("MEMBER#u1")) is None


async def test_delete_removes_the_item(store: Store) -> None:
    await store.put(make("MEMBER#u1"))

    await store.delete(key("MEMBER#u1"))

    assert await store.get(key("MEMBER#u1")) is None


async def test_delete_with_a_failed_condition_keeps_the_item(store: Store) -> None:
    await store.put(make("MEMBER#u1", role="ADMIN"))

    with pytest.raises(ConditionFailed):
        await store.delete(key("MEMBER#u1"), condition=attr_eq("role", "VIEWER"))

    assert await store.get(key("MEMBER#u1")) == make("MEMBER#u1", role="ADMIN")


async def test_delete_with_a_matching_condition_deletes(store: Store) -> None:
    await store.put(make("MEMBER#u1", role="VIEWER"))

    await store.delete(key("MEMBER#u1"), condition=attr_eq("role", "VIEWER"))

    assert await store.get(key("MEMBER#u1")) is None


# Update


async def test_update_returns_the_item_as_it_is_afterwards(store: Store) -> None:
    await store.put(make("MEMBER#u1", name="Ada", role="VIEWER"))

    updated = await store.update(key("MEMBER#u1"), [Set("role", "ADMIN"), Set("version", 2)])

    assert updated == make("MEMBER#u1", name="Ada", role="ADMIN", version=2)
    assert await store.get(key("MEMBER#u1")) == updated


async def test_update_of_a_missing_item_creates_it(store: Store) -> None:
    updated = await store.update(key("COUNTER#calls"), [Add("n", 1)])

    assert updated == make("COUNTER#calls", n=1)


async def test_update_with_item_exists_refuses_to_create(store: Store) -> None:
    with pytest.raises(ConditionFailed):
        await store.update(key("MEMBER#u1"), [Set("role", "ADMIN")], condition=item_exists())

    assert await store.get(key("MEMBER#u1")) is None


async def test_update_with_attr_eq_applies_only_when_the_value_matches(store: Store) -> None:
    await store.put(make("ORG#acme", version=3, name="Acme"))

    with pytest.raises(ConditionFailed):
        await store.update(key("ORG#acme"), [Set("name", "Stale")],
                           condition=attr_eq("version", 2))
    updated = await store.update(key("ORG#acme"), [Set("name", "Acme Inc"), Add("version", 1)],
                                 condition=attr_eq("version", 3))

    assert updated == make("ORG#acme", version=4, name="Acme Inc")


async def test_attr_lt_compares_against_another_attribute(store: Store) -> None:
    await store.put(make("USAGE#2024-05", used=9, quota=10))

    updated = await store.update(key("USAGE#2024-05"), [Add("used", 1)],
                                 condition=attr_lt("used", Ref("quota")))
    with pytest.raises(ConditionFailed):
        await store.update(key("USAGE#2024-05"), [Add("used", 1)],
                           condition=attr_lt("used", Ref("quota")))

    assert updated["used"] == 10
    assert (await store.get(key("USAGE#2024-05")) or {})["used"] == 10


async def test_a_comparison_with_a_missing_attribute_fails(store: Store) -> None:
    await store.put(make("USAGE#2024-05", used=1))

    with pytest.raises(ConditionFailed):
        await store.update(key("USAGE#2024-05"), [Add("used", 1)],
                           condition=attr_lt("used", Ref("quota")))
    with pytest.raises(ConditionFailed):
        await store.update(key("USAGE#2024-05"), [Add("used", 1)],
                           condition=attr_gt("missing", 0))


async def test_combined_conditions_all_have_to_hold(store: Store) -> None:
    await store.put(make("MEMBER#u1", role="ADMIN", version=1))

    with pytest.raises(ConditionFailed):
        await store.update(key("MEMBER#u1"), [Set("role", "VIEWER")],
                           condition=item_exists() & attr_eq("version", 2))
    updated = await store.update(key("MEMBER#u1"), [Set("role", "VIEWER")],
                                 condition=item_exists() & attr_eq("version", 1))

    assert updated["role"] == "VIEWER"


async def test_add_counts_a_missing_attribute_from_zero(store: Store) -> None:
    await store.put(make("ORG#acme"))

    first = await store.update(key("ORG#acme"), [Add("apiCalls", 5)])
    second = await store.update(key("ORG#acme"), [Add("apiCalls", -2)])

    assert first["apiCalls"] == 5
    assert second["apiCalls"] == 3


async def test_set_writes_a_nested_path(store: Store) -> None:
    await store.put(make("ORG#acme", settings={"timezone": "UTC", "weekStart": "MON"}))

    updated = await store.update(key("ORG#acme"), [Set("settings.timezone", "Europe/Paris")])

    assert updated["settings"] == {"timezone": "Europe/Paris", "weekStart": "MON"}


async def test_add_works_on_a_nested_path(store: Store) -> None:
    await store.put(make("ORG#acme", stats={}))

    updated = await store.update(key("ORG#acme"), [Add("stats.reports", 2)])

    assert updated["stats"] == {"reports": 2}


async def test_remove_deletes_an_attribute(store: Store) -> None:
    await store.put(make("MEMBER#u1", name="Ada", nickname="ada", settings={"a": 1, "b": 2}))

    updated = await store.update(key("MEMBER#u1"), [Remove("nickname"), Remove("settings.a")])

    assert updated == make("MEMBER#u1", name="Ada", settings={"b": 2})


async def test_update_refuses_a_nested_path_under_a_missing_map(store: Store) -> None:
    await store.put(make("ORG#acme"))

    with pytest.raises(InvalidRequest):
        await store.update(key("ORG#acme"), [Set("settings.timezone", "UTC")])

    assert await store.get(key("ORG#acme")) == make("ORG#acme")


async def test_add_refuses_to_add_to_a_string(store: Store) -> None:
    await store.put(make("ORG#acme", name="Acme"))

    with pytest.raises(InvalidRequest):
        await store.update(key("ORG#acme"), [Add("name", 1)])


async def test_update_refuses_to_change_the_primary_key(store: Store) -> None:
    await store.put(make("MEMBER#u1"))

    with pytest.raises(InvalidRequest, match="part of the item's key"):
        await store.update(key("MEMBER#u1"), [Set("SK", "MEMBER#u2")])

    assert await store.get(key("MEMBER#u2")) is None


async def test_update_sets_index_keys_only_to_non_empty_strings(store: Store) -> None:
    await store.put(make("MEMBER#u1"))

    with pytest.raises(InvalidRequest, match="GSI1PK"):
        await store.update(key("MEMBER#u1"), [Set("GSI1PK", "")])
    with pytest.raises(InvalidRequest, match="GSI2SK"):
        await store.update(key("MEMBER#u1"), [Set("GSI2SK", 5)])
    updated = await store.update(key("MEMBER#u1"), [Set("GSI1PK", "EMAIL#ada@example.com"),
                                                    Set("GSI1SK", ORG)])

    assert updated["GSI1PK"] == "EMAIL#ada@example.com"


async def test_update_refuses_two_changes_to_overlapping_paths(store: Store) -> None:
    await store.put(make("ORG#acme", settings={}))

    with pytest.raises(InvalidRequest, match="once"):
        await store.update(key("ORG#acme"), [Set("n", 1), Add("n", 1)])
    with pytest.raises(InvalidRequest, match="once"):
        await store.update(key("ORG#acme"), [Set("settings", {}), Set("settings.tz", "UTC")])

    assert await store.get(key("ORG#acme")) == make("ORG#acme", settings={})


async def test_update_needs_at_least_one_change(store: Store) -> None:
    with pytest.raises(InvalidRequest):
        await store.update(key("ORG#acme"), [])


# Transactions


async def test_a_transaction_applies_every_action(store: Store) -> None:
    await put_all(store, [make("MEMBER#u1", role="ADMIN"), make("INVITE#i1", status="PENDING"),
                          make("ORG#acme", members=1), make("BILLING#acme")])

    await store.transact([
        Put(make("MEMBER#u2", role="VIEWER"), condition=item_missing()),
        Update(key("INVITE#i1"), (Set("status", "ACCEPTED"),),
               condition=attr_eq("status", "PENDING")),
        Update(key("ORG#acme"), (Add("members", 1),)),
        Delete(key("MEMBER#u1")),
        Check(key("BILLING#acme"), item_exists()),
    ])

    assert await store.get(key("MEMBER#u2")) == make("MEMBER#u2", role="VIEWER")
    assert (await store.get(key("INVITE#i1")) or {})["status"] == "ACCEPTED"
    assert (await store.get(key("ORG#acme")) or {})["members"] == 2
    assert await store.get(key("MEMBER#u1")) is None


async def test_a_transaction_writes_nothing_when_one_condition_fails(store: Store) -> None:
    await put_all(store, [make("INVITE#i1", status="ACCEPTED"), make("ORG#acme", members=1)])

    with pytest.raises(TransactionCanceled):
        await store.transact([
            Put(make("MEMBER#u2", role="VIEWER"), condition=item_missing()),
            Update(key("ORG#acme"), (Add("members", 1),)),
            Update(key("INVITE#i1"), (Set("status", "ACCEPTED"),),
                   condition=attr_eq("status", "PENDING")),
        ])

    assert await store.get(key("MEMBER#u2")) is None
    assert (await store.get(key("ORG#acme")) or {})["members"] == 1


async def test_transaction_canceled_reports_exactly_which_action_failed(store: Store) -> None:
    await put_all(store, [make("MEMBER#u1"), make("ORG#acme", version=1)])

    with pytest.raises(TransactionCanceled) as raised:
        await store.transact([
            Put(make("MEMBER#u2"), condition=item_missing()),
            Put(make("MEMBER#u1"), condition=item_missing()),
            Update(key("ORG#acme"), (Add("version", 1),), condition=attr_eq("version", 1)),
            Check(key("INVITE#gone"), item_exists()),
        ])

    reasons = raised.value.reasons
    assert len(reasons) == 4
    assert [raised.value.failed(i) for i in range(4)] == [False, True, False, True]
    assert reasons[1] == "ConditionalCheckFailed"
    assert "action 1" in str(raised.value)
    assert "action 3" in str(raised.value)


async def test_accepts_a_transaction_of_100_actions(store: Store) -> None:
    await store.transact([Put(make(f"MEMBER#u{i:03d}")) for i in range(100)])

    found = await store.query(Query(ORG, prefix="MEMBER#"))
    assert len(found.items) == 100


async def test_full_transactions_on_a_populated_table_commit_and_roll_back(store: Store) -> None:
    data = {"repos": [{"name": f"repo{i}", "stars": i} for i in range(20)]}
    for batch in range(3):
        await store.transact([Put(make(f"GITHUB_DATA#b{batch}-{i:02d}", data=data))
                              for i in range(100)])

    with pytest.raises(TransactionCanceled):
        await store.transact([*(Put(make(f"MEMBER#u{i:02d}")) for i in range(99)),
                              Put(make("GITHUB_DATA#b0-00"), condition=item_missing())])
    await store.transact([Update(key(f"GITHUB_DATA#b1-{i:02d}"), (Add("views", 1),))
                          for i in range(100)])

    assert (await store.query(Query(ORG, prefix="MEMBER#"))).items == []
    assert (await store.get(key("GITHUB_DATA#b0-00")) or {})["data"] == data
    assert (await store.get(key("GITHUB_DATA#b1-99")) or {})["views"] == 1


async def test_rejects_a_transaction_of_more_than_100_actions(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="1 to 100 actions"):
        await store.transact([Put(make(f"MEMBER#u{i:03d}")) for i in range(101)])

    assert "transact" not in store.totals.calls
    assert await store.get(key("MEMBER#u000")) is None


async def test_rejects_an_empty_transaction(store: Store) -> None:
    with pytest.raises(InvalidRequest):
        await store.transact([])


async def test_rejects_a_transaction_that_touches_the_same_item_twice(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="once"):
        await store.transact([Put(make("MEMBER#u1")),
                              Update(key("MEMBER#u1"), (Set("role", "ADMIN"),))])

    assert "transact" not in store.totals.calls


async def test_a_transaction_refuses_to_change_a_primary_key(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="part of the item's key"):
        await store.transact([Update(key("MEMBER#u1"), (Set("PK", OTHER_ORG),))])


# Batch get


async def test_batch_get_of_250_keys_returns_every_item_that_exists(store: Store) -> None:
    await store.transact([Put(make(f"MEMBER#u{i:03d}", n=i)) for i in range(0, 100)])
    await store.transact([Put(make(f"MEMBER#u{i:03d}", n=i)) for i in range(100, 200)])
    wanted = [key(f"MEMBER#u{i:03d}") for i in range(250)]  # the last 50 do not exist

    found = await store.batch_get(wanted)

    assert set(found) == set(wanted[:200])
    assert all(found[key(f"MEMBER#u{i:03d}")]["n"] == i for i in range(200))
    assert store.totals.calls["batch_get"] == 3  # chunks of 100


async def test_batch_get_of_duplicate_keys_asks_once_per_key(store: Store) -> None:
    await store.put(make("MEMBER#u1"))

    found = await store.batch_get([key("MEMBER#u1"), key("MEMBER#u1"), key("MEMBER#u2")])

    assert found == {key("MEMBER#u1"): make("MEMBER#u1")}


async def test_batch_get_of_no_keys_makes_no_call(store: Store) -> None:
    assert await store.batch_get([]) == {}
    assert "batch_get" not in store.totals.calls


# Query


@pytest.fixture
async def team(store: Store) -> Store:
    """One org with members, invitations and activity; another org that must never leak in."""
    await put_all(store, [
        make("ORG#acme", name="Acme"),
        *(make(f"MEMBER#u{i}", GSI1PK=f"EMAIL#u{i}@acme.io", GSI1SK=ORG,
               GSI2PK="ROLE#ADMIN" if i < 2 else "ROLE#VIEWER", GSI2SK=f"JOINED#{i:03d}")
          for i in range(5)),
        make("INVITE#i1"), make("INVITE#i2"),
        *(make(f"ACTIVITY#{t:013d}#e{t}", at=t) for t in (100, 200, 300, 400)),
        make("MEMBER#x1", pk=OTHER_ORG, GSI1PK="EMAIL#u1@acme.io", GSI1SK=OTHER_ORG,
             GSI2PK="ROLE#ADMIN", GSI2SK="JOINED#000"),
    ])
    return store


async def test_query_by_prefix_returns_that_kind_only_in_sort_order(team: Store) -> None:
    page = await team.query(Query(ORG, prefix="MEMBER#"))

    assert [i["SK"] for i in page.items] == [f"MEMBER#u{i}" for i in range(5)]
    assert not page.has_next


async def test_query_without_prefix_reads_the_whole_partition(team: Store) -> None:
    page = await team.query(Query(ORG))

    assert len(page.items) == 1 + 5 + 2 + 4
    assert all(i["PK"] == ORG for i in page.items)


async def test_query_between_is_inclusive(team: Store) -> None:
    page = await team.query(Query(ORG, between=(f"ACTIVITY#{200:013d}",
                                                f"ACTIVITY#{300:013d}#e300")))

    assert [i["at"] for i in page.items] == [200, 300]


async def test_query_backward_returns_newest_first(team: Store) -> None:
    page = await team.query(Query(ORG, prefix="ACTIVITY#", forward=False))

    assert [i["at"] for i in page.items] == [400, 300, 200, 100]


async def test_query_of_gsi1_spans_partitions(team: Store) -> None:
    page = await team.query(Query("EMAIL#u1@acme.io", index="GSI1"))

    assert sorted((i["PK"], i["SK"]) for i in page.items) == [
        (ORG, "MEMBER#u1"), (OTHER_ORG, "MEMBER#x1")]


async def test_query_of_gsi1_narrowed_by_prefix(team: Store) -> None:
    page = await team.query(Query("EMAIL#u1@acme.io", index="GSI1", prefix="ORG#acme"))

    assert [(i["PK"], i["SK"]) for i in page.items] == [(ORG, "MEMBER#u1")]


async def test_query_of_gsi2_orders_by_its_sort_key(team: Store) -> None:
    forward = await team.query(Query("ROLE#VIEWER", index="GSI2"))
    backward = await team.query(Query("ROLE#VIEWER", index="GSI2", forward=False))

    assert [i["SK"] for i in forward.items] == ["MEMBER#u2", "MEMBER#u3", "MEMBER#u4"]
    assert [i["SK"] for i in backward.items] == ["MEMBER#u4", "MEMBER#u3", "MEMBER#u2"]


async def test_query_of_gsi2_between(team: Store) -> None:
    page = await team.query(Query("ROLE#VIEWER", index="GSI2",
                                  between=("JOINED#003", "JOINED#999")))

    assert [i["SK"] for i in page.items] == ["MEMBER#u3", "MEMBER#u4"]


async def test_query_where_filters_on_other_attributes(team: Store) -> None:
    page = await team.query(Query(ORG, prefix="ACTIVITY#", where={"at": 300}))

    assert [i["at"] for i in page.items] == [300]


PAGE = 3


@pytest.mark.parametrize("count", [0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, 2 * PAGE + 1])
@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_pages_have_exactly_the_right_has_next(store: Store, count: int,
                                                     forward: bool) -> None:
    names = [f"MEMBER#u{i:02d}" for i in range(count)]
    await put_all(store, [make(n) for n in names])
    await store.put(make("ORG#acme"))  # outside the prefix: must not count or leak

    pages = await all_pages(store, Query(ORG, prefix="MEMBER#", limit=PAGE, forward=forward))

    expected = names if forward else names[::-1]
    chunks = [expected[i:i + PAGE] for i in range(0, count, PAGE)] or [[]]
    assert pages == [(chunk, i < len(chunks) - 1) for i, chunk in enumerate(chunks)]


@pytest.mark.parametrize("count", [0, 1, PAGE - 1, PAGE, PAGE + 1])
@pytest.mark.parametrize("index", ["GSI1", "GSI2"])
async def test_index_pages_have_exactly_the_right_has_next(store: Store, count: int,
                                                           index: IndexName) -> None:
    index_pk, index_sk = ("GSI1PK", "GSI1SK") if index == "GSI1" else ("GSI2PK", "GSI2SK")
    # Every item shares one index sort key, so only the table key keeps pages apart.
    await put_all(store, [make(f"MEMBER#u{i:02d}", pk=f"ORG#o{i}",
                               **{index_pk: "EMAIL#same", index_sk: "SAME"})
                          for i in range(count)])

    pages = await all_pages(store, Query("EMAIL#same", index=index, limit=PAGE))

    seen = [sk for chunk, _ in pages for sk in chunk]
    assert sorted(seen) == [f"MEMBER#u{i:02d}" for i in range(count)]
    assert [len(chunk) for chunk, _ in pages] == (
        [len(seen[i:i + PAGE]) for i in range(0, count, PAGE)] or [0])
    assert [has_next for _, has_next in pages] == [True] * (len(pages) - 1) + [False]


async def test_a_page_with_a_filter_still_fills_up(store: Store) -> None:
    await put_all(store, [make(f"ACTIVITY#{i:02d}", kind="push" if i % 3 == 0 else "pr")
                          for i in range(12)])

    pages = await all_pages(store, Query(ORG, prefix="ACTIVITY#", limit=2,
                                         where={"kind": "push"}))

    assert pages == [(["ACTIVITY#00", "ACTIVITY#03"], True),
                     (["ACTIVITY#06", "ACTIVITY#09"], False)]


async def test_query_all_ignores_limit_and_cursor(team: Store) -> None:
    first = await team.query(Query(ORG, prefix="MEMBER#", limit=2))

    items = await team.query_all(Query(ORG, prefix="MEMBER#", limit=2, cursor=first.cursor))

    assert len(items) == 5


async def test_rejects_a_cursor_from_another_partition(team: Store) -> None:
    foreign = await team.query(Query(ORG, prefix="MEMBER#", limit=1))
    calls = team.totals.calls["query"]

    with pytest.raises(InvalidRequest, match="another query"):
        await team.query(Query(OTHER_ORG, prefix="MEMBER#", limit=1, cursor=foreign.cursor))

    assert team.totals.calls["query"] == calls  # never sent to the backend


async def test_rejects_a_cursor_from_another_prefix(team: Store) -> None:
    members = await team.query(Query(ORG, prefix="MEMBER#", limit=1))

    with pytest.raises(InvalidRequest, match="another query"):
        await team.query(Query(ORG, prefix="INVITE#", limit=1, cursor=members.cursor))


async def test_rejects_a_cursor_from_another_index(team: Store) -> None:
    table_page = await team.query(Query(ORG, prefix="MEMBER#", limit=1))

    with pytest.raises(InvalidRequest):
        await team.query(Query("ROLE#VIEWER", index="GSI2", limit=1, cursor=table_page.cursor))


@pytest.mark.parametrize("cursor", ["garbage!", "eyJQSyI6MX0", "bm90IGpzb24", "W10"])
async def test_rejects_a_garbage_cursor(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidRequest, match="start from the first page"):
        await store.query(Query(ORG, limit=1, cursor=cursor))

    assert "query" not in store.totals.calls


@pytest.mark.parametrize("q", [
    Query(ORG, limit=0),
    Query(""),
    Query(ORG, prefix=""),
    Query(ORG, prefix="MEMBER#", between=("A", "B")),
    Query(ORG, between=("B", "A")),
], ids=["zero-limit", "empty-partition", "empty-prefix", "prefix-and-between",
        "inverted-between"])
async def test_rejects_a_query_that_dynamodb_would_reject(store: Store, q: Query) -> None:
    with pytest.raises(InvalidRequest):
        await store.query(q)

    assert "query" not in store.totals.calls


# TTL


async def test_expired_items_are_invisible_to_get(store: Store, clock: Clock) -> None:
    await store.put(make("GITHUB_DATA#ada", expiresAt=int(clock()) + 60))

    assert await store.get(key("GITHUB_DATA#ada")) is not None
    clock.advance(60)
    assert await store.get(key("GITHUB_DATA#ada")) is None


async def test_expired_items_are_invisible_to_batch_get(store: Store, clock: Clock) -> None:
    now = int(clock())
    await put_all(store, [make("GITHUB_DATA#old", expiresAt=now - 1),
                          make("GITHUB_DATA#new", expiresAt=now + 3600),
                          make("GITHUB_DATA#forever")])

    found = await store.batch_get([key("GITHUB_DATA#old"), key("GITHUB_DATA#new"),
                                   key("GITHUB_DATA#forever")])

    assert set(found) == {key("GITHUB_DATA#new"), key("GITHUB_DATA#forever")}


async def test_batch_get_returns_expired_items_not_yet_deleted_when_asked_to(
        store: Store, clock: Clock) -> None:
    now = int(clock())
    await put_all(store, [make("GITHUB_DATA#old", expiresAt=now - 1),
                          make("GITHUB_DATA#new", expiresAt=now + 3600)])

    found = await store.batch_get([key("GITHUB_DATA#old"), key("GITHUB_DATA#new"),
                                   key("GITHUB_DATA#never")], include_expired=True)

    assert set(found) == {key("GITHUB_DATA#old"), key("GITHUB_DATA#new")}


async def test_expired_items_are_invisible_to_query_and_its_paging(store: Store,
                                                                   clock: Clock) -> None:
    now = int(clock())
    await put_all(store, [make(f"TEAM_REPORT#{d}", expiresAt=now + (-5 if d % 2 else 5))
                          for d in range(10)])

    pages = await all_pages(store, Query(ORG, prefix="TEAM_REPORT#", limit=2))

    assert pages == [(["TEAM_REPORT#0", "TEAM_REPORT#2"], True),
                     (["TEAM_REPORT#4", "TEAM_REPORT#6"], True),
                     (["TEAM_REPORT#8"], False)]


async def test_expires_at_is_in_epoch_seconds(store: Store, clock: Clock) -> None:
    in_ms = int(clock() * 1000) - 1  # a millisecond timestamp is far in the future as seconds
    await store.put(make("GITHUB_DATA#ada", expiresAt=in_ms))

    assert await store.get(key("GITHUB_DATA#ada")) is not None


async def test_a_non_numeric_expires_at_never_expires(store: Store, clock: Clock) -> None:
    await store.put(make("GITHUB_DATA#ada", expiresAt="tomorrow"))
    clock.advance(10**9)

    assert await store.get(key("GITHUB_DATA#ada")) is not None
    assert len((await store.query(Query(ORG))).items) == 1


# Values


async def test_numbers_round_trip_exactly(store: Store) -> None:
    values = {"score": 8.5, "ratio": 4.2, "tiny": 0.1, "negative": -2.75, "count": 7,
              "zero": 0, "big": 2**62, "whole": 3.0, "exp": 1e-7}
    await store.put({"PK": ORG, "SK": "GITHUB_DATA#ada", **values})

    got = await store.get(key("GITHUB_DATA#ada"))

    assert got is not None
    for name, value in values.items():
        assert got[name] == value, name
    assert isinstance(got["score"], float)
    assert isinstance(got["ratio"], float)
    assert isinstance(got["count"], int)
    assert isinstance(got["big"], int)
    # DynamoDB has one number type, so a whole float comes back as an int everywhere.
    assert type(got["whole"]) is int


async def test_numbers_in_updates_round_trip_exactly(store: Store) -> None:
    updated = await store.update(key("GITHUB_DATA#ada"), [Set("score", 8.5),
                                                         Set("nested", {"ratio": 4.2}),
                                                         Add("count", 3)])

    assert updated == make("GITHUB_DATA#ada", score=8.5, nested={"ratio": 4.2}, count=3)
    assert isinstance(updated["count"], int)


async def test_nested_maps_and_lists_round_trip(store: Store) -> None:
    value = {"repos": [{"name": "api", "stars": 12, "langs": ["py", "ts"]},
                       {"name": "web", "stars": 0, "langs": []}],
             "flags": {"beta": True, "legacy": False, "note": None},
             "matrix": [[1, 2], [3.5]],
             "empty": {}}
    await store.put(make("GITHUB_DATA#ada", data=value))

    assert (await store.get(key("GITHUB_DATA#ada")) or {})["data"] == value


async def test_unicode_and_emoji_strings_round_trip(store: Store) -> None:
    text = "Zoë Łukasz 日本語 🚀👩🏽‍💻 \u00e9 \u0301e"
    await store.put(make("MEMBER#zoë", name=text, emoji="🎉"))

    got = await store.get(key("MEMBER#zoë"))

    assert got == make("MEMBER#zoë", name=text, emoji="🎉")
    assert [i["SK"] for i in (await store.query(Query(ORG, prefix="MEMBER#zo"))).items] == [
        "MEMBER#zoë"]


async def test_rejects_values_the_store_cannot_hold(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="finite"):
        await store.put(make("X#1", n=math.nan))
    with pytest.raises(InvalidRequest, match="64 bits"):
        await store.put(make("X#1", n=2**70))
    with pytest.raises(InvalidRequest, match="cannot store"):
        await store.put(make("X#1", when=object()))
    with pytest.raises(InvalidRequest, match="SK"):
        await store.put({"PK": ORG, "SK": ""})

    assert "put" not in store.totals.calls


# Item size


def oversized(sk: str = "GITHUB_DATA#ada") -> dict[str, Any]:
    return make(sk, blob="x" * MAX_ITEM_BYTES)


async def test_an_item_over_400_kb_raises_item_too_large_and_writes_nothing(
        store: Store) -> None:
    with pytest.raises(ItemTooLarge, match=r"limited to 409600 bytes\. Store less per item"):
        await store.put(oversized())

    assert await store.get(key("GITHUB_DATA#ada")) is None
    assert "put" not in store.totals.calls


async def test_a_multibyte_string_counts_in_bytes(store: Store) -> None:
    with pytest.raises(ItemTooLarge):
        await store.put(make("MEMBER#u1", bio="é" * (MAX_ITEM_BYTES // 2 + 1)))


async def test_an_item_just_under_400_kb_is_stored(store: Store) -> None:
    # 400,000 rather than 409,599 bytes: moto refuses items over 405,000 bytes.
    item = make("GITHUB_DATA#ada", blob="x" * 400_000)
    await store.put(item)

    assert await store.get(key("GITHUB_DATA#ada")) == item


async def test_an_oversized_put_in_a_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(ItemTooLarge):
        await store.transact([Put(make("MEMBER#u1")), Put(oversized())])

    assert await store.get(key("MEMBER#u1")) is None
    assert "transact" not in store.totals.calls


async def test_an_update_that_grows_an_item_past_400_kb_is_refused(store: Store) -> None:
    half = "x" * (MAX_ITEM_BYTES // 2 + 100)
    await store.put(make("GITHUB_DATA#ada", a=half))

    with pytest.raises(ItemTooLarge):
        await store.update(key("GITHUB_DATA#ada"), [Set("b", half)])

    assert await store.get(key("GITHUB_DATA#ada")) == make("GITHUB_DATA#ada", a=half)


# Fault injection, retries and call counting


class Throttle:
    """A fault hook that throttles chosen operations a number of times (or forever)."""

    def __init__(self, ops: set[str], times: int | None = None) -> None:
        self.ops = ops
        self.left = times
        self.seen: list[str] = []

    async def __call__(self, op: str, request: Any) -> Any:
        self.seen.append(op)
        if op in self.ops and (self.left is None or self.left > 0):
            if self.left is not None:
                self.left -= 1
            raise StoreThrottled("injected")
        return None


async def test_throttled_get_is_retried_and_then_succeeds(store: Store) -> None:
    await store.put(make("MEMBER#u1"))
    store.fault_hook = Throttle({"get"}, times=3)

    assert await store.get(key("MEMBER#u1")) == make("MEMBER#u1")
    assert store.totals.calls["get"] == 4


async def test_throttled_query_is_retried_and_then_succeeds(store: Store) -> None:
    await put_all(store, [make("MEMBER#u1"), make("MEMBER#u2")])
    store.fault_hook = Throttle({"query"}, times=2)

    page = await store.query(Query(ORG, prefix="MEMBER#"))

    assert [i["SK"] for i in page.items] == ["MEMBER#u1", "MEMBER#u2"]
    assert store.totals.calls["query"] == 3


async def test_throttled_batch_get_is_retried_and_then_succeeds(store: Store) -> None:
    await store.put(make("MEMBER#u1"))
    store.fault_hook = Throttle({"batch_get"}, times=4)

    found = await store.batch_get([key("MEMBER#u1")])

    assert found == {key("MEMBER#u1"): make("MEMBER#u1")}


async def test_throttled_write_is_retried_and_then_succeeds(store: Store) -> None:
    store.fault_hook = Throttle({"update"}, times=1)

    updated = await store.update(key("ORG#acme"), [Add("n", 1)])

    assert updated["n"] == 1
    store.fault_hook = None
    assert (await store.get(key("ORG#acme")) or {})["n"] == 1


@pytest.mark.parametrize("op", ["get", "query", "batch_get", "put"])
async def test_persistent_throttling_ends_in_store_throttled(store: Store, op: str) -> None:
    store.fault_hook = Throttle({op})

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "get": lambda: store.get(key("MEMBER#u1")),
        "query": lambda: store.query(Query(ORG)),
        "batch_get": lambda: store.batch_get([key("MEMBER#u1")]),
        "put": lambda: store.put(make("MEMBER#u1")),
    }

    with pytest.raises(StoreThrottled, match=rf"kept refusing {op} .*gave up after 5 attempts"):
        await calls[op]()

    assert store.totals.calls[op] == FAST_RETRY.attempts


class Unprocessed:
    """A fault hook that leaves a whole batch unprocessed a number of times (or forever)."""

    def __init__(self, times: int | None) -> None:
        self.left = times
        self.batches: list[int] = []

    async def __call__(self, op: str, request: Any) -> Any:
        if op != "batch_get":
            return None
        self.batches.append(len(request.keys))
        if self.left is None or self.left > 0:
            if self.left is not None:
                self.left -= 1
            return RawBatch(items=[], unprocessed=list(request.keys))
        return None


async def test_unprocessed_batch_keys_are_retried_until_they_come_back(store: Store) -> None:
    await put_all(store, [make(f"MEMBER#u{i}") for i in range(3)])
    hook = Unprocessed(times=3)
    store.fault_hook = hook

    found = await store.batch_get([key(f"MEMBER#u{i}") for i in range(4)])

    assert set(found) == {key(f"MEMBER#u{i}") for i in range(3)}
    assert hook.batches == [4, 4, 4, 4]


async def test_keys_unprocessed_forever_end_in_store_throttled(store: Store) -> None:
    store.fault_hook = Unprocessed(times=None)

    with pytest.raises(StoreThrottled, match=r"2 keys were left unprocessed.*gave up after 5"):
        await store.batch_get([key("MEMBER#u1"), key("MEMBER#u2")])


async def test_a_fault_hook_can_replace_a_result(store: Store) -> None:
    async def pretend(op: str, request: Any) -> Any:
        return make("MEMBER#ghost") if op == "get" else None

    store.fault_hook = pretend

    assert await store.get(key("MEMBER#anything")) == make("MEMBER#ghost")


async def test_totals_count_calls_per_operation(store: Store) -> None:
    await store.put(make("MEMBER#u1"))
    await store.get(key("MEMBER#u1"))
    await store.get(key("MEMBER#u2"))
    await store.update(key("MEMBER#u1"), [Set("a", 1)])
    await store.query(Query(ORG))
    await store.batch_get([key("MEMBER#u1")])
    await store.delete(key("MEMBER#u1"))
    await store.transact([Put(make("MEMBER#u3"))])
    await store.ping()

    assert store.totals.calls == {"put": 1, "get": 2, "update": 1, "query": 1, "batch_get": 1,
                                  "delete": 1, "transact": 1, "ping": 1}
    assert store.totals.total == 9


async def test_current_calls_counts_only_while_it_is_set(store: Store) -> None:
    await store.put(make("MEMBER#u1"))
    log = CallLog()
    token = current_calls.set(log)
    try:
        await asyncio.gather(store.get(key("MEMBER#u1")), store.get(key("MEMBER#u2")),
                             store.query(Query(ORG)))
    finally:
        current_calls.reset(token)
    await store.get(key("MEMBER#u1"))

    assert log.calls == {"get": 2, "query": 1}
    assert log.total == 3


async def test_current_calls_counts_an_injected_result(store: Store) -> None:
    async def pretend(op: str, request: Any) -> Any:
        return None if op != "get" else make("MEMBER#ghost")

    store.fault_hook = pretend
    log = CallLog()
    token = current_calls.set(log)
    try:
        await store.get(key("MEMBER#u1"))
    finally:
        current_calls.reset(token)

    assert log.calls == {"get": 1}


# Concurrency


async def test_concurrent_adds_are_never_lost(store: Store) -> None:
    await asyncio.gather(*(store.update(key("ORG#acme"), [Add("n", 1)]) for _ in range(50)))

    assert (await store.get(key("ORG#acme"), consistent=True) or {})["n"] == 50


async def test_exactly_one_of_concurrent_conditional_creates_wins(store: Store) -> None:
    results = await asyncio.gather(
        *(store.put(make("EMAIL#ada@example.com", owner=f"u{i}"), condition=item_missing())
          for i in range(20)),
        return_exceptions=True)

    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, ConditionFailed) for r in results if r is not None)


async def test_concurrent_transactions_keep_a_counter_consistent(store: Store) -> None:
    async def join(i: int) -> None:
        await store.transact([Put(make(f"MEMBER#u{i:02d}"), condition=item_missing()),
                              Update(key("ORG#acme"), (Add("members", 1),))])

    outcomes = await asyncio.gather(*(join(i) for i in range(20)), return_exceptions=True)

    members = await store.query(Query(ORG, prefix="MEMBER#"))
    assert [o for o in outcomes if o is not None] == []
    assert len(members.items) == 20
    assert (await store.get(key("ORG#acme"), consistent=True) or {})["members"] == 20


# Filtered listings: raw pages grow, so a selective filter takes a few calls, never one per
# item (DynamoDB applies Limit before any filter)


@pytest.mark.parametrize(("where", "first", "found"), [
    ({"role": "admin"}, 1, 1),  # the only admin is the very last item
    ({"role": "admin"}, 20, 1),
    ({"role": "viewer"}, 100, 100),  # one in ten
    ({"role": "member", "status": "suspended"}, 100, 0),
])
async def test_a_filtered_page_of_a_thousand_items_takes_at_most_three_calls(
        store: Store, where: dict[str, str], first: int, found: int) -> None:
    people = [make(f"MEMBER#u{i:04d}", role="admin" if i == 999 else
                   "viewer" if i % 10 == 0 else "member", status="active")
              for i in range(1000)]
    for start in range(0, 1000, 100):
        await store.transact([Put(p) for p in people[start:start + 100]])
    log = CallLog()
    token = current_calls.set(log)
    try:
        page = await store.query(Query(ORG, prefix="MEMBER#", limit=first, where=where))
    finally:
        current_calls.reset(token)

    assert len(page.items) == found
    assert all(all(i[k] == v for k, v in where.items()) for i in page.items)
    assert log.calls == {"query": log.total}
    assert log.total <= 3


# Counting


async def test_count_counts_the_live_items_of_a_prefix(store: Store, clock: Clock) -> None:
    await put_all(store, [make("INVITE#a"), make("INVITE#b", expiresAt=int(clock()) + 60),
                          make("INVITE#c", expiresAt=int(clock()) - 1),
                          make("INVITE#d", expiresAt="never"), make("MEMBER#u1"),
                          make("INVITE#e", pk=OTHER_ORG)])

    assert await store.count(Query(ORG, prefix="INVITE#")) == 3
    assert await store.count(Query(ORG)) == 4
    clock.advance(61)
    assert await store.count(Query(ORG, prefix="INVITE#")) == 2


async def test_count_applies_the_where_filter_comparing_by_type(store: Store) -> None:
    await put_all(store, [make("INVITE#a", status="pending", n=1, flag=True),
                          make("INVITE#b", status="pending", n=2, flag="true"),
                          make("INVITE#c", status="accepted", n=1, flag=False)])

    async def counted(**where: Any) -> int:
        return await store.count(Query(ORG, prefix="INVITE#", where=where))

    assert await counted(status="pending") == 2
    assert await counted(status="pending", n=1) == 1
    assert await counted(flag=True) == 1
    assert await counted(n=1.0) == 2
    assert await counted(status="revoked") == 0
    with pytest.raises(InvalidRequest):
        await counted(status=None)


async def test_count_reads_a_secondary_index_and_a_between_range(store: Store) -> None:
    await put_all(store, [make(f"MEMBER#u{i}", GSI2PK="USER#ada", GSI2SK=f"JOINED#{i}")
                          for i in range(5)])

    assert await store.count(Query("USER#ada", index="GSI2", prefix="JOINED#")) == 5
    assert await store.count(Query(ORG, between=("MEMBER#u1", "MEMBER#u3"))) == 3


async def test_count_ignores_limit_and_cursor_and_is_one_counted_call(store: Store) -> None:
    await put_all(store, [make(f"INVITE#{i}") for i in range(4)])
    log = CallLog()
    token = current_calls.set(log)
    try:
        total = await store.count(Query(ORG, prefix="INVITE#", limit=1))
    finally:
        current_calls.reset(token)

    assert total == 4
    assert log.calls == {"count": 1}
    if store.name == "dynamodb":
        assert log.read_units > 0


async def test_count_sums_every_page_the_store_hands_back(store: Store) -> None:
    pages = [RawCountPage(3, {"PK": ORG, "SK": "INVITE#c"}), RawCountPage(2, None)]
    seen: list[RawCount] = []

    async def paged(op: str, request: Any) -> Any:
        if op != "count":
            return None
        seen.append(request)
        return pages[len(seen) - 1]

    store.fault_hook = paged
    total = await store.count(Query(ORG, prefix="INVITE#"))
    store.fault_hook = None

    assert total == 5
    assert [r.start_key for r in seen] == [None, {"PK": ORG, "SK": "INVITE#c"}]


async def test_a_throttled_count_is_retried(store: Store) -> None:
    await store.put(make("INVITE#a"))
    store.fault_hook = Throttle({"count"}, times=2)

    assert await store.count(Query(ORG, prefix="INVITE#")) == 1
    assert store.totals.calls["count"] == 3
