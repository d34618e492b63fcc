"""The DynamoDB store against DynamoDB's real behaviour on the wire (tests/dynamo_proxy.py):
throttling, canceled transactions, lost answers, idempotency tokens and stale reads. Every
count here is the proxy's, taken outside the client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from datastore.dynamodb import DynamoSettings, DynamoStore
from datastore.errors import (
    StoreThrottled,
    StoreUnavailable,
    TransactionCanceled,
    TransactionRejected,
)
from datastore.keys import Key
from datastore.store import Add, Put, Query, RetryPolicy, Update, item_missing
from tests.conftest import TABLE
from tests.dynamo_proxy import DynamoProxy

ORG = "ORG#acme"
COUNTER = Key(ORG, "ORG#acme")


@pytest.fixture
async def store(dynamo_settings: DynamoSettings) -> AsyncIterator[DynamoStore]:
    """The production retry policy: these tests count its attempts."""
    backend = DynamoStore(dynamo_settings)
    yield backend
    await backend.close()


@pytest.fixture
def proxy(dynamo_settings: DynamoSettings, dynamo_proxy: DynamoProxy) -> DynamoProxy:
    return dynamo_proxy


def transactions(proxy: DynamoProxy) -> list[Any]:
    return [e for e in proxy.log if e.operation == "TransactWriteItems"]


def tokens(proxy: DynamoProxy) -> set[str]:
    return {e.request["ClientRequestToken"] for e in transactions(proxy)}


async def add_one(store: DynamoStore) -> None:
    await store.transact([Update(COUNTER, (Add("n", 1),)),
                          Put({"PK": ORG, "SK": "EVENT#1"}, item_missing())])


# One retry layer


async def test_a_call_that_stays_throttled_makes_one_request_per_counted_attempt(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.throttle("GetItem")

    with pytest.raises(StoreThrottled, match=r"gave up after 5 attempts in \d"):
        await store.get(COUNTER)

    assert proxy.calls["GetItem"] == store.retry.attempts == 5  # botocore retried none
    assert store.totals.calls["get"] == 5
    assert store.totals.failed == 5


async def test_one_throttled_answer_costs_one_retry_by_the_store(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    await store.put({"PK": ORG, "SK": "MEMBER#u1"})
    rule = proxy.throttle("GetItem", code="ProvisionedThroughputExceededException", times=1)

    assert await store.get(Key(ORG, "MEMBER#u1")) == {"PK": ORG, "SK": "MEMBER#u1"}

    assert rule.fired == 1
    assert proxy.calls["GetItem"] == store.totals.calls["get"] == 2


async def test_unprocessed_keys_share_the_call_s_retry_budget(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.unprocess(fraction=1.0)

    with pytest.raises(StoreThrottled, match=r"left unprocessed.*gave up after 5"):
        await store.batch_get([Key(ORG, "MEMBER#u1"), Key(ORG, "MEMBER#u2")])

    assert proxy.calls["BatchGetItem"] == 5


# Canceled transactions, read per action


@pytest.mark.parametrize(("reasons", "times", "raised", "attempts"), [
    (["ConditionalCheckFailed", "None"], 1, TransactionCanceled, 1),
    (["TransactionConflict", "ConditionalCheckFailed"], 1, TransactionCanceled, 1),
    (["TransactionConflict", "None"], None, StoreThrottled, 5),
    (["ThrottlingError", "None"], None, StoreThrottled, 5),
    (["ProvisionedThroughputExceeded", "None"], None, StoreThrottled, 5),
    (["None", "ValidationError"], 1, TransactionRejected, 1),
], ids=["condition", "conflict-and-condition", "conflict", "throttling", "throughput",
        "validation"])
async def test_a_canceled_transaction_is_read_action_by_action(
        store: DynamoStore, proxy: DynamoProxy, reasons: list[str], times: int | None,
        raised: type[Exception], attempts: int) -> None:
    proxy.cancel(reasons=reasons, times=times)

    with pytest.raises(raised) as caught:
        await add_one(store)

    assert len(transactions(proxy)) == attempts
    assert len(tokens(proxy)) == 1  # every attempt of it carried the same token
    if isinstance(caught.value, TransactionCanceled):
        assert [caught.value.failed(i) for i in range(2)] == [
            r == "ConditionalCheckFailed" for r in reasons]
    assert proxy.applied["TransactWriteItems"] == 0


async def test_a_transaction_canceled_by_a_conflict_once_is_retried_with_its_token(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.cancel(reasons=["TransactionConflict", "None"], times=1)

    await add_one(store)

    assert len(transactions(proxy)) == 2
    assert len(tokens(proxy)) == 1
    assert (await store.get(COUNTER, consistent=True) or {})["n"] == 1


async def test_a_rejected_transaction_logs_its_reasons_and_no_keys(
        store: DynamoStore, proxy: DynamoProxy, caplog: pytest.LogCaptureFixture) -> None:
    proxy.cancel(reasons=["None", "ValidationError"])

    with pytest.raises(TransactionRejected):
        await add_one(store)

    [record] = [r for r in caplog.records if r.getMessage() == "transaction rejected"]
    fields = record.__dict__["fields"]
    assert fields == {"reasons": [None, "ValidationError"],
                      "actions": ["Update ORG", "Put EVENT"]}


async def test_a_token_reused_with_other_actions_is_our_bug_not_a_retry(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.fail("TransactWriteItems", code="IdempotentParameterMismatchException")

    with pytest.raises(TransactionRejected, match="IdempotentParameterMismatch"):
        await add_one(store)

    assert len(transactions(proxy)) == 1


# Lost answers


async def test_a_transaction_whose_answer_was_lost_succeeds_and_is_applied_once(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.drop_response("TransactWriteItems")

    await add_one(store)

    assert [e.dropped for e in transactions(proxy)] == [True, False]
    assert len(tokens(proxy)) == 1
    assert proxy.applied["TransactWriteItems"] == 1
    assert (await store.get(COUNTER, consistent=True) or {})["n"] == 1


async def test_a_single_write_whose_answer_was_lost_is_not_repeated(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.drop_response("UpdateItem")

    with pytest.raises(StoreUnavailable, match="did not answer"):
        await store.update(COUNTER, [Add("n", 1)])

    assert proxy.calls["UpdateItem"] == 1  # an ADD repeated would count twice
    assert (await store.get(COUNTER, consistent=True) or {})["n"] == 1


async def test_a_transaction_still_in_flight_when_retried_is_waited_for_not_repeated(
        dynamo_settings: DynamoSettings, proxy: DynamoProxy) -> None:
    # The first attempt times out on our side while DynamoDB still runs it.
    proxy.hold_ms = 600
    store = DynamoStore(dataclasses.replace(dynamo_settings, read_timeout=0.3),
                        retry=RetryPolicy(attempts=30, base_delay=0.05, max_delay=0.1,
                                          deadline=10.0))
    try:
        await add_one(store)
        assert (await store.get(COUNTER, consistent=True) or {})["n"] == 1
    finally:
        await store.close()

    errors = [e.error for e in transactions(proxy)]
    assert "TransactionInProgressException" in errors
    assert proxy.applied["TransactWriteItems"] == 1
    assert len(tokens(proxy)) == 1


# Consistency


async def test_a_consistent_batch_get_sees_a_write_an_eventual_one_may_miss(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    proxy.stale_ms = 60_000  # every eventually consistent read is served from before
    await store.put({"PK": ORG, "SK": "MEMBER#u1", "role": "admin"})

    eventual = await store.batch_get([Key(ORG, "MEMBER#u1")])
    consistent = await store.batch_get([Key(ORG, "MEMBER#u1")], consistent=True)

    assert eventual == {}
    assert consistent == {Key(ORG, "MEMBER#u1"): {"PK": ORG, "SK": "MEMBER#u1",
                                                  "role": "admin"}}
    [stale, fresh] = [e for e in proxy.log if e.operation == "BatchGetItem"]
    assert (stale.stale, fresh.stale) == (True, False)
    assert fresh.request["RequestItems"][TABLE]["ConsistentRead"] is True


# Capacity: every call's, failed ones included, as DynamoDB reports it


async def test_the_store_records_the_capacity_dynamodb_reports(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    await store.put({"PK": ORG, "SK": "MEMBER#u1", "blob": "x" * 5000})
    await store.get(Key(ORG, "MEMBER#u1"))
    await store.get(Key(ORG, "MEMBER#u1"), consistent=True)

    assert store.totals.read_units == pytest.approx(proxy.consumed["read"]) == 0.5 * 2 + 2
    assert store.totals.write_units == pytest.approx(proxy.consumed["write"]) == 5


async def test_a_failed_conditional_write_is_counted_with_an_estimate_of_its_cost(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    await store.put({"PK": ORG, "SK": "MEMBER#u1"})

    with pytest.raises(Exception, match="condition"):
        await store.put({"PK": ORG, "SK": "MEMBER#u1"}, condition=item_missing())

    assert store.totals.calls["put"] == 2
    assert store.totals.failed == 1
    assert store.totals.write_units == 2  # DynamoDB does not report it; 1 WCU by its rule
    assert proxy.consumed["write"] == 2


async def test_counts_and_the_organization_scan_are_charged_as_reads(
        store: DynamoStore, proxy: DynamoProxy) -> None:
    await store.put({"PK": ORG, "SK": ORG, "entityType": "ORGANIZATION"})
    await store.put({"PK": ORG, "SK": "MEMBER#u1", "entityType": "MEMBER"})
    written = store.totals.write_units

    assert await store.count(Query(ORG)) == 2
    assert await store.organization_ids() == [ORG.removeprefix("ORG#")]

    assert store.totals.write_units == written  # a COUNT query was booked as writes
    assert store.totals.read_units == pytest.approx(proxy.consumed["read"])
    assert store.totals.read_units > 0
