"""The DynamoDB semantics proxy, through a real boto3 client, in front of a real moto server."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from datastore.table import create_table
from tests.conftest import TABLE, Clock, reset_moto
from tests.dynamo_proxy import DynamoProxy, item_size

SEED = 1234
TRANSACT = "TransactWriteItems"
# A fake Authorization header is enough for moto to pick the region and the service.
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0")


@pytest.fixture(scope="module")
def proxy_clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def proxy(moto_endpoint: str, proxy_clock: Clock) -> Iterator[DynamoProxy]:
    proxy = DynamoProxy(moto_endpoint, seed=SEED, clock=proxy_clock).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def client(proxy: DynamoProxy, isolated_aws: None) -> Iterator[Any]:
    """Never retries, so every attempt the test makes is one request the proxy sees."""
    config = Config(retries={"mode": "standard", "total_max_attempts": 1},
                    connect_timeout=5, read_timeout=30, max_pool_connections=8)
    client = boto3.session.Session().client(
        "dynamodb", region_name="us-east-1", endpoint_url=proxy.url,
        aws_access_key_id="testing", aws_secret_access_key="testing", config=config)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def fresh(proxy: DynamoProxy, moto_endpoint: str, moto_client: Any) -> None:
    """One empty table (created straight in moto) and a proxy that remembers nothing."""
    reset_moto(moto_endpoint)
    create_table(moto_client, TABLE)
    proxy.reset()


# --- helpers -----------------------------------------------------------------------------


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def item(pk: str, sk: str, **attrs: str) -> dict[str, Any]:
    return {**key(pk, sk), **{name: {"S": value} for name, value in attrs.items()}}


def put(pk: str, sk: str, **attrs: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": item(pk, sk, **attrs)}}


def sized(pk: str, sk: str, size: int) -> dict[str, Any]:
    """An item of exactly ``size`` bytes as DynamoDB counts them (one-letter keys)."""
    assert len(pk) == len(sk) == 1
    return item(pk, sk, filler="x" * (size - len("PK" "a" "SK" "b" "filler")))


def stored(moto_client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    """What moto holds, read around the proxy."""
    found: dict[str, Any] | None = moto_client.get_item(
        TableName=TABLE, Key=key(pk, sk), ConsistentRead=True).get("Item")
    return found


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def sks(items: list[dict[str, Any]]) -> list[str]:
    return [i["SK"]["S"] for i in items]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.005)


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = call()
        except Exception as exc:  # handed to the test thread, which asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def cache_the_table_schema(client: Any) -> None:
    """A read the proxy charges needs the key schema, so the next write starts holding its
    items at once (no DescribeTable first), which keeps the race tests' timing tight."""
    client.batch_get_item(RequestItems={TABLE: {"Keys": [key("warm", "up")]}})


def http_post(url: str, operation: str, body: dict[str, Any]
              ) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("POST", "/", json.dumps(body), {
            "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Authorization": AUTH,
            "Content-Type": "application/x-amz-json-1.0"})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# --- scheduled faults --------------------------------------------------------------------


