"""The DynamoDB backend: one table, reached through boto3 on a bounded thread pool.

botocore is configured on purpose (standard retry mode, connect/read timeouts, a connection
pool as large as the thread pool), and every botocore error becomes a store error in one
place, ``_translate``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from datastore.errors import (
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    StoreThrottled,
    StoreUnavailable,
    TransactionCanceled,
)
from datastore.keys import Key
from datastore.store import (
    Action,
    Add,
    Change,
    Check,
    Cond,
    Delete,
    Item,
    Put,
    RawBatch,
    RawPage,
    RawQuery,
    RawWrite,
    Ref,
    Remove,
    Set,
    Store,
    Update,
    normalize,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "TransactionConflictException",
              "TransactionInProgressException"}
_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True, slots=True)
class DynamoSettings:
    table: str = "organizations"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    max_workers: int = 16
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_attempts: int = 3
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None


def make_client(settings: DynamoSettings) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_workers,
        tcp_keepalive=True,
    )
    with _session_lock:
        return _session().client(
            "dynamodb", region_name=settings.region, endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key, config=config,
        )


# Building a Session loads botocore's data files (~100 ms); one per process is enough.
# Creating clients from it is not thread-safe, hence the lock; the clients themselves are.
_session_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


def to_wire(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value


def serialize(item: Item) -> dict[str, Any]:
    return {k: _serializer.serialize(to_wire(v)) for k, v in item.items()}


def deserialize(raw: dict[str, Any]) -> Item:
    return {k: normalize(_deserializer.deserialize(v)) for k, v in raw.items()}


class _Expression:
    """Allocates #name and :value placeholders for one request."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, path: str) -> str:
        parts = []
        for part in path.split("."):
            token = f"#n{len(self.names)}"
            for existing, name in self.names.items():
                if name == part:
                    token = existing
                    break
            else:
                self.names[token] = part
            parts.append(token)
        return ".".join(parts)

    def value(self, value: Any) -> str:
        token = f":v{len(self.values)}"
        self.values[token] = _serializer.serialize(to_wire(value))
        return token

    def condition(self, cond: Cond) -> str:
        if cond.op == "and":
            return " AND ".join(f"({self.condition(p)})" for p in cond.parts)
        path = self.name(cond.attr)
        if cond.op == "exists":
            return f"attribute_exists({path})"
        if cond.op == "missing":
            return f"attribute_not_exists({path})"
        other = self.name(cond.value.attr) if isinstance(cond.value, Ref) else self.value(
            cond.value)
        return f"{path} {_OPERATORS[cond.op]} {other}"

    def update(self, changes: Sequence[Change]) -> str:
        sets, removes = [], []
        for change in changes:
            path = self.name(change.path)
            if isinstance(change, Set):
                sets.append(f"{path} = {self.value(change.value)}")
            elif isinstance(change, Add):
                sets.append(f"{path} = if_not_exists({path}, {self.value(0)}) + "
                            f"{self.value(change.amount)}")
            else:
                assert isinstance(change, Remove)
                removes.append(path)
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        return " ".join(clauses)

    def into(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


def _capacity(response: dict[str, Any]) -> float:
    consumed = response.get("ConsumedCapacity")
    if isinstance(consumed, dict):
        consumed = [consumed]
    return float(sum(c.get("CapacityUnits", 0) for c in consumed or []))


class DynamoStore(Store):
    name = "dynamodb"

    def __init__(self, settings: DynamoSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.table = settings.table
        self.client = make_client(settings)
        self._pool = ThreadPoolExecutor(max_workers=settings.max_workers,
                                        thread_name_prefix="dynamodb")

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    async def _execute(self, op: str, request: Any) -> tuple[Any, float]:
        method, params, convert = getattr(self, f"_req_{op}")(request)
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self._pool, lambda: method(**params))
        except ClientError as exc:
            raise _translate(exc, self.table) from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB could not be reached: {type(exc).__name__}"
                                   ) from None
        return convert(response), _capacity(response)

    # Each _req_* turns a raw request into (client method, params, response converter).

    def _req_ping(self, _request: None) -> Any:
        return self.client.describe_table, {"TableName": self.table}, lambda r: None

    def _req_get(self, request: tuple[Key, bool]) -> Any:
        key, consistent = request
        params = {"TableName": self.table, "Key": serialize(key.as_dict()),
                  "ConsistentRead": consistent, "ReturnConsumedCapacity": "TOTAL"}
        return self.client.get_item, params, lambda r: deserialize(r["Item"]) if "Item" in r \
            else None

    def _req_batch_get(self, wanted: Sequence[Key]) -> Any:
        params = {"RequestItems": {self.table: {"Keys": [serialize(k.as_dict())
                                                         for k in wanted]}},
                  "ReturnConsumedCapacity": "TOTAL"}

        def convert(r: dict[str, Any]) -> RawBatch:
            items = [deserialize(i) for i in r.get("Responses", {}).get(self.table, [])]
            left = r.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            return RawBatch(items, [Key(**{k.lower(): v for k, v in deserialize(x).items()})
                                    for x in left])
        return self.client.batch_get_item, params, convert

    def _req_query(self, raw: RawQuery) -> Any:
        q = raw.query
        pk_name, sk_name = q.key_names
        expr = _Expression()
        key_cond = f"{expr.name(pk_name)} = {expr.value(q.partition)}"
        if q.prefix is not None:
            key_cond += f" AND begins_with({expr.name(sk_name)}, {expr.value(q.prefix)})"
        if q.between is not None:
            key_cond += (f" AND {expr.name(sk_name)} BETWEEN {expr.value(q.between[0])} "
                         f"AND {expr.value(q.between[1])}")
        params: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": key_cond,
                                  "ScanIndexForward": q.forward,
                                  "ReturnConsumedCapacity": "TOTAL"}
        if q.index:
            params["IndexName"] = q.index
        if raw.limit:
            params["Limit"] = raw.limit
        if raw.start_key:
            params["ExclusiveStartKey"] = serialize(raw.start_key)

        def convert(r: dict[str, Any]) -> RawPage:
            last = r.get("LastEvaluatedKey")
            return RawPage([deserialize(i) for i in r.get("Items", [])],
                           {k: str(v) for k, v in deserialize(last).items()} if last else None)
        return self.client.query, expr.into(params), convert

    def _write_params(self, w: RawWrite) -> dict[str, Any]:
        expr = _Expression()
        params: dict[str, Any] = {"TableName": self.table}
        if w.item is not None:
            params["Item"] = serialize(w.item)
        else:
            params["Key"] = serialize(w.key.as_dict())
        if w.changes:
            params["UpdateExpression"] = expr.update(w.changes)
        if w.condition is not None:
            params["ConditionExpression"] = expr.condition(w.condition)
        return expr.into(params)

    def _req_put(self, w: RawWrite) -> Any:
        params = {**self._write_params(w), "ReturnConsumedCapacity": "TOTAL"}
        return self.client.put_item, params, lambda r: None

    def _req_update(self, w: RawWrite) -> Any:
        params = {**self._write_params(w), "ReturnValues": "ALL_NEW",
                  "ReturnConsumedCapacity": "TOTAL"}
        return self.client.update_item, params, lambda r: deserialize(r["Attributes"])

    def _req_delete(self, w: RawWrite) -> Any:
        params = {**self._write_params(w), "ReturnConsumedCapacity": "TOTAL"}
        return self.client.delete_item, params, lambda r: None

    def _req_transact(self, actions: Sequence[Action]) -> Any:
        items = []
        for action in actions:
            if isinstance(action, Put):
                items.append({"Put": self._write_params(
                    RawWrite(action.key, action.item, condition=action.condition))})
            elif isinstance(action, Update):
                items.append({"Update": self._write_params(
                    RawWrite(action.key, changes=action.changes, condition=action.condition))})
            elif isinstance(action, Delete):
                items.append({"Delete": self._write_params(
                    RawWrite(action.key, condition=action.condition))})
            else:
                assert isinstance(action, Check)
                items.append({"ConditionCheck": self._write_params(
                    RawWrite(action.key, condition=action.condition))})
        # The token makes botocore's own retries of this transaction idempotent.
        params = {"TransactItems": items, "ClientRequestToken": uuid.uuid4().hex,
                  "ReturnConsumedCapacity": "TOTAL"}
        return self.client.transact_write_items, params, lambda r: None


def _translate(exc: ClientError, table: str) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "")
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(message or "condition failed")
    if code == "TransactionCanceledException":
        reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
        cleaned = [None if r in (None, "None") else r for r in reasons]
        if cleaned and all(r in (None, "TransactionConflict", "ThrottlingError")
                           for r in cleaned) and any(cleaned):
            return StoreThrottled("a concurrent transaction touched the same items")
        return TransactionCanceled(cleaned)
    if code in _THROTTLES:
        return StoreThrottled(f"DynamoDB throttled the request ({code})")
    if code == "ResourceNotFoundException":
        return StoreUnavailable(f"DynamoDB table {table!r} was not found; "
                                "run `devinsights create-table`")
    if code == "ValidationException" and "size" in message.lower():
        return ItemTooLarge(message)
    if code == "ValidationException":
        return InvalidRequest(message)
    return StoreUnavailable(f"DynamoDB failed with {code or 'an unknown error'}")
