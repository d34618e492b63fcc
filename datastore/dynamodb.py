"""The DynamoDB backend: one table, reached through boto3 on a bounded thread pool.

botocore is configured on purpose: ONE attempt per call (the Store retries, so every
attempt is counted and can be faulted; botocore's standard mode inside the store's loop
made 20 HTTP requests of 5 counted ones), connect/read timeouts, a connection pool as large
as the thread pool. Every botocore error becomes a store error in one place, ``_translate``.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from datastore.errors import (
    CONDITION_FAILED,
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    StoreError,
    StoreThrottled,
    StoreUnavailable,
    TransactionCanceled,
    TransactionRejected,
)
from datastore.feeds import Feed, StreamFeed
from datastore.keys import Key
from datastore.store import (
    TTL_ATTRIBUTE,
    Add,
    Change,
    Check,
    Cond,
    Delete,
    Item,
    Put,
    Query,
    RawBatch,
    RawBatchGet,
    RawCount,
    RawCountPage,
    RawPage,
    RawQuery,
    RawTransaction,
    RawWrite,
    Ref,
    Remove,
    Set,
    Store,
    Units,
    Update,
    item_size,
    normalize,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
# Refused before anything ran: safe to retry. TransactionInProgress means an earlier attempt
# of the same transaction (same token) is still running; its retry gets that one's outcome.
_THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "TransactionConflictException",
              "TransactionInProgressException"}
# Cancellation reasons that are not the caller's failure and go away when retried.
_TRANSIENT_REASONS = {"TransactionConflict", "ThrottlingError",
                      "ProvisionedThroughputExceeded"}
_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True, slots=True)
class DynamoSettings:
    table: str = "organizations"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    max_workers: int = 16
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None


def make_client(settings: DynamoSettings, *, attempts: int = 1) -> Any:
    """A DynamoDB client. The store's makes one attempt per call (it retries itself);
    administrative commands, which count nothing, may let botocore retry."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
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
        if cond.op == "or":
            return " OR ".join(f"({self.condition(p)})" for p in cond.parts)
        path = self.name(cond.attr)
        if cond.op == "exists":
            return f"attribute_exists({path})"
        if cond.op == "missing":
            return f"attribute_not_exists({path})"
        if cond.op == "in":
            return f"{path} IN ({', '.join(self.value(v) for v in cond.value)})"
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


def _units(op: str, response: dict[str, Any]) -> Units:
    """What DynamoDB says the call consumed (an idempotent replay of a transaction is
    charged read units, so the split comes from the response when it gives one)."""
    consumed = response.get("ConsumedCapacity")
    if isinstance(consumed, dict):
        consumed = [consumed]
    read = write = 0.0
    for entry in consumed or []:
        if "ReadCapacityUnits" in entry or "WriteCapacityUnits" in entry:
            read += float(entry.get("ReadCapacityUnits", 0))
            write += float(entry.get("WriteCapacityUnits", 0))
        elif op in ("get", "batch_get", "query", "count", "scan_organizations"):
            read += float(entry.get("CapacityUnits", 0))
        else:
            write += float(entry.get("CapacityUnits", 0))
    return Units(read, write)