def test_a_throttled_write_is_refused_the_given_number_of_times_and_costs_nothing(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    rule = proxy.throttle("PutItem", code="ProvisionedThroughputExceededException", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            client.put_item(TableName=TABLE, Item=item("o", "a"))
        assert code(refused) == "ProvisionedThroughputExceededException"
        assert stored(moto_client, "o", "a") is None
    client.put_item(TableName=TABLE, Item=item("o", "a"))

    assert stored(moto_client, "o", "a") is not None
    assert rule.fired == 2
    assert proxy.calls["PutItem"] == 3
    assert proxy.applied["PutItem"] == 1
    assert [(e.status, e.error, e.write) for e in proxy.log] == [
        (400, "ProvisionedThroughputExceededException", 0.0),
        (400, "ProvisionedThroughputExceededException", 0.0), (200, None, 1.0)]


def test_a_probable_throttle_hits_the_same_requests_for_the_same_seed(
        proxy: DynamoProxy, client: Any) -> None:
    def outcomes() -> list[str | None]:
        proxy.throttle("GetItem", code="RequestLimitExceeded", probability=0.5)
        codes: list[str | None] = []
        for _ in range(16):
            try:
                client.get_item(TableName=TABLE, Key=key("o", "a"))
                codes.append(None)
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
        return codes

    first = outcomes()
    proxy.reset()
    assert outcomes() == first
    assert set(first) == {None, "RequestLimitExceeded"}


def test_a_rule_aimed_with_when_cancels_only_the_matching_transaction(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    rule = proxy.cancel(reasons=["None", "ConditionalCheckFailed"],
                        when=lambda op, body: body["TransactItems"][0]["Put"]["Item"]["SK"]
                        == {"S": "b"})
    client.transact_write_items(TransactItems=[put("o", "a"), put("o", "x")])
    with pytest.raises(ClientError) as canceled:
        client.transact_write_items(TransactItems=[put("o", "b"), put("o", "y")])

    assert code(canceled) == "TransactionCanceledException"
    assert [r["Code"] for r in canceled.value.response["CancellationReasons"]] == [
        "None", "ConditionalCheckFailed"]
    assert stored(moto_client, "o", "x") is not None
    assert stored(moto_client, "o", "b") is None
    assert stored(moto_client, "o", "y") is None
    assert rule.fired == 1


def test_fail_answers_any_error_code_and_status_without_applying(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    proxy.fail("UpdateItem", code="InternalServerError", status=500, message="try again")
    with pytest.raises(ClientError) as failed:
        client.update_item(TableName=TABLE, Key=key("o", "a"), UpdateExpression="SET v = :v",
                           ExpressionAttributeValues={":v": {"S": "1"}})

    assert code(failed) == "InternalServerError"
    assert failed.value.response["Error"]["Message"] == "try again"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert stored(moto_client, "o", "a") is None
    assert proxy.applied["UpdateItem"] == 0


def test_unprocessed_keys_come_back_in_the_shape_of_the_request(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    for sk in "abcd":
        moto_client.put_item(TableName=TABLE, Item=item("o", sk, note="n", other="x"))
    rule = proxy.unprocess(fraction=0.5, times=1)
    keys = [key("o", sk) for sk in "abcd"]
    shape = {"ConsistentRead": True, "ProjectionExpression": "#s, note",
             "ExpressionAttributeNames": {"#s": "SK"}}
    answer = client.batch_get_item(RequestItems={TABLE: {"Keys": keys, **shape}})

    assert sorted(sks(answer["Responses"][TABLE])) == ["a", "b"]
    assert all(set(i) == {"SK", "note"} for i in answer["Responses"][TABLE])
    assert answer["UnprocessedKeys"] == {TABLE: {"Keys": keys[2:], **shape}}
    rest = client.batch_get_item(RequestItems=answer["UnprocessedKeys"])
    assert sorted(sks(rest["Responses"][TABLE])) == ["c", "d"]
    assert not rest.get("UnprocessedKeys")
    assert rule.fired == 1


def test_unprocessing_every_key_answers_none_of_them(proxy: DynamoProxy, client: Any) -> None:
    proxy.unprocess(fraction=1.0)
    keys = [key("o", "a"), key("o", "b")]
    answer = client.batch_get_item(RequestItems={TABLE: {"Keys": keys}})

    assert answer["Responses"] == {TABLE: []}
    assert answer["UnprocessedKeys"] == {TABLE: {"Keys": keys}}


# --- transaction conflicts ---------------------------------------------------------------


def test_concurrent_transactions_conflict_at_the_shared_item_and_the_loser_applies_nothing(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    cache_the_table_schema(client)
    proxy.hold_ms = 500
    thread, first = in_background(lambda: client.transact_write_items(
        TransactItems=[put("o", "a"), put("o", "shared", by="first")]))
    wait_for(lambda: proxy.calls[TRANSACT] == 1)
    time.sleep(0.05)
    with pytest.raises(ClientError) as lost:
        client.transact_write_items(
            TransactItems=[put("o", "c"), put("o", "shared", by="second")])
    thread.join()

    assert "error" not in first
    assert [r["Code"] for r in lost.value.response["CancellationReasons"]] == [
        "None", "TransactionConflict"]
    assert (stored(moto_client, "o", "shared") or {})["by"] == {"S": "first"}
    assert stored(moto_client, "o", "a") is not None
    assert stored(moto_client, "o", "c") is None
    assert proxy.applied[TRANSACT] == 1
    assert [(e.error, e.write) for e in proxy.log if e.operation == TRANSACT] == [
        ("TransactionCanceledException", 0.0), (None, 4.0)]


def test_a_single_write_on_an_item_held_by_a_transaction_fails_with_a_conflict(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    cache_the_table_schema(client)
    proxy.hold_ms = 500
    thread, transaction = in_background(lambda: client.transact_write_items(
        TransactItems=[put("o", "a", by="transaction")]))
    wait_for(lambda: proxy.calls[TRANSACT] == 1)
    time.sleep(0.05)
    with pytest.raises(ClientError) as conflict:
        client.put_item(TableName=TABLE, Item=item("o", "a", by="single"))
    thread.join()

    assert "error" not in transaction
    assert code(conflict) == "TransactionConflictException"
    assert (stored(moto_client, "o", "a") or {})["by"] == {"S": "transaction"}
    assert proxy.applied["PutItem"] == 0


def test_a_transaction_on_an_item_held_by_a_single_write_is_canceled(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    cache_the_table_schema(client)
    proxy.hold_ms = 500
    thread, single = in_background(
        lambda: client.put_item(TableName=TABLE, Item=item("o", "a", by="single")))
    wait_for(lambda: proxy.calls["PutItem"] == 1)
    time.sleep(0.05)
    with pytest.raises(ClientError) as lost:
        client.transact_write_items(TransactItems=[put("o", "a", by="transaction")])
    thread.join()

    assert "error" not in single
    assert [r["Code"] for r in lost.value.response["CancellationReasons"]] == [
        "TransactionConflict"]
    assert (stored(moto_client, "o", "a") or {})["by"] == {"S": "single"}


def test_a_batch_write_hands_back_the_items_a_transaction_holds_and_writes_the_rest(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    cache_the_table_schema(client)
    proxy.hold_ms = 500
    thread, transaction = in_background(lambda: client.transact_write_items(
        TransactItems=[put("o", "a", by="transaction")]))
    wait_for(lambda: proxy.calls[TRANSACT] == 1)
    time.sleep(0.05)
    held = {"PutRequest": {"Item": item("o", "a", by="batch")}}
    answer = client.batch_write_item(RequestItems={TABLE: [
        held, {"PutRequest": {"Item": item("o", "b", by="batch")}}]},
        ReturnConsumedCapacity="TOTAL")
    thread.join()

    assert "error" not in transaction
    assert answer["UnprocessedItems"] == {TABLE: [held]}
    assert answer["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}]
    assert (stored(moto_client, "o", "a") or {})["by"] == {"S": "transaction"}
    assert (stored(moto_client, "o", "b") or {})["by"] == {"S": "batch"}


def test_two_single_writes_on_one_item_do_not_conflict(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    cache_the_table_schema(client)
    proxy.hold_ms = 300
    thread, first = in_background(
        lambda: client.put_item(TableName=TABLE, Item=item("o", "a", by="first")))
    wait_for(lambda: proxy.calls["PutItem"] == 1)
    client.put_item(TableName=TABLE, Item=item("o", "a", by="second"))
    thread.join()

    assert "error" not in first
    assert proxy.applied["PutItem"] == 2
    assert stored(moto_client, "o", "a") is not None


# --- idempotency -------------------------------------------------------------------------


COUNT = {"Update": {"TableName": TABLE, "Key": key("o", "counter"),
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}


def test_a_replayed_token_succeeds_applies_nothing_and_is_charged_a_read(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-1")
    again = client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-1",
                                        ReturnConsumedCapacity="TOTAL")

    assert (stored(moto_client, "o", "counter") or {})["n"] == {"N": "1"}
    assert proxy.calls[TRANSACT] == 2
    assert proxy.applied[TRANSACT] == 1
    assert again["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 1.0, "ReadCapacityUnits": 1.0}]
    assert (proxy.log[-1].read, proxy.log[-1].write) == (1.0, 0.0)


def test_a_reused_token_with_other_parameters_is_a_mismatch_within_the_window(
        proxy: DynamoProxy, client: Any, moto_client: Any, proxy_clock: Clock) -> None:
    client.transact_write_items(TransactItems=[put("o", "a")], ClientRequestToken="t-2")
    with pytest.raises(ClientError) as mismatch:
        client.transact_write_items(TransactItems=[put("o", "b")], ClientRequestToken="t-2")
    # ReturnConsumedCapacity is not one of the parameters compared.
    client.transact_write_items(TransactItems=[put("o", "a")], ClientRequestToken="t-2",
                                ReturnConsumedCapacity="TOTAL")
    assert code(mismatch) == "IdempotentParameterMismatchException"
    assert stored(moto_client, "o", "b") is None
    assert proxy.applied[TRANSACT] == 1

    proxy_clock.advance(proxy.idempotency_seconds + 1)
    client.transact_write_items(TransactItems=[put("o", "b")], ClientRequestToken="t-2")
    assert stored(moto_client, "o", "b") is not None


def test_a_token_whose_first_attempt_is_in_flight_is_in_progress(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    cache_the_table_schema(client)
    proxy.hold_ms = 500
    thread, first = in_background(lambda: client.transact_write_items(
        TransactItems=[COUNT], ClientRequestToken="t-3"))
    wait_for(lambda: proxy.calls[TRANSACT] == 1)
    time.sleep(0.05)
    with pytest.raises(ClientError) as busy:
        client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-3")
    thread.join()
    client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-3")

    assert "error" not in first
    assert code(busy) == "TransactionInProgressException"
    assert (stored(moto_client, "o", "counter") or {})["n"] == {"N": "1"}
    assert proxy.applied[TRANSACT] == 1


def test_a_failed_first_attempt_does_not_use_up_its_token(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    proxy.cancel(reasons=["ThrottlingError"])
    proxy.throttle(TRANSACT, times=1)
    for expected in ("TransactionCanceledException", "ThrottlingException"):
        with pytest.raises(ClientError) as failed:
            client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-4")
        assert code(failed) == expected
    assert stored(moto_client, "o", "counter") is None
    client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-4")

    assert (stored(moto_client, "o", "counter") or {})["n"] == {"N": "1"}
    assert proxy.applied[TRANSACT] == 1


def test_a_transaction_canceled_by_its_condition_does_not_use_up_its_token(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    needs = {"ConditionCheck": {"TableName": TABLE, "Key": key("o", "parent"),
                                "ConditionExpression": "attribute_exists(PK)"}}
    with pytest.raises(ClientError) as canceled:
        client.transact_write_items(TransactItems=[needs, COUNT], ClientRequestToken="t-6")
    moto_client.put_item(TableName=TABLE, Item=item("o", "parent"))
    client.transact_write_items(TransactItems=[needs, COUNT], ClientRequestToken="t-6")

    assert code(canceled) == "TransactionCanceledException"
    assert (stored(moto_client, "o", "counter") or {})["n"] == {"N": "1"}
    assert proxy.applied[TRANSACT] == 1


def test_a_lost_answer_was_applied_and_its_retry_with_the_token_replays(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    rule = proxy.drop_response(TRANSACT)
    with pytest.raises(ConnectionClosedError):
        client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-5")
    assert (stored(moto_client, "o", "counter") or {})["n"] == {"N": "1"}
    client.transact_write_items(TransactItems=[COUNT], ClientRequestToken="t-5")

    assert (stored(moto_client, "o", "counter") or {})["n"] == {"N": "1"}
    assert rule.fired == 1
    assert proxy.applied[TRANSACT] == 1
    assert [e.dropped for e in proxy.log] == [True, False]


def test_a_lost_answer_to_a_single_write_was_applied(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    proxy.drop_response("PutItem")
    with pytest.raises(ConnectionClosedError):
        client.put_item(TableName=TABLE, Item=item("o", "a"))

    assert stored(moto_client, "o", "a") is not None
    assert proxy.applied["PutItem"] == 1


# --- eventual consistency ----------------------------------------------------------------


def get(client: Any, pk: str, sk: str, consistent: bool = False) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(
        TableName=TABLE, Key=key(pk, sk), ConsistentRead=consistent).get("Item")
    return found


def test_an_eventually_consistent_get_misses_recent_writes_until_the_window_passes(
        proxy: DynamoProxy, client: Any, proxy_clock: Clock) -> None:
    proxy.stale_ms = 200
    client.put_item(TableName=TABLE, Item=item("o", "a", v="1"))
    proxy_clock.advance(1.0)
    client.put_item(TableName=TABLE, Item=item("o", "a", v="3"))
    client.put_item(TableName=TABLE, Item=item("o", "a", v="2"))  # two writes in the window
    client.put_item(TableName=TABLE, Item=item("o", "new"))

    assert (get(client, "o", "a") or {})["v"] == {"S": "1"}
    assert get(client, "o", "new") is None
    assert (get(client, "o", "a", consistent=True) or {})["v"] == {"S": "2"}
    assert [e.stale for e in proxy.log[-3:]] == [True, True, False]

    proxy_clock.advance(0.201)
    assert (get(client, "o", "a") or {})["v"] == {"S": "2"}
    assert get(client, "o", "new") is not None
    assert not proxy.log[-1].stale


def test_settle_makes_every_write_so_far_visible(proxy: DynamoProxy, client: Any) -> None:
    proxy.stale_ms = 200
    client.put_item(TableName=TABLE, Item=item("o", "a"))
    proxy.settle()

    assert get(client, "o", "a") is not None


def test_an_eventually_consistent_batch_get_answers_each_key_as_it_was(
        proxy: DynamoProxy, client: Any, proxy_clock: Clock) -> None:
    proxy.stale_ms = 200
    for sk in "acd":
        client.put_item(TableName=TABLE, Item=item("o", sk, v="1"))
    proxy_clock.advance(1.0)
    client.put_item(TableName=TABLE, Item=item("o", "a", v="2"))
    client.put_item(TableName=TABLE, Item=item("o", "b", v="2"))
    client.delete_item(TableName=TABLE, Key=key("o", "c"))
    keys = [key("o", sk) for sk in "abcd"]

    def read(consistent: bool) -> dict[str, str]:
        answer = client.batch_get_item(
            RequestItems={TABLE: {"Keys": keys, "ConsistentRead": consistent}})
        return {i["SK"]["S"]: i["v"]["S"] for i in answer["Responses"][TABLE]}

    assert read(consistent=False) == {"a": "1", "c": "1", "d": "1"}
    assert proxy.log[-1].stale
    assert read(consistent=True) == {"a": "2", "b": "2", "d": "1"}


def test_an_eventually_consistent_query_is_answered_as_of_an_earlier_instant(
        proxy: DynamoProxy, client: Any, proxy_clock: Clock) -> None:
    proxy.stale_ms = 200
    for sk in ("a", "b", "c", "x"):
        client.put_item(TableName=TABLE, Item=item("o", f"m#{sk}", v="1"))
    proxy_clock.advance(1.0)
    client.put_item(TableName=TABLE, Item=item("o", "m#b", v="2"))
    client.delete_item(TableName=TABLE, Key=key("o", "m#c"))
    client.put_item(TableName=TABLE, Item=item("o", "m#d", v="2"))

    def query(**extra: Any) -> list[tuple[str, str]]:
        answer = client.query(
            TableName=TABLE, KeyConditionExpression="PK = :pk AND begins_with(#sk, :p)",
            ExpressionAttributeNames={"#sk": "SK"},
            ExpressionAttributeValues={":pk": {"S": "o"}, ":p": {"S": "m#"}}, **extra)
        assert answer["Count"] == len(answer["Items"])
        return [(i["SK"]["S"], i["v"]["S"]) for i in answer["Items"]]

    assert query() == [("m#a", "1"), ("m#b", "1"), ("m#c", "1"), ("m#x", "1")]
    assert proxy.log[-1].stale
    assert query(ScanIndexForward=False) == [("m#x", "1"), ("m#c", "1"), ("m#b", "1"),
                                             ("m#a", "1")]
    assert query(ConsistentRead=True) == [("m#a", "1"), ("m#b", "2"), ("m#d", "2"),
                                          ("m#x", "1")]


def test_a_query_whose_partition_saw_no_recent_write_is_forwarded_as_it_is(
        proxy: DynamoProxy, client: Any, proxy_clock: Clock) -> None:
    proxy.stale_ms = 200
    client.put_item(TableName=TABLE, Item=item("o", "a"))
    proxy_clock.advance(1.0)
    client.put_item(TableName=TABLE, Item=item("elsewhere", "b"))
    answer = client.query(TableName=TABLE, KeyConditionExpression="PK = :pk",
                          ExpressionAttributeValues={":pk": {"S": "o"}})

    assert sks(answer["Items"]) == ["a"]
    assert not proxy.log[-1].stale


def test_a_rebuilt_stale_query_pages_with_limit_and_last_evaluated_key(
        proxy: DynamoProxy, client: Any, proxy_clock: Clock) -> None:
    proxy.stale_ms = 200
    for sk in "12345":
        client.put_item(TableName=TABLE, Item=item("o", sk))
    proxy_clock.advance(1.0)
    client.delete_item(TableName=TABLE, Key=key("o", "2"))
    client.put_item(TableName=TABLE, Item=item("o", "0"))
    client.put_item(TableName=TABLE, Item=item("o", "6"))

    def pages(limit: int, forward: bool) -> list[tuple[list[str], str | None]]:
        found, start = [], None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            answer = client.query(TableName=TABLE, KeyConditionExpression="PK = :pk",
                                  ExpressionAttributeValues={":pk": {"S": "o"}}, Limit=limit,
                                  ScanIndexForward=forward, **extra)
            start = answer.get("LastEvaluatedKey")
            found.append((sks(answer["Items"]), start and start["SK"]["S"]))
            if start is None:
                return found

    assert pages(2, forward=True) == [(["1", "2"], "2"), (["3", "4"], "4"), (["5"], None)]
    assert pages(3, forward=False) == [(["5", "4", "3"], "3"), (["2", "1"], None)]
    assert all(e.stale for e in proxy.log if e.operation == "Query")


def gsi_item(sk: str, team_sk: str | None) -> dict[str, Any]:
    extra = {"GSI1PK": "team", "GSI1SK": team_sk} if team_sk is not None else {}
    return item("o", sk, **extra)


def test_every_query_on_a_gsi_is_eventually_consistent(
        proxy: DynamoProxy, client: Any, proxy_clock: Clock) -> None:
    proxy.stale_ms = 200
    for sk, team_sk in (("x", "1"), ("y", "2"), ("a", "2")):
        client.put_item(TableName=TABLE, Item=gsi_item(sk, team_sk))
    proxy_clock.advance(1.0)
    client.put_item(TableName=TABLE, Item=gsi_item("x", None))  # leaves the index
    client.put_item(TableName=TABLE, Item=gsi_item("y", "3"))
    client.put_item(TableName=TABLE, Item=gsi_item("z", "0"))
    client.update_item(TableName=TABLE, Key=key("o", "a"), UpdateExpression="SET note = :n",
                       ExpressionAttributeValues={":n": {"S": "n"}})

    def query(**extra: Any) -> dict[str, Any]:
        answer: dict[str, Any] = client.query(
            TableName=TABLE, IndexName="GSI1", KeyConditionExpression="GSI1PK = :team",
            ExpressionAttributeValues={":team": {"S": "team"}}, **extra)
        return answer

    def seen(answer: dict[str, Any]) -> list[tuple[str, str, bool]]:
        return [(i["SK"]["S"], i["GSI1SK"]["S"], "note" in i) for i in answer["Items"]]

    # a and y share a sort key on the index: the table's key orders them.
    assert seen(query()) == [("x", "1", False), ("a", "2", False), ("y", "2", False)]
    first = query(Limit=1)
    assert first["LastEvaluatedKey"] == {"PK": {"S": "o"}, "SK": {"S": "x"},
                                         "GSI1PK": {"S": "team"}, "GSI1SK": {"S": "1"}}
    assert sks(query(ExclusiveStartKey=first["LastEvaluatedKey"])["Items"]) == ["a", "y"]

    proxy_clock.advance(0.201)
    assert seen(query()) == [("z", "0", False), ("a", "2", True), ("y", "3", False)]


def test_a_consistent_read_on_a_gsi_is_refused(proxy: DynamoProxy, client: Any) -> None:
    with pytest.raises(ClientError) as refused:
        client.query(TableName=TABLE, IndexName="GSI1", KeyConditionExpression="GSI1PK = :t",
                     ExpressionAttributeValues={":t": {"S": "team"}}, ConsistentRead=True)

    assert code(refused) == "ValidationException"
    assert "not supported on global secondary indexes" in str(refused.value)


# --- consumed capacity -------------------------------------------------------------------


@pytest.mark.parametrize(("value", "size"), [
    ({"S": "héllo"}, 6),
    ({"N": "123.45"}, 4),
    ({"N": "-0.000100"}, 2),
    ({"B": "AAEC"}, 3),
    ({"BOOL": True}, 1),
    ({"NULL": True}, 1),
    ({"SS": ["ab", "c"]}, 3),
    ({"NS": ["1", "22"]}, 4),
    ({"L": [{"S": "ab"}, {"BOOL": False}]}, 3 + (2 + 1) + (1 + 1)),
    ({"M": {"k": {"S": "ab"}}}, 3 + (1 + 2 + 1)),
])
def test_an_item_is_sized_as_dynamodb_documents(value: dict[str, Any], size: int) -> None:
    assert item_size({"attr": value}) == len("attr") + size


def test_get_item_is_charged_per_4_kb_and_half_when_eventually_consistent(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    moto_client.put_item(TableName=TABLE, Item=sized("o", "a", 4096))
    moto_client.put_item(TableName=TABLE, Item=sized("o", "b", 4097))

    def units(sk: str, consistent: bool) -> float:
        answer = client.get_item(TableName=TABLE, Key=key("o", sk), ConsistentRead=consistent,
                                 ReturnConsumedCapacity="TOTAL")
        consumed = answer["ConsumedCapacity"]
        assert consumed["TableName"] == TABLE
        assert consumed["ReadCapacityUnits"] == consumed["CapacityUnits"]
        return float(consumed["CapacityUnits"])

    assert [units("a", False), units("b", False), units("b", True), units("absent", False)
            ] == [0.5, 1.0, 2.0, 0.5]
    assert proxy.consumed["GetItem"] == proxy.consumed["read"] == 4.0


def test_a_batch_get_rounds_each_item_and_a_query_rounds_their_sum(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    for sk in "abc":
        moto_client.put_item(TableName=TABLE, Item=sized("o", sk, 1500))
    batch = client.batch_get_item(
        RequestItems={TABLE: {"Keys": [key("o", sk) for sk in "abcz"]}},
        ReturnConsumedCapacity="TOTAL")
    query = client.query(TableName=TABLE, KeyConditionExpression="PK = :pk",
                         ExpressionAttributeValues={":pk": {"S": "o"}}, ConsistentRead=True,
                         ReturnConsumedCapacity="TOTAL")
    filtered = client.query(TableName=TABLE, KeyConditionExpression="PK = :pk",
                            FilterExpression="SK = :a", ReturnConsumedCapacity="TOTAL",
                            ExpressionAttributeValues={":pk": {"S": "o"}, ":a": {"S": "a"}})

    assert batch["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}]  # 4 x 0.5
    assert query["ConsumedCapacity"]["CapacityUnits"] == 2.0  # 4500 bytes: 2 units
    assert len(filtered["Items"]) == 1
    assert filtered["ConsumedCapacity"]["CapacityUnits"] == 1.0  # the filter reads them all


def test_a_scan_sums_what_it_read_and_a_transactional_read_costs_double(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    for sk in "abc":
        moto_client.put_item(TableName=TABLE, Item=sized("o", sk, 1500))
    scan = client.scan(TableName=TABLE, ReturnConsumedCapacity="TOTAL")
    transactional = client.transact_get_items(
        TransactItems=[{"Get": {"TableName": TABLE, "Key": key("o", sk)}} for sk in "az"],
        ReturnConsumedCapacity="TOTAL")

    assert scan["ConsumedCapacity"]["CapacityUnits"] == 1.0  # 4500 bytes, eventually
    assert transactional["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0}]


def test_a_gsi_query_is_charged_to_its_index(proxy: DynamoProxy, client: Any) -> None:
    client.put_item(TableName=TABLE, Item=gsi_item("x", "1"))
    answer = client.query(TableName=TABLE, IndexName="GSI1",
                          KeyConditionExpression="GSI1PK = :t", ReturnConsumedCapacity="INDEXES",
                          ExpressionAttributeValues={":t": {"S": "team"}})

    assert answer["ConsumedCapacity"] == {
        "TableName": TABLE, "CapacityUnits": 0.5, "ReadCapacityUnits": 0.5,
        "Table": {"CapacityUnits": 0.0, "ReadCapacityUnits": 0.0},
        "GlobalSecondaryIndexes": {"GSI1": {"CapacityUnits": 0.5, "ReadCapacityUnits": 0.5}}}


def test_writes_are_charged_per_kb_of_the_larger_image_plus_their_index_writes(
        proxy: DynamoProxy, client: Any) -> None:
    def charged(method: Callable[..., Any], **params: Any) -> tuple[float, float]:
        consumed = method(TableName=TABLE, ReturnConsumedCapacity="INDEXES",
                          **params)["ConsumedCapacity"]
        assert consumed["CapacityUnits"] == consumed["WriteCapacityUnits"]
        gsi = consumed.get("GlobalSecondaryIndexes", {}).get("GSI1", {})
        return consumed["Table"]["CapacityUnits"], gsi.get("CapacityUnits", 0.0)

    assert charged(client.put_item, Item=sized("o", "a", 1500)) == (2.0, 0.0)
    assert charged(client.update_item, Key=key("o", "a"), UpdateExpression="REMOVE filler"
                   ) == (2.0, 0.0)  # the larger image is the one before
    assert charged(client.put_item, Item=gsi_item("b", "1")) == (1.0, 1.0)
    assert charged(client.update_item, Key=key("o", "b"), UpdateExpression="SET GSI1SK = :s",
                   ExpressionAttributeValues={":s": {"S": "2"}}) == (1.0, 2.0)  # delete + put
    assert charged(client.update_item, Key=key("o", "b"), UpdateExpression="SET note = :n",
                   ExpressionAttributeValues={":n": {"S": "n"}}) == (1.0, 1.0)
    assert charged(client.delete_item, Key=key("o", "b")) == (1.0, 1.0)
    assert proxy.consumed["write"] == 2 + 2 + 2 + 3 + 2 + 2


def test_a_transaction_is_charged_twice_per_kb_per_action_a_condition_check_too(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    moto_client.put_item(TableName=TABLE, Item=sized("o", "c", 1500))
    check = {"ConditionCheck": {"TableName": TABLE, "Key": key("o", "c"),
                                "ConditionExpression": "attribute_exists(PK)"}}
    answer = client.transact_write_items(TransactItems=[put("o", "a"), put("o", "b"), check],
                                         ReturnConsumedCapacity="TOTAL")

    assert answer["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 8.0, "WriteCapacityUnits": 8.0}]
    assert proxy.log[-1].write == 8.0


def test_a_failed_conditional_write_is_still_charged_for_the_stored_item(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    moto_client.put_item(TableName=TABLE, Item=sized("o", "a", 2500))
    with pytest.raises(ClientError) as failed:
        client.put_item(TableName=TABLE, Item=item("o", "a"),
                        ConditionExpression="attribute_not_exists(PK)")
    with pytest.raises(ClientError) as canceled:
        client.transact_write_items(TransactItems=[
            put("o", "b"), {"Put": {**put("o", "a")["Put"],
                                    "ConditionExpression": "attribute_not_exists(PK)"}}])

    assert code(failed) == "ConditionalCheckFailedException"
    assert code(canceled) == "TransactionCanceledException"
    assert [(e.error, e.write) for e in proxy.log] == [
        ("ConditionalCheckFailedException", 3.0),
        ("TransactionCanceledException", 2.0 + 2 * 3.0)]
    assert proxy.applied["PutItem"] == proxy.applied[TRANSACT] == 0


def test_without_capacity_moto_figures_are_left_alone(proxy: DynamoProxy, client: Any,
                                                       moto_client: Any) -> None:
    moto_client.put_item(TableName=TABLE, Item=sized("o", "a", 9000))
    proxy.capacity = False
    answer = client.get_item(TableName=TABLE, Key=key("o", "a"), ReturnConsumedCapacity="TOTAL")

    assert answer["ConsumedCapacity"]["CapacityUnits"] == 0.5  # moto's fixed figure
    assert proxy.consumed["read"] == 0.0


def test_a_rewritten_body_carries_its_own_crc32(proxy: DynamoProxy, moto_client: Any) -> None:
    moto_client.put_item(TableName=TABLE, Item=sized("o", "a", 9000))
    status, headers, body = http_post(proxy.url, "GetItem", {
        "TableName": TABLE, "Key": key("o", "a"), "ReturnConsumedCapacity": "TOTAL"})

    assert status == 200
    assert json.loads(body)["ConsumedCapacity"]["CapacityUnits"] == 1.5  # not moto's 0.5
    assert headers["x-amz-crc32"] == str(zlib.crc32(body))


# --- endpoints without features ----------------------------------------------------------


def test_an_endpoint_without_ttl_or_pitr_does_not_know_their_operations(
        proxy: DynamoProxy, client: Any) -> None:
    client.describe_time_to_live(TableName=TABLE)
    proxy.lacking = frozenset({"ttl", "pitr"})
    calls: list[Callable[[], Any]] = [
        lambda: client.describe_time_to_live(TableName=TABLE),
        lambda: client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": "expiresAt"}),
        lambda: client.describe_continuous_backups(TableName=TABLE),
        lambda: client.update_continuous_backups(TableName=TABLE, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True}),
    ]
    for call in calls:
        with pytest.raises(ClientError) as unknown:
            call()
        assert code(unknown) == "UnknownOperationException"


def test_an_endpoint_without_streams_makes_tables_without_them(
        proxy: DynamoProxy, client: Any, moto_client: Any) -> None:
    assert "StreamSpecification" in client.describe_table(TableName=TABLE)["Table"]
    proxy.lacking = frozenset({"streams"})
    client.create_table(
        TableName="streamless", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    with pytest.raises(ClientError) as refused:
        client.update_table(TableName=TABLE, StreamSpecification={
            "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})

    assert "StreamSpecification" not in moto_client.describe_table(
        TableName="streamless")["Table"]
    described = client.describe_table(TableName=TABLE)["Table"]
    assert not {"StreamSpecification", "LatestStreamArn", "LatestStreamLabel"} & set(described)
    assert code(refused) == "ValidationException"
    assert "Stream specifications are not supported" in str(refused.value)


# --- plumbing ----------------------------------------------------------------------------


def test_requests_that_are_not_dynamodb_operations_pass_through(
        proxy: DynamoProxy, moto_client: Any) -> None:
    reset_moto(proxy.url)

    assert moto_client.list_tables()["TableNames"] == []
    assert not proxy.calls


def test_the_command_line_serves_in_front_of_an_upstream_until_killed(
        moto_endpoint: str, tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen([sys.executable, "-m", "tests.dynamo_proxy", "--upstream",
                           moto_endpoint, "--port-file", str(port_file)], cwd=root) as process:
        try:
            wait_for(port_file.exists, timeout=20)
            url = f"http://127.0.0.1:{port_file.read_text()}"
            status, _, body = http_post(url, "ListTables", {})
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0

    assert status == 200
    assert TABLE in json.loads(body)["TableNames"]
