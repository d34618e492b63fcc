"""Behaviour only the DynamoDB backend has: the wire format, botocore errors, capacity."""

from __future__ import annotations

import dataclasses
import socket
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from datastore.dynamodb import DynamoSettings, DynamoStore, _translate, deserialize, serialize
from datastore.errors import (
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    StoreThrottled,
    StoreUnavailable,
    TransactionCanceled,
)
from datastore.keys import Key
from datastore.store import CallLog, Query, Set, attr_eq, current_calls
from tests.conftest import TABLE

ORG = "ORG#acme"


def test_floats_go_on_the_wire_as_their_shortest_decimal() -> None:
    wire = serialize({"PK": ORG, "SK": "X", "a": 8.5, "b": 4.2, "c": [0.1, {"d": 1e-7}]})

    assert wire["a"] == {"N": "8.5"}
    assert wire["b"] == {"N": "4.2"}
    assert wire["c"] == {"L": [{"N": "0.1"}, {"M": {"d": {"N": "1E-7"}}}]}


def test_numbers_come_back_as_int_or_float() -> None:
    item = deserialize({"i": {"N": "42"}, "f": {"N": "8.5"}, "e": {"N": "1E+2"},
                        "m": {"M": {"x": {"N": "4.2"}}}, "l": {"L": [{"N": "-3"}]}})

    assert item == {"i": 42, "f": 8.5, "e": 100, "m": {"x": 4.2}, "l": [-3]}
    assert isinstance(item["e"], int)
    assert not any(isinstance(v, Decimal) for v in item.values())


async def test_numbers_are_stored_as_dynamodb_numbers(dynamo_settings: DynamoSettings,
                                                      moto_client: Any) -> None:
    store = DynamoStore(dynamo_settings)
    try:
        await store.put({"PK": ORG, "SK": "GITHUB_DATA#ada", "score": 8.5, "commits": 12})
    finally:
        await store.close()

    raw = moto_client.get_item(TableName=TABLE, Key={"PK": {"S": ORG},
                                                     "SK": {"S": "GITHUB_DATA#ada"}})["Item"]
    assert raw["score"] == {"N": "8.5"}
    assert raw["commits"] == {"N": "12"}


async def test_reserved_words_work_as_attribute_names(dynamo_settings: DynamoSettings) -> None:
    store = DynamoStore(dynamo_settings)
    try:
        await store.put({"PK": ORG, "SK": "INVITE#i1", "status": "PENDING", "name": "x",
                         "data": {"size": 1}})
        updated = await store.update(Key(ORG, "INVITE#i1"),
                                     [Set("status", "ACCEPTED"), Set("data.size", 2)],
                                     condition=attr_eq("status", "PENDING"))
    finally:
        await store.close()

    assert updated["status"] == "ACCEPTED"
    assert updated["data"] == {"size": 2}


async def test_consumed_capacity_is_recorded(dynamo_settings: DynamoSettings) -> None:
    store = DynamoStore(dynamo_settings)
    log = CallLog()
    token = current_calls.set(log)
    try:
        await store.put({"PK": ORG, "SK": "MEMBER#u1"})
        await store.get(Key(ORG, "MEMBER#u1"))
        await store.query(Query(ORG))
    finally:
        current_calls.reset(token)
        await store.close()

    assert log.capacity > 0
    assert store.totals.capacity == log.capacity


async def test_a_missing_table_says_how_to_create_it(dynamo_settings: DynamoSettings) -> None:
    store = DynamoStore(dataclasses.replace(dynamo_settings, table="no-such-table"))
    try:
        with pytest.raises(StoreUnavailable, match="devinsights create-table"):
            await store.get(Key(ORG, "MEMBER#u1"))
        with pytest.raises(StoreUnavailable, match="no-such-table"):
            await store.ping()
    finally:
        await store.close()


async def test_ping_succeeds_when_the_table_exists(dynamo_settings: DynamoSettings) -> None:
    store = DynamoStore(dynamo_settings)
    try:
        await store.ping()
    finally:
        await store.close()

    assert store.totals.calls == {"ping": 1}


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_endpoint_raises_store_unavailable(isolated_aws: None,
                                                                unused_port: int) -> None:
    settings = DynamoSettings(table=TABLE, endpoint_url=f"http://127.0.0.1:{unused_port}",
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              connect_timeout=0.5, read_timeout=0.5)
    store = DynamoStore(settings)
    try:
        with pytest.raises(StoreUnavailable, match="could not be reached"):
            await store.get(Key(ORG, "MEMBER#u1"))
    finally:
        await store.close()


# Error translation, in one place


def client_error(code: str, message: str = "", **extra: Any) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, **extra}
    return ClientError(response, "AnyOperation")


@pytest.mark.parametrize(("code", "message", "error"), [
    ("ConditionalCheckFailedException", "The conditional request failed", ConditionFailed),
    ("ProvisionedThroughputExceededException", "", StoreThrottled),
    ("ThrottlingException", "", StoreThrottled),
    ("RequestLimitExceeded", "", StoreThrottled),
    ("TransactionConflictException", "", StoreThrottled),
    ("ResourceNotFoundException", "Requested resource not found", StoreUnavailable),
    ("ValidationException", "Item size has exceeded the maximum allowed size", ItemTooLarge),
    ("ValidationException", "Invalid KeyConditionExpression", InvalidRequest),
    ("InternalServerError", "", StoreUnavailable),
])
def test_botocore_errors_become_store_errors(code: str, message: str,
                                             error: type[Exception]) -> None:
    assert type(_translate(client_error(code, message), TABLE)) is error


def test_a_canceled_transaction_keeps_one_reason_per_action() -> None:
    exc = client_error("TransactionCanceledException", "canceled", CancellationReasons=[
        {"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed"},
        {"Code": "None"}])

    translated = _translate(exc, TABLE)

    assert isinstance(translated, TransactionCanceled)
    assert translated.reasons == [None, "ConditionalCheckFailed", None]


def test_a_transaction_canceled_only_by_conflicts_is_retryable() -> None:
    exc = client_error("TransactionCanceledException", "canceled", CancellationReasons=[
        {"Code": "None"}, {"Code": "TransactionConflict"}])

    assert isinstance(_translate(exc, TABLE), StoreThrottled)