def _failed_write_units(op: str, request: Any) -> float:
    """DynamoDB charges a failed conditional write (1 WCU per KB of the larger of the
    stored and the new item, at least 1) but does not report it: estimated from what we
    sent, at least one unit per item, two per transaction action."""
    if isinstance(request, RawWrite):
        return float(max(1, math.ceil(item_size(request.item or {}) / 1024)))
    if isinstance(request, RawTransaction):
        return float(sum(2 * max(1, math.ceil(item_size(a.item) / 1024))
                         if isinstance(a, Put) else 2 for a in request.actions))
    return 0.0


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

    def activity_feed(self, poll_seconds: float | None = None) -> Feed:
        s = self.settings
        return StreamFeed(table=s.table, region=s.region, endpoint_url=s.endpoint_url,
                          credentials={"aws_access_key_id": s.aws_access_key_id,
                                       "aws_secret_access_key": s.aws_secret_access_key},
                          poll_seconds=poll_seconds or 1.0)

    async def _execute(self, op: str, request: Any) -> tuple[Any, Units]:
        method, params, convert = getattr(self, f"_req_{op}")(request)
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self._pool, lambda: method(**params))
        except ClientError as exc:
            error = _translate(exc, self.table)
            if isinstance(error, ConditionFailed | TransactionCanceled):
                error.write_units = _failed_write_units(op, request)
            raise error from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise StoreUnavailable(f"DynamoDB could not be reached: {type(exc).__name__}",
                                   sent=False) from None
        except BotoCoreError as exc:
            # The request may have been applied and its answer lost (reset, read timeout).
            raise StoreUnavailable(f"DynamoDB did not answer: {type(exc).__name__}"
                                   ) from None
        return convert(response), _units(op, response)

    # Each _req_* turns a raw request into (client method, params, response converter).

    def _req_ping(self, _request: None) -> Any:
        return self.client.describe_table, {"TableName": self.table}, lambda r: None

    def _req_get(self, request: tuple[Key, bool]) -> Any:
        key, consistent = request
        params = {"TableName": self.table, "Key": serialize(key.as_dict()),
                  "ConsistentRead": consistent, "ReturnConsumedCapacity": "TOTAL"}
        return self.client.get_item, params, lambda r: deserialize(r["Item"]) if "Item" in r \
            else None

    def _req_batch_get(self, request: RawBatchGet) -> Any:
        params = {"RequestItems": {self.table: {"Keys": [serialize(k.as_dict())
                                                         for k in request.keys],
                                                "ConsistentRead": request.consistent}},
                  "ReturnConsumedCapacity": "TOTAL"}

        def convert(r: dict[str, Any]) -> RawBatch:
            items = [deserialize(i) for i in r.get("Responses", {}).get(self.table, [])]
            left = r.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            return RawBatch(items, [Key(**{k.lower(): v for k, v in deserialize(x).items()})
                                    for x in left])
        return self.client.batch_get_item, params, convert

    def _query_params(self, q: Query, start_key: dict[str, str] | None, expr: _Expression
                      ) -> dict[str, Any]:
        pk_name, sk_name = q.key_names
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
        if q.consistent:
            params["ConsistentRead"] = True
        if start_key:
            params["ExclusiveStartKey"] = serialize(start_key)
        return params

    @staticmethod
    def _last_key(r: dict[str, Any]) -> dict[str, str] | None:
        last = r.get("LastEvaluatedKey")
        return {k: str(v) for k, v in deserialize(last).items()} if last else None

    def _req_query(self, raw: RawQuery) -> Any:
        expr = _Expression()
        params = self._query_params(raw.query, raw.start_key, expr)
        if raw.limit:
            params["Limit"] = raw.limit

        def convert(r: dict[str, Any]) -> RawPage:
            return RawPage([deserialize(i) for i in r.get("Items", [])], self._last_key(r))
        return self.client.query, expr.into(params), convert

    def _req_scan_organizations(self, start_key: dict[str, str] | None) -> Any:
        params: dict[str, Any] = {
            "TableName": self.table, "ProjectionExpression": "PK",
            "FilterExpression": "entityType = :organization",
            "ExpressionAttributeValues": {":organization": {"S": "ORGANIZATION"}},
            "ReturnConsumedCapacity": "TOTAL"}
        if start_key:
            params["ExclusiveStartKey"] = serialize(start_key)

        def convert(r: dict[str, Any]) -> RawPage:
            return RawPage([deserialize(i) for i in r.get("Items", [])], self._last_key(r))
        return self.client.scan, params, convert

    def _req_count(self, raw: RawCount) -> Any:
        expr = _Expression()
        params = self._query_params(raw.query, raw.start_key, expr)
        ttl = expr.name(TTL_ATTRIBUTE)
        # Store._alive's rule: an expiresAt that is not a number never expires the item.
        filters = [f"(attribute_not_exists({ttl}) OR NOT attribute_type({ttl}, "
                   f"{expr.value('N')}) OR {ttl} > {expr.value(raw.now)})"]
        filters += [f"{expr.name(attr)} = {expr.value(value)}"
                    for attr, value in (raw.query.where or {}).items()]
        params["Select"] = "COUNT"
        params["FilterExpression"] = " AND ".join(filters)

        def convert(r: dict[str, Any]) -> RawCountPage:
            return RawCountPage(int(r.get("Count", 0)), self._last_key(r))
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

    def _req_transact(self, request: RawTransaction) -> Any:
        items = []
        for action in request.actions:
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
        # One token for every attempt: a retry after a lost answer is not applied twice.
        params = {"TransactItems": items, "ClientRequestToken": request.token,
                  "ReturnConsumedCapacity": "TOTAL"}
        return self.client.transact_write_items, params, lambda r: None


def _translate(exc: ClientError, table: str) -> StoreError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "")
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(message or "condition failed")
    if code == "TransactionCanceledException":
        return _cancellation([r.get("Code") for r in exc.response.get("CancellationReasons", [])])
    if code == "IdempotentParameterMismatchException":
        return TransactionRejected(["IdempotentParameterMismatch"])
    if code in _THROTTLES:
        return StoreThrottled(f"DynamoDB refused the request ({code})")
    if code == "ResourceNotFoundException":
        return StoreUnavailable(f"DynamoDB table {table!r} was not found; "
                                "run `devinsights create-table`", sent=False, transient=False)
    if code == "ValidationException" and "size" in message.lower():
        return ItemTooLarge(message)
    if code == "ValidationException":
        return InvalidRequest(message)
    return StoreUnavailable(f"DynamoDB failed with {code or 'an unknown error'}")


def _cancellation(codes: list[str | None]) -> StoreError:
    """Read the reasons per action: a failed condition is the caller's answer; conflicts and
    throttling are transient (retried with the same token); anything else is our bug."""
    reasons = [None if r in (None, "None") else r for r in codes]
    if CONDITION_FAILED in reasons:
        return TransactionCanceled(reasons)
    failed = {r for r in reasons if r is not None}
    if failed and failed <= _TRANSIENT_REASONS:
        return StoreThrottled("a concurrent write or throttling canceled the transaction ("
                              + ", ".join(sorted(failed)) + ")")
    return TransactionRejected(reasons)
