"""An HTTP proxy in front of moto's server that makes the wire behave as DynamoDB does.

moto is lenient, serial, always strongly consistent, never reports a transaction conflict,
ignores ClientRequestToken, never loses an answer and reports fixed consumed capacity. Tests
(and the benchmark, through ``python -m tests.dynamo_proxy``) point boto3 at this proxy
instead, and it adds, on purpose and reproducibly (one seeded RNG), what DynamoDB documents:

- scheduled faults: throttling, any error code, canceled transactions with chosen reasons,
  partial BatchGetItem answers (UnprocessedKeys) and lost answers (applied, then the
  connection is reset);
- transaction conflicts: with ``hold_ms`` every write holds its items for that long before it
  is applied; a TransactWriteItems touching a held item is canceled (TransactionConflict at
  that position), a single write on an item held by a transaction fails with
  TransactionConflictException; single writes on one item never conflict;
- ClientRequestToken idempotency for TransactWriteItems (replay, mismatch, in progress; a
  failed attempt leaves the token unused);
- eventual consistency: with ``stale_ms`` an eventually consistent read (GetItem,
  BatchGetItem, Query, and every Query on a GSI) may be answered as of up to ``stale_ms``
  ago, from the before/after images the proxy keeps of every write it forwarded;
  ``settle()`` makes every write so far visible; ConsistentRead on a GSI is refused;
- consumed capacity as DynamoDB charges it (item sizes, 4 KB / 1 KB rounding, eventually
  consistent halves, transactional doubles, GSI writes, failed conditional writes);
- endpoints without TTL, point-in-time recovery or streams (as dynalite answers).

Everything the proxy received is observable from outside the client: ``calls``, ``applied``,
``consumed`` and ``log``. Requests that are not DynamoDB operations are forwarded unchanged,
and so are malformed ones (moto says what is wrong with them).

Known limits:
- a stale Query that uses FilterExpression, ProjectionExpression, Select or the legacy
  KeyConditions/QueryFilter is served fresh, and so are GetItem/BatchGetItem with a projection;
  Scan and TransactGetItems are never stale;
- history is kept for ``stale_ms`` only: raising ``stale_ms`` does not bring back older writes;
- writes are applied one at a time inside the proxy while it keeps images (``capacity`` on or
  ``stale_ms`` > 0), at the cost of one or two upstream reads per write; a read racing a write
  may see it before its history is recorded, which is a fresh answer, always allowed;
- conflicts: a BatchWriteItem item held by a transaction is handed back in UnprocessedItems
  (DynamoDB documents conflicts for single writes and transactions only); TransactGetItems
  never conflicts;
- capacity: GSI writes are charged at the non-transactional rate; an idempotent replay is
  charged one strongly consistent read per action; a Query or Scan with a filter or
  projection is re-read unfiltered to be charged (one more upstream request); transactions
  canceled by a ``cancel`` rule cost nothing; TransactGetItems costs 2 RCU per 4 KB per
  item; other operations keep moto's answer and are charged nothing;
- request bodies must carry Content-Length (botocore always sends one).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import urllib3

Json = dict[str, Any]
Image = Json  # one item in DynamoDB JSON: {"PK": {"S": "..."}, ...}
ItemId = tuple[str, str]  # (table, canonical JSON of its primary key)
When = Callable[[str, Json], bool]

TARGET_PREFIX: Final = "DynamoDB_20120810."
DYNAMO_ERROR: Final = "com.amazonaws.dynamodb.v20120810#"
CORAL_ERROR: Final = "com.amazon.coral.service#"
TRANSACT: Final = "TransactWriteItems"
WRITES: Final = frozenset({"PutItem", "UpdateItem", "DeleteItem", TRANSACT, "BatchWriteItem"})
READS: Final = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
FEATURE_OPERATIONS: Final = {
    "ttl": frozenset({"UpdateTimeToLive", "DescribeTimeToLive"}),
    "pitr": frozenset({"UpdateContinuousBackups", "DescribeContinuousBackups"}),
}
STREAM_FIELDS: Final = ("StreamSpecification", "LatestStreamArn", "LatestStreamLabel")
# Request parameters that change what a read returns, so a rebuilt or substituted answer would
# be wrong; such reads are served fresh (and re-read unfiltered to be charged).
SHAPING: Final = ("FilterExpression", "ProjectionExpression", "AttributesToGet", "Select",
                  "QueryFilter", "ScanFilter", "KeyConditions", "ConditionalOperator")
HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                               "transfer-encoding", "upgrade", "host", "content-length"})
NOT_COPIED_BACK: Final = HOP_BY_HOP | {"content-encoding", "date", "server"}
AUTH_HEADERS: Final = ("authorization", "x-amz-date", "x-amz-security-token")
MESSAGES: Final = {
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "ProvisionedThroughputExceededException":
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    "RequestLimitExceeded": "Throughput exceeds the current throughput limit for your account.",
    "TransactionConflictException": "Transaction is ongoing for the item",
    "TransactionInProgressException":
        "Transaction with the given request token is already in progress.",
    "IdempotentParameterMismatchException":
        "The request uses the same client token as a previous, but non-identical request.",
}
REASON_MESSAGES: Final = {
    "TransactionConflict": "Transaction is ongoing for the item",
    "ConditionalCheckFailed": "The conditional request failed",
    "ThrottlingError": "Throughput exceeds the current capacity of your table or index.",
    "ProvisionedThroughputExceeded":
        "The level of configured provisioned throughput for the table was exceeded.",
}
BATCH_GET_LIMIT: Final = 100


# --- what the proxy records ------------------------------------------------------------


@dataclass
class Rule:
    """One scheduled fault; ``fired`` counts the requests it was applied to."""

    action: str  # "throttle", "fail", "cancel", "unprocess" or "drop"
    ops: frozenset[str]
    times: int | None = None  # in all; None: no limit
    probability: float = 1.0
    when: When | None = None
    code: str = ""
    status: int = 400
    message: str = ""
    reasons: tuple[str, ...] = ()
    fraction: float = 0.5
    fired: int = 0

    def applies(self, op: str, body: Json) -> bool:
        return (op in self.ops and (self.times is None or self.fired < self.times)
                and (self.when is None or self.when(op, body)))


@dataclass(frozen=True)
class Exchange:
    """One DynamoDB request as the proxy saw it and answered it."""

    operation: str
    request: Json
    status: int
    error: str | None  # the error code (``__type`` after '#'), None on success
    read: float  # capacity units charged
    write: float
    stale: bool  # at least one item was answered from an older image
    dropped: bool  # the connection was reset instead of answered


# --- item keys, sizes and capacity -------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # hash key, then range key if any
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: frozenset[str]
    is_global: bool


@dataclass(frozen=True)
class Schema:
    """What the proxy needs to know of one table, from DescribeTable."""

    keys: tuple[str, ...]
    indexes: dict[str, Index]


def key_names(key_schema: Sequence[Json]) -> tuple[str, ...]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in key_schema}
    return tuple(by_type[t] for t in ("HASH", "RANGE") if t in by_type)


def schema_of(table: Json) -> Schema:
    indexes = {}
    for kind, is_global in (("GlobalSecondaryIndexes", True), ("LocalSecondaryIndexes", False)):
        for index in table.get(kind) or []:
            projection = index.get("Projection", {})
            indexes[index["IndexName"]] = Index(
                index["IndexName"], key_names(index["KeySchema"]),
                projection.get("ProjectionType", "ALL"),
                frozenset(projection.get("NonKeyAttributes", [])), is_global)
    return Schema(key_names(table["KeySchema"]), indexes)


def pick(item: Image, names: Iterable[str]) -> Image | None:
    """The named attributes of an item, or None if one is missing."""
    picked = {}
    for name in names:
        if name not in item:
            return None
        picked[name] = item[name]
    return picked


def item_id(table: str, key: Image) -> ItemId:
    return table, json.dumps(key, sort_keys=True, separators=(",", ":"))


def number_size(text: str) -> int:
    """About one byte per two significant digits, plus one."""
    mantissa = text.lstrip("+-").lower().split("e")[0].replace(".", "")
    digits = len(mantissa.strip("0")) or 1
    return (digits + 1) // 2 + 1


def value_size(value: Json) -> int:
    """The bytes DynamoDB counts for one attribute value."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Image | None) -> int:
    """Attribute names plus values, as DynamoDB sizes an item (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(size: int) -> int:
    return max(1, math.ceil(size / 4096))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


@dataclass
class Bill:
    """Capacity charged to one table and its indexes by one request."""

    table: float = 0.0
    global_indexes: dict[str, float] = field(default_factory=dict)
    local_indexes: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.table + sum(self.global_indexes.values()) + sum(self.local_indexes.values())

    def charge(self, index: Index | None, units: float) -> None:
        if index is None:
            self.table += units
            return
        into = self.global_indexes if index.is_global else self.local_indexes
        into[index.name] = into.get(index.name, 0.0) + units


def projected(index: Index, table_keys: tuple[str, ...], item: Image | None) -> Image | None:
    """The item as the index stores it, or None when the item is not in the (sparse) index."""
    if item is None or pick(item, index.keys) is None:
        return None
    if index.projection == "ALL":
        return item
    kept = set(table_keys) | set(index.keys)
    if index.projection == "INCLUDE":
        kept |= index.included
    return {k: v for k, v in item.items() if k in kept}


def index_write_units(index: Index, schema: Schema, before: Image | None,
                      after: Image | None) -> int:
    """One write per KB of the projected item; a changed index key is a delete plus a put."""
    old, new = projected(index, schema.keys, before), projected(index, schema.keys, after)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return write_units(item_size(old or new))
    if pick(old, index.keys) == pick(new, index.keys):
        return write_units(max(item_size(old), item_size(new)))
    return write_units(item_size(old)) + write_units(item_size(new))


def write_bill(schema: Schema, action: str, before: Image | None, after: Image | None, *,
               transactional: bool, succeeded: bool) -> Bill:
    """What one written (or checked, or refused by its condition) item costs."""
    factor = 2.0 if transactional else 1.0
    if not succeeded or action == "ConditionCheck":
        return Bill(table=factor * write_units(item_size(before)))
    bill = Bill(table=factor * write_units(max(item_size(before), item_size(after))))
    for index in schema.indexes.values():
        units = index_write_units(index, schema, before, after)
        if units:
            bill.charge(index, float(units))
    return bill


def capacity_entry(table: str, bill: Bill, kind: str, mode: str) -> Json:
    """One ConsumedCapacity object; ``kind`` is "Read" or "Write", mode TOTAL or INDEXES."""
    entry: Json = {"TableName": table, "CapacityUnits": bill.total,
                   f"{kind}CapacityUnits": bill.total}
    if mode == "INDEXES":
        entry["Table"] = {"CapacityUnits": bill.table, f"{kind}CapacityUnits": bill.table}
        for name, indexes in (("GlobalSecondaryIndexes", bill.global_indexes),
                              ("LocalSecondaryIndexes", bill.local_indexes)):
            if indexes:
                entry[name] = {i: {"CapacityUnits": u, f"{kind}CapacityUnits": u}
                               for i, u in indexes.items()}
    return entry


# --- key conditions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One comparison of a key attribute: ``=``, ``<``, ``<=``, ``>``, ``>=``, between,
    begins_with."""

    name: str
    op: str
    values: tuple[Json, ...]

    def holds(self, item: Image) -> bool:
        value = item.get(self.name)
        if value is None:
            return False
        if self.op == "begins_with":
            return begins_with(value, self.values[0])
        here = sortable(value)
        bounds = [sortable(v) for v in self.values]
        if self.op == "between":
            return bounds[0] <= here <= bounds[1]
        return {"=": here == bounds[0], "<": here < bounds[0], "<=": here <= bounds[0],
                ">": here > bounds[0], ">=": here >= bounds[0]}[self.op]


@dataclass(frozen=True)
class KeyCondition:
    partition: Term
    sort: Term | None

    def holds(self, item: Image) -> bool:
        return self.partition.holds(item) and (self.sort is None or self.sort.holds(item))


def sortable(value: Json) -> tuple[str, Any]:
    """A key value in DynamoDB's order: strings and binaries by bytes, numbers by value."""
    (kind, inner), = value.items()
    if kind == "N":
        return kind, Decimal(inner)
    if kind == "B":
        return kind, base64.b64decode(inner)
    return kind, str(inner).encode()


def begins_with(value: Json, prefix: Json) -> bool:
    kind, here = sortable(value)
    other_kind, start = sortable(prefix)
    return kind == other_kind and kind != "N" and bytes(here).startswith(bytes(start))


_TOKEN = re.compile(r"\s*(<=|>=|<>|=|<|>|\(|\)|,|[:#]?[A-Za-z0-9_.\-]+)")


def tokenize(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text.rstrip()):
        found = _TOKEN.match(text, at)
        if found is None:
            raise ValueError(f"cannot read key condition at {text[at:]!r}")
        tokens.append(found.group(1))
        at = found.end()
    return tokens


class _KeyConditionParser:
    """Recursive descent over ``term (AND term)?`` with optional parentheses."""

    def __init__(self, tokens: list[str], names: dict[str, str], values: dict[str, Json]):
        self.tokens, self.names, self.values, self.at = tokens, names, values, 0

    def parse(self) -> list[Term]:
        terms = self.conjunction()
        if self.at != len(self.tokens):
            raise ValueError("trailing tokens in key condition")
        return terms

    def conjunction(self) -> list[Term]:
        terms = self.term()
        while self.accept("and"):
            terms += self.term()
        return terms

    def term(self) -> list[Term]:
        if self.accept("("):
            inner = self.conjunction()
            self.expect(")")
            return inner
        if self.peek() == "begins_with":
            self.at += 1
            self.expect("(")
            name = self.name()
            self.expect(",")
            prefix = self.value()
            self.expect(")")
            return [Term(name, "begins_with", (prefix,))]
        name = self.name()
        if self.accept("between"):
            low = self.value()
            self.expect("and")
            return [Term(name, "between", (low, self.value()))]
        op = self.next()
        if op not in ("=", "<", "<=", ">", ">="):
            raise ValueError(f"unsupported key comparison {op!r}")
        return [Term(name, op, (self.value(),))]

    def name(self) -> str:
        token = self.next()
        return self.names[token] if token.startswith("#") else token

    def value(self) -> Json:
        return self.values[self.next()]

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def next(self) -> str:
        token = self.peek()
        if not token:
            raise ValueError("key condition ends too early")
        self.at += 1
        return token

    def accept(self, word: str) -> bool:
        if self.peek().lower() == word:
            self.at += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise ValueError(f"expected {word!r} in key condition")


def parse_key_condition(text: str, names: dict[str, str], values: dict[str, Json],
                        keys: tuple[str, ...]) -> KeyCondition:
    """Parse a KeyConditionExpression over ``keys`` (hash, then range); ValueError if it is
    not one DynamoDB accepts."""
    terms = _KeyConditionParser(tokenize(text), names, values).parse()
    partition = [t for t in terms if t.name == keys[0] and t.op == "="]
    rest = [t for t in terms if t not in partition]
    if len(partition) != 1 or len(rest) > 1 or (rest and rest[0].name not in keys[1:]):
        raise ValueError(f"not a key condition on {keys}: {text!r}")
    return KeyCondition(partition[0], rest[0] if rest else None)


def placeholders_used(text: str) -> set[str]:
    return set(re.findall(r"[#:][A-Za-z0-9_]+", text))


# --- internal plumbing -------------------------------------------------------------------


@dataclass
class _Answer:
    """An HTTP answer, from upstream or made here, and what it cost."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    read: float = 0.0
    write: float = 0.0
    stale: bool = False
    drop: bool = False

    def json(self) -> Json:
        loaded: Json = json.loads(self.body or b"{}")
        return loaded


@dataclass
class _Call:
    """One DynamoDB request on its way through the proxy."""

    op: str
    body: Json  # as the client sent it
    raw: bytes
    headers: list[tuple[str, str]]
    send: Json  # what is forwarded (the body, unless a rule or a conflict trimmed it)
    leftover: Json | None = None  # UnprocessedKeys / UnprocessedItems the proxy adds
    drop: bool = False

    @property
    def auth(self) -> dict[str, str]:
        return {k: v for k, v in self.headers if k.lower() in AUTH_HEADERS}


@dataclass(frozen=True)
class _Touch:
    """One item a write touches."""

    position: int  # in the request's order
    action: str  # Put, Update, Delete or ConditionCheck
    table: str
    key: Image
    id: ItemId
    item: Image | None  # the new item of a Put
    entry: Json  # the request's own entry, to hand back unprocessed


@dataclass(frozen=True)
class _Change:
    """One applied write of one item, for answering as of an earlier instant."""

    time: float
    id: ItemId
    before: Image | None
    after: Image | None


@dataclass
class _Token:
    fingerprint: str
    done_at: float | None = None  # None while the first attempt is in flight
    response: Json | None = None


def error_code(body: bytes) -> str | None:
    try:
        kind = json.loads(body or b"{}").get("__type", "")
    except (ValueError, AttributeError):
        return "UnknownError"
    return str(kind).rsplit("#", 1)[-1] or "UnknownError"


def error_answer(code: str, message: str = "", status: int = 400, **extra: Any) -> _Answer:
    prefix = CORAL_ERROR if code == "UnknownOperationException" else DYNAMO_ERROR
    payload: Json = {"__type": prefix + code}
    if message or code in MESSAGES:
        payload["message"] = message or MESSAGES[code]
    payload.update(extra)
    return _Answer(status, json.dumps(payload).encode(),
                   [("Content-Type", "application/x-amz-json-1.0")], error=code)


def canceled_answer(reasons: Sequence[str]) -> _Answer:
    listed = [{"Code": r, **({"Message": REASON_MESSAGES[r]} if r in REASON_MESSAGES else {})}
              for r in reasons]
    message = ("Transaction cancelled, please refer cancellation reasons for specific reasons ["
               + ", ".join(reasons) + "]")
    return error_answer("TransactionCanceledException", message, CancellationReasons=listed)


def json_answer(payload: Json, like: _Answer | None = None) -> _Answer:
    headers = like.headers if like is not None else [
        ("Content-Type", "application/x-amz-json-1.0")]
    return _Answer(200, json.dumps(payload).encode(), list(headers))


def with_checksum(answer: _Answer) -> _Answer:
    """botocore checks x-amz-crc32 against the body, so every body sent carries its own."""
    headers = [(k, v) for k, v in answer.headers if k.lower() != "x-amz-crc32"]
    headers.append(("x-amz-crc32", str(zlib.crc32(answer.body) & 0xFFFFFFFF)))
    if not any(k.lower() == "x-amzn-requestid" for k, _ in headers):
        headers.append(("x-amzn-RequestId", uuid.uuid4().hex))
    return replace(answer, headers=headers)


def chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


# --- the proxy ---------------------------------------------------------------------------


class DynamoProxy:
    """A DynamoDB-semantics proxy on 127.0.0.1 in front of ``upstream`` (a moto server).

    Knobs are plain attributes and may change between requests. ``consumed`` holds the
    capacity charged per operation name, plus the totals under "read" and "write".
    """

    stale_ms: float
    stale_probability: float
    hold_ms: float
    idempotency_seconds: float
    capacity: bool
    lacking: frozenset[str]

    def __init__(self, upstream: str, *, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.upstream = upstream
        self.seed = seed
        self.clock = clock
        self.url = ""
        self.log_limit: int | None = None  # keep only the newest entries (the benchmark)
        self.rules: list[Rule] = []
        self.calls: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self.consumed: dict[str, float] = {}
        self.log: list[Exchange] = []
        self._pool = self._upstream_pool()
        self._lock = threading.Lock()  # every piece of state below and above
        self._write_lock = threading.Lock()  # writes applied one at a time while imaging
        self._rng = random.Random(seed)
        self._ids = itertools.count()
        self._schemas: dict[str, Schema] = {}
        self._history: list[_Change] = []
        self._tokens: dict[str, _Token] = {}
        self._in_flight: dict[ItemId, dict[int, bool]] = {}  # item -> {request: transactional}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._defaults()

    def _upstream_pool(self) -> urllib3.HTTPConnectionPool:
        parts = urlsplit(self.upstream)
        return urllib3.HTTPConnectionPool(parts.hostname or "127.0.0.1", parts.port,
                                          maxsize=32, retries=False,
                                          timeout=urllib3.Timeout(connect=5.0, read=300.0))

    def _defaults(self) -> None:
        self.stale_ms = 0.0
        self.stale_probability = 1.0
        self.hold_ms = 0.0
        self.idempotency_seconds = 600.0
        self.capacity = True
        self.lacking = frozenset()

    # lifecycle

    def start(self, port: int = 0) -> DynamoProxy:
        """Bind 127.0.0.1 (an ephemeral port unless told) and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", port), _Handler, self)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="dynamo-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and wait for the handler threads."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        self._pool.close()
        self._pool = self._upstream_pool()  # opens nothing until a request needs it

    def reset(self) -> None:
        """Forget rules, history, tokens, in-flight items, counters and cached schemas; put
        every knob back to its default and reseed."""
        with self._lock:
            self.rules.clear()
            self.calls.clear()
            self.applied.clear()
            self.consumed.clear()
            self.log.clear()
            self._history.clear()
            self._tokens.clear()
            self._in_flight.clear()
            self._schemas.clear()
            self._rng.seed(self.seed)
            self._defaults()

    def settle(self) -> None:
        """Let every write so far reach every replica: no later read is answered from before
        now (the write history is forgotten; everything else is kept)."""
        with self._lock:
            self._history.clear()

    # scheduled faults

    def throttle(self, ops: str | Iterable[str], *, code: str = "ThrottlingException",
                 times: int | None = None, probability: float = 1.0,
                 when: When | None = None) -> Rule:
        """Refuse matching requests with a throttling error; nothing is forwarded."""
        return self._add(Rule("throttle", _names(ops), times, probability, when, code=code))

    def unprocess(self, *, times: int | None = None, fraction: float = 0.5) -> Rule:
        """Answer only the first ceil(n * (1 - fraction)) keys of a BatchGetItem."""
        return self._add(Rule("unprocess", frozenset({"BatchGetItem"}), times,
                              fraction=fraction))

    def drop_response(self, ops: str | Iterable[str], *, times: int | None = 1,
                      when: When | None = None) -> Rule:
        """Apply the request upstream, then reset the connection without answering."""
        return self._add(Rule("drop", _names(ops), times, when=when))

    def cancel(self, *, reasons: Sequence[str], times: int | None = 1,
               when: When | None = None) -> Rule:
        """Cancel a TransactWriteItems with exactly these reason codes; nothing is applied."""
        return self._add(Rule("cancel", frozenset({TRANSACT}), times, when=when,
                              reasons=tuple(reasons)))

    def fail(self, ops: str | Iterable[str], *, code: str, status: int = 400,
             message: str = "", times: int | None = 1, when: When | None = None) -> Rule:
        """Answer matching requests with any error; nothing is forwarded."""
        return self._add(Rule("fail", _names(ops), times, when=when, code=code, status=status,
                              message=message))

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _fire(self, op: str, body: Json) -> Rule | None:
        """The first rule that applies and wins its draw (rules are tried in order)."""
        with self._lock:
            for rule in self.rules:
                if rule.applies(op, body) and (rule.probability >= 1.0
                                               or self._rng.random() < rule.probability):
                    rule.fired += 1
                    return rule
        return None

    # one DynamoDB request

    def _serve(self, op: str, raw: bytes, headers: list[tuple[str, str]]) -> _Answer:
        """Answer one DynamoDB operation and record it."""
        with self._lock:
            self.calls[op] += 1
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._forward_raw("POST", "/", headers, raw)
        call = _Call(op, body, raw, headers, body)
        answer = self._answer(call)
        if call.drop:
            answer.drop = True
        self._record(call, answer)
        return with_checksum(answer)

    def _answer(self, call: _Call) -> _Answer:
        refusal = self._refusal(call)
        if refusal is not None:
            return refusal
        rule = self._fire(call.op, call.body)
        if rule is not None and rule.action in ("throttle", "fail"):
            return error_answer(rule.code, rule.message, rule.status)
        if rule is not None and rule.action == "cancel":
            return canceled_answer(rule.reasons)
        call.drop = rule is not None and rule.action == "drop"
        if call.op in WRITES:
            return self._write(call)
        if call.op in READS:
            return self._read(call, rule.fraction if rule and rule.action == "unprocess"
                              else None)
        return self._other(call)

    def _refusal(self, call: _Call) -> _Answer | None:
        """What DynamoDB (or an endpoint lacking a feature) refuses and moto accepts."""
        for feature, operations in FEATURE_OPERATIONS.items():
            if feature in self.lacking and call.op in operations:
                return error_answer("UnknownOperationException")
        if ("streams" in self.lacking and call.op == "UpdateTable"
                and "StreamSpecification" in call.body):
            return error_answer("ValidationException", "Stream specifications are not supported")
        if call.op in ("Query", "Scan") and call.body.get("ConsistentRead") is True:
            index = self._index(call)
            if index is not None and index.is_global:
                return error_answer("ValidationException",
                                    "Consistent reads are not supported on global secondary "
                                    "indexes")
        return None

    def _record(self, call: _Call, answer: _Answer) -> None:
        exchange = Exchange(call.op, call.body, answer.status, answer.error, answer.read,
                            answer.write, answer.stale, answer.drop)
        with self._lock:
            self.log.append(exchange)
            if self.log_limit is not None and len(self.log) > 2 * self.log_limit:
                del self.log[:-self.log_limit]
            for name, units in ((call.op, answer.read + answer.write), ("read", answer.read),
                                ("write", answer.write)):
                self.consumed[name] = self.consumed.get(name, 0.0) + units

    # upstream

    def _forward_raw(self, method: str, path: str, headers: list[tuple[str, str]],
                    body: bytes) -> _Answer:
        """Send a request upstream as it came and return upstream's answer."""
        if path.startswith("/moto-api/reset"):
            with self._lock:
                self._schemas.clear()
        sent = {k: v for k, v in headers if k.lower() not in HOP_BY_HOP}
        response = self._pool.urlopen(method, path, body=body or None, headers=sent,
                                      retries=False, redirect=False, preload_content=True)
        kept = [(k, v) for k, v in response.headers.items()
                if k.lower() not in NOT_COPIED_BACK]
        return _Answer(response.status, response.data, kept)

    def _forward(self, call: _Call) -> _Answer:
        raw = call.raw if call.send is call.body else json.dumps(call.send).encode()
        answer = self._forward_raw("POST", "/", call.headers, raw)
        if answer.status != 200:
            answer.error = error_code(answer.body)
        return answer

    def _call(self, op: str, payload: Json, auth: dict[str, str]) -> tuple[int, Json]:
        """A request of the proxy's own, signed like the client's (moto reads the region
        and account from the Authorization header)."""
        headers = [*auth.items(), ("Content-Type", "application/x-amz-json-1.0"),
                   ("X-Amz-Target", TARGET_PREFIX + op)]
        answer = self._forward_raw("POST", "/", headers, json.dumps(payload).encode())
        return answer.status, answer.json()

    def _schema(self, table: str, auth: dict[str, str]) -> Schema | None:
        with self._lock:
            known = self._schemas.get(table)
        if known is not None:
            return known
        status, described = self._call("DescribeTable", {"TableName": table}, auth)
        if status != 200:
            return None
        schema = schema_of(described["Table"])
        with self._lock:
            self._schemas[table] = schema
        return schema

    def _index(self, call: _Call) -> Index | None:
        name = call.body.get("IndexName")
        if not name:
            return None
        schema = self._schema(str(call.body.get("TableName")), call.auth)
        return schema.indexes.get(name) if schema is not None else None

    def _images(self, wanted: Iterable[tuple[str, Image]],
                auth: dict[str, str]) -> dict[ItemId, Image | None]:
        """The current items (None if absent), read strongly consistently upstream."""
        keys = {item_id(table, key): (table, key) for table, key in wanted}
        images: dict[ItemId, Image | None] = dict.fromkeys(keys)
        for chunk in chunks(list(keys.values()), BATCH_GET_LIMIT):
            request: Json = {}
            for table, key in chunk:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            while request:
                status, found = self._call("BatchGetItem", {"RequestItems": request}, auth)
                if status != 200:
                    break
                for table, items in found.get("Responses", {}).items():
                    schema = self._schema(table, auth)
                    for item in items:
                        key = pick(item, schema.keys) if schema else None
                        if key is not None:
                            images[item_id(table, key)] = item
                request = found.get("UnprocessedKeys") or {}
        return images

    # writes

    def _write(self, call: _Call) -> _Answer:
        touches = self._touches(call)
        token = call.body.get("ClientRequestToken") if call.op == TRANSACT else None
        if not token:
            return self._held(call, touches)
        early, claim = self._claim(str(token), call)
        if early is not None:
            return early
        answer: _Answer | None = None
        try:
            answer = self._held(call, touches)
            return answer
        finally:
            self._settle(str(token), claim, answer)

    def _touches(self, call: _Call) -> list[_Touch] | None:
        """The items a write touches, in request order; None if a table is unknown or the
        request is malformed (then it is forwarded as it is and moto answers)."""
        try:
            specs = list(_write_specs(call.op, call.body))
            touches = []
            for position, (action, table, spec, entry) in enumerate(specs):
                schema = self._schema(table, call.auth)
                if schema is None:
                    return None
                item = spec.get("Item") if action == "Put" else None
                key = pick(item if item is not None else spec["Key"], schema.keys)
                if key is None:
                    return None
                touches.append(_Touch(position, action, table, key, item_id(table, key), item,
                                      entry))
        except (KeyError, TypeError, AttributeError, ValueError):
            return None
        return touches

    def _held(self, call: _Call, touches: list[_Touch] | None) -> _Answer:
        """Hold the items for ``hold_ms`` (refusing what conflicts), then apply."""
        if self.hold_ms <= 0 or not touches:
            return self._apply(call, touches)
        with self._lock:
            request = next(self._ids)
        clash, held = self._hold(request, call.op == TRANSACT, touches)
        try:
            if clash and call.op == TRANSACT:
                return canceled_answer(["TransactionConflict" if t.position in clash else "None"
                                        for t in touches])
            if clash and call.op == "BatchWriteItem":
                call.leftover = _batch_write_items([t for t in touches if t.position in clash])
                touches = [t for t in touches if t.position not in clash]
                if not touches:
                    return json_answer({"UnprocessedItems": call.leftover})
                call.send = {**call.body, "RequestItems": _batch_write_items(touches)}
            elif clash:
                return error_answer("TransactionConflictException")
            time.sleep(self.hold_ms / 1000)
            return self._apply(call, touches)
        finally:
            self._release(request, held)

    def _hold(self, request: int, transactional: bool,
              touches: list[_Touch]) -> tuple[set[int], list[ItemId]]:
        """Positions in conflict, and the items this request now holds.

        A transaction conflicts with any write holding one of its items; a single write only
        with a transaction (DynamoDB serializes single writes on one item).
        """
        with self._lock:
            clash = {t.position for t in touches if any(
                transactional or other for other in self._in_flight.get(t.id, {}).values())}
            if transactional and clash:
                return clash, []
            held = [t.id for t in touches if t.position not in clash]
            for held_id in held:
                self._in_flight.setdefault(held_id, {})[request] = transactional
        return clash, held

    def _release(self, request: int, held: list[ItemId]) -> None:
        with self._lock:
            for held_id in held:
                holders = self._in_flight.get(held_id, {})
                holders.pop(request, None)
                if not holders:
                    self._in_flight.pop(held_id, None)

    def _apply(self, call: _Call, touches: list[_Touch] | None) -> _Answer:
        """Forward the write; while imaging, read the items before and after it."""
        if touches is None or not (self.capacity or self.stale_ms > 0):
            answer = self._forward(call)
            return self._written(call, answer, None)
        with self._write_lock:
            before = self._images(((t.table, t.key) for t in touches), call.auth)
            answer = self._forward(call)
            after = before
            if answer.status == 200:
                after = self._after(touches, before, call.auth)
                if self.stale_ms > 0:
                    self._remember(touches, before, after)
        bills = self._write_bills(call, touches, before, after, answer.error) \
            if self.capacity else None
        return self._written(call, answer, bills)

    def _after(self, touches: list[_Touch], before: dict[ItemId, Image | None],
               auth: dict[str, str]) -> dict[ItemId, Image | None]:
        """Images after a successful write: a Put's item, nothing after a Delete, read back
        after an Update."""
        after = dict(before)
        updated = [(t.table, t.key) for t in touches if t.action == "Update"]
        if updated:
            after.update(self._images(updated, auth))
        for t in touches:
            if t.action == "Put":
                after[t.id] = t.item
            elif t.action == "Delete":
                after[t.id] = None
        return after

    def _remember(self, touches: list[_Touch], before: dict[ItemId, Image | None],
                  after: dict[ItemId, Image | None]) -> None:
        now = self.clock()
        with self._lock:
            horizon = now - self.stale_ms / 1000
            while self._history and self._history[0].time < horizon:
                self._history.pop(0)
            self._history.extend(_Change(now, t.id, before[t.id], after[t.id])
                                 for t in touches if t.action != "ConditionCheck")

    def _write_bills(self, call: _Call, touches: list[_Touch],
                     before: dict[ItemId, Image | None], after: dict[ItemId, Image | None],
                     error: str | None) -> dict[str, Bill] | None:
        """Per table; a failed condition costs the stored item, other refusals nothing."""
        if error not in (None, "ConditionalCheckFailedException", "TransactionCanceledException"):
            return {}
        bills: dict[str, Bill] = {}
        for t in touches:
            schema = self._schema(t.table, call.auth)
            if schema is None:
                continue
            one = write_bill(schema, t.action, before[t.id], after[t.id],
                             transactional=call.op == TRANSACT, succeeded=error is None)
            bill = bills.setdefault(t.table, Bill())
            bill.table += one.table
            for name, units in one.global_indexes.items():
                bill.global_indexes[name] = bill.global_indexes.get(name, 0.0) + units
            for name, units in one.local_indexes.items():
                bill.local_indexes[name] = bill.local_indexes.get(name, 0.0) + units
        return bills

    def _written(self, call: _Call, answer: _Answer, bills: dict[str, Bill] | None) -> _Answer:
        if bills is not None:
            answer.write = sum(b.total for b in bills.values())
        if answer.status != 200:
            return answer
        with self._lock:
            self.applied[call.op] += 1
        if bills is None and call.leftover is None:
            return answer
        payload = answer.json()
        if bills is not None:
            _put_capacity(payload, call, bills, "Write")
        if call.leftover:
            unprocessed = payload.setdefault("UnprocessedItems", {})
            for table, entries in call.leftover.items():
                unprocessed.setdefault(table, []).extend(entries)
        return replace(json_answer(payload, answer), write=answer.write)

    # idempotency (TransactWriteItems with ClientRequestToken)

    def _claim(self, token: str, call: _Call) -> tuple[_Answer | None, _Token | None]:
        """Either an answer without executing (replay, mismatch, in progress), or the claim
        this attempt holds on the token while it runs."""
        fingerprint = json.dumps({"TransactItems": call.body.get("TransactItems"),
                                  "ReturnItemCollectionMetrics":
                                      call.body.get("ReturnItemCollectionMetrics")},
                                 sort_keys=True)
        with self._lock:
            known = self._tokens.get(token)
            done_at = known.done_at if known is not None else None
            if known is not None and done_at is None:
                return error_answer("TransactionInProgressException"), None
            if (known is not None and done_at is not None
                    and self.clock() - done_at <= self.idempotency_seconds):
                if known.fingerprint != fingerprint:
                    return error_answer("IdempotentParameterMismatchException"), None
                stored = dict(known.response or {})
            else:
                claim = self._tokens[token] = _Token(fingerprint)
                return None, claim
        return self._replay(call, stored), None

    def _settle(self, token: str, claim: _Token | None, answer: _Answer | None) -> None:
        """A success starts the token's window; a failure leaves the token unused."""
        if claim is None:
            return
        with self._lock:
            if self._tokens.get(token) is not claim:
                return  # reset meanwhile
            if answer is not None and answer.status == 200:
                claim.done_at, claim.response = self.clock(), answer.json()
            else:
                del self._tokens[token]

    def _replay(self, call: _Call, stored: Json) -> _Answer:
        """The first success's answer; DynamoDB charges a strongly consistent read per item."""
        stored.pop("ConsumedCapacity", None)
        answer = json_answer(stored)
        if not self.capacity:
            return answer
        touches = self._touches(call) or []
        images = self._images(((t.table, t.key) for t in touches), call.auth)
        bills: dict[str, Bill] = {}
        for t in touches:
            bills.setdefault(t.table, Bill()).table += read_units(item_size(images[t.id]))
        _put_capacity(stored, call, bills, "Read")
        answer = json_answer(stored)
        answer.read = sum(b.total for b in bills.values())
        return answer

    # reads

    def _read(self, call: _Call, unprocess: float | None) -> _Answer:
        instant: float | None = None
        answer: _Answer | None = None
        try:
            if unprocess is not None:
                call.send, call.leftover = _split_batch_get(call.body, unprocess)
            instant = self._stale_instant(call)
            if call.op == "Query" and instant is not None:
                answer = self._stale_query(call, instant)
            if answer is None and call.op == "BatchGetItem" and not call.send["RequestItems"]:
                answer = json_answer({"Responses": {t: [] for t in call.body["RequestItems"]}})
        except (KeyError, TypeError, AttributeError):
            # A malformed request: forwarded as it is, so that moto says what is wrong.
            call.send, call.leftover, instant, answer = call.body, None, None, None
        if answer is None:
            answer = self._forward(call)
        if answer.status != 200:
            return answer
        payload = answer.json()
        stale = answer.stale
        if instant is not None and call.op == "GetItem":
            stale = self._stale_get(call, payload, instant)
        elif instant is not None and call.op == "BatchGetItem":
            stale = self._stale_batch_get(call, payload, instant)
        bills = self._read_bills(call, payload) if self.capacity else None
        if bills is not None:
            _put_capacity(payload, call, bills, "Read")
        if call.leftover:
            payload.setdefault("UnprocessedKeys", {}).update(call.leftover)
        result = json_answer(payload, answer)
        result.stale = stale
        result.read = sum(b.total for b in bills.values()) if bills is not None else 0.0
        return result

    def _stale_instant(self, call: _Call) -> float | None:
        """For a read DynamoDB would answer eventually consistently, maybe (seeded) the
        instant it is answered as of: now minus a lag drawn from (0, stale_ms]."""
        if self.stale_ms <= 0 or not self._eventual(call):
            return None
        with self._lock:
            if self.stale_probability < 1.0 and self._rng.random() >= self.stale_probability:
                return None
            lag = self.stale_ms / 1000 * (1.0 - self._rng.random())
        return self.clock() - lag

    def _eventual(self, call: _Call) -> bool:
        body = call.send
        if call.op == "GetItem":
            return not body.get("ConsistentRead") and not _shaped(body)
        if call.op == "BatchGetItem":
            return any(_batch_table_eventual(spec) for spec in body["RequestItems"].values())
        if call.op == "Query":
            index = self._index(call)
            return (not _shaped(body)
                    and (not body.get("ConsistentRead") or bool(index and index.is_global)))
        return False

    def _as_of(self, instant: float) -> dict[ItemId, Image | None]:
        """Each item written after ``instant``, as it was before its first such write."""
        with self._lock:
            later = [c for c in self._history if c.time > instant]
        images: dict[ItemId, Image | None] = {}
        for change in later:
            images.setdefault(change.id, change.before)
        return images

    def _stale_get(self, call: _Call, payload: Json, instant: float) -> bool:
        schema = self._schema(call.body["TableName"], call.auth)
        key = pick(call.body["Key"], schema.keys) if schema else None
        older = self._as_of(instant)
        if key is None or item_id(call.body["TableName"], key) not in older:
            return False
        image = older[item_id(call.body["TableName"], key)]
        payload.pop("Item", None)
        if image is not None:
            payload["Item"] = image
        return True

    def _stale_batch_get(self, call: _Call, payload: Json, instant: float) -> bool:
        older = self._as_of(instant)
        stale = False
        responses = payload.setdefault("Responses", {})
        for table, spec in call.send["RequestItems"].items():
            schema = self._schema(table, call.auth)
            if schema is None or not _batch_table_eventual(spec):
                continue
            served = {item_id(table, pick(i, schema.keys) or {}): i
                      for i in responses.get(table, [])}
            for key in spec["Keys"]:
                wanted = item_id(table, pick(key, schema.keys) or {})
                if wanted in older:
                    stale = True
                    served.pop(wanted, None)
                    if older[wanted] is not None:
                        served[wanted] = older[wanted]
            responses[table] = list(served.values())
        return stale

    def _stale_query(self, call: _Call, instant: float) -> _Answer | None:
        """The Query's answer as of ``instant``; None when nothing written since can touch
        the queried partition (then the fresh answer is the same)."""
        table = call.body["TableName"]
        schema = self._schema(table, call.auth)
        if schema is None:
            return None
        index = self._index(call)
        keys = index.keys if index is not None else schema.keys
        try:
            condition = parse_key_condition(call.body["KeyConditionExpression"],
                                            call.body.get("ExpressionAttributeNames", {}),
                                            call.body.get("ExpressionAttributeValues", {}),
                                            keys)
        except (KeyError, ValueError):
            return None
        with self._lock:
            later = [c for c in self._history if c.time > instant and c.id[0] == table]
        if not any(condition.partition.holds(image) for c in later
                   for image in (c.before, c.after) if image is not None):
            return None
        items = self._current_partition(call, index is not None and index.is_global)
        if items is None:
            return None
        for change_id, image in self._as_of(instant).items():
            if change_id[0] == table:
                items.pop(change_id, None)
                if image is not None:
                    items[change_id] = image
        page = query_page(list(items.values()), condition, schema, index, call.body)
        answer = json_answer(page)
        answer.stale = True
        return answer

    def _current_partition(self, call: _Call, on_gsi: bool) -> dict[ItemId, Image] | None:
        """Every item the Query's key condition selects now, by item, following pages."""
        request: Json = {k: call.body[k] for k in ("TableName", "IndexName",
                                                     "KeyConditionExpression",
                                                     "ExpressionAttributeNames",
                                                     "ExpressionAttributeValues")
                         if k in call.body}
        if not on_gsi:
            request["ConsistentRead"] = True
        schema = self._schema(call.body["TableName"], call.auth)
        assert schema is not None
        items: dict[ItemId, Image] = {}
        while True:
            status, found = self._call("Query", request, call.auth)
            if status != 200:
                return None
            for item in found.get("Items", []):
                items[item_id(call.body["TableName"], pick(item, schema.keys) or {})] = item
            if "LastEvaluatedKey" not in found:
                return items
            request["ExclusiveStartKey"] = found["LastEvaluatedKey"]

    def _read_bills(self, call: _Call, payload: Json) -> dict[str, Bill]:
        """What the read costs, from the items it read."""
        if call.op == "GetItem":
            return self._get_bill(call, payload)
        if call.op == "BatchGetItem":
            return self._batch_get_bill(call, payload)
        if call.op in ("Query", "Scan"):
            return self._query_bill(call, payload)
        return self._transact_get_bill(call, payload)

    def _get_bill(self, call: _Call, payload: Json) -> dict[str, Bill]:
        table = call.body["TableName"]
        size = item_size(payload.get("Item"))
        if _shaped(call.body):  # a projection is charged the whole item
            size = item_size(self._images([(table, call.body["Key"])], call.auth).get(
                item_id(table, call.body["Key"])))
        factor = 1.0 if call.body.get("ConsistentRead") else 0.5
        return {table: Bill(table=factor * read_units(size))}

    def _batch_get_bill(self, call: _Call, payload: Json) -> dict[str, Bill]:
        """Each item rounded up to 4 KB on its own; a key without an item costs one unit."""
        bills: dict[str, Bill] = {}
        for table, spec in call.send["RequestItems"].items():
            schema = self._schema(table, call.auth)
            if schema is None:
                continue
            served = {item_id(table, pick(i, schema.keys) or {}): i
                      for i in payload.get("Responses", {}).get(table, [])}
            if _shaped(spec):
                served = {k: v for k, v in self._images(
                    ((table, key) for key in spec["Keys"]), call.auth).items() if v is not None}
            factor = 1.0 if spec.get("ConsistentRead") else 0.5
            units = sum(read_units(item_size(served.get(item_id(table, pick(k, schema.keys)
                                                                       or {}))))
                        for k in spec["Keys"])
            bills[table] = Bill(table=factor * units)
        return bills

    def _query_bill(self, call: _Call, payload: Json) -> dict[str, Bill]:
        """The sizes of the items read (before any filter), summed, then rounded once."""
        items = payload.get("Items", [])
        if _shaped(call.body):
            unshaped = {k: v for k, v in call.body.items() if k not in SHAPING
                        and k not in ("ExpressionAttributeNames", "ExpressionAttributeValues")}
            used = placeholders_used(call.body.get("KeyConditionExpression", ""))
            for attr in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
                kept = {k: v for k, v in call.body.get(attr, {}).items() if k in used}
                if kept:
                    unshaped[attr] = kept
            status, found = self._call(call.op, unshaped, call.auth)
            items = found.get("Items", []) if status == 200 else items
        index = self._index(call)
        consistent = call.body.get("ConsistentRead") is True and not (index and index.is_global)
        bill = Bill()
        bill.charge(index, (1.0 if consistent else 0.5)
                    * read_units(sum(item_size(i) for i in items)))
        return {call.body["TableName"]: bill}

    def _transact_get_bill(self, call: _Call, payload: Json) -> dict[str, Bill]:
        bills: dict[str, Bill] = {}
        answers = payload.get("Responses", [])
        for position, entry in enumerate(call.body.get("TransactItems", [])):
            table = entry["Get"]["TableName"]
            found = answers[position].get("Item") if position < len(answers) else None
            bills.setdefault(table, Bill()).table += 2.0 * read_units(item_size(found))
        return bills

    # everything else

    def _other(self, call: _Call) -> _Answer:
        """Table management passes through, minus streams when the endpoint lacks them."""
        if call.op in ("CreateTable", "DeleteTable", "UpdateTable"):
            with self._lock:
                self._schemas.pop(str(call.body.get("TableName")), None)
        streamless = "streams" in self.lacking
        if streamless and call.op == "CreateTable":
            call.send = {k: v for k, v in call.body.items() if k != "StreamSpecification"}
        answer = self._forward(call)
        if not (streamless and answer.status == 200
                and call.op in ("CreateTable", "DescribeTable")):
            return answer
        payload = answer.json()
        for described in (payload.get("Table"), payload.get("TableDescription")):
            for name in STREAM_FIELDS:
                if isinstance(described, dict):
                    described.pop(name, None)
        return json_answer(payload, answer)


def _names(ops: str | Iterable[str]) -> frozenset[str]:
    return frozenset([ops] if isinstance(ops, str) else ops)


def _shaped(spec: Json) -> bool:
    return any(k in spec for k in SHAPING)


def _batch_table_eventual(spec: Json) -> bool:
    return not spec.get("ConsistentRead") and not _shaped(spec)


def _write_specs(op: str, body: Json) -> Iterator[tuple[str, str, Json, Json]]:
    """(action, table, action parameters, the request's entry) per item written."""
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        yield op.removesuffix("Item"), body["TableName"], body, body
    elif op == TRANSACT:
        for entry in body["TransactItems"]:
            (action, spec), = entry.items()
            yield action, spec["TableName"], spec, entry
    else:
        for table, entries in body["RequestItems"].items():
            for entry in entries:
                if "PutRequest" in entry:
                    yield "Put", table, entry["PutRequest"], entry
                else:
                    yield "Delete", table, entry["DeleteRequest"], entry


def _batch_write_items(touches: list[_Touch]) -> Json:
    items: Json = {}
    for t in touches:
        items.setdefault(t.table, []).append(t.entry)
    return items


def _split_batch_get(body: Json, fraction: float) -> tuple[Json, Json]:
    """Keep the first ceil(n * (1 - fraction)) keys; the rest, shaped as asked, for
    UnprocessedKeys."""
    flat = [(table, key) for table, spec in body["RequestItems"].items() for key in spec["Keys"]]
    keep = max(0, math.ceil(len(flat) * (1 - fraction)))
    sent: Json = {}
    left: Json = {}
    for position, (table, key) in enumerate(flat):
        into = sent if position < keep else left
        spec = body["RequestItems"][table]
        shape = into.setdefault(table, {k: v for k, v in spec.items() if k != "Keys"})
        shape.setdefault("Keys", []).append(key)
    return {**body, "RequestItems": sent}, left


def _put_capacity(payload: Json, call: _Call, bills: dict[str, Bill], kind: str) -> None:
    """Replace moto's ConsumedCapacity by the computed one when the request asked for it."""
    mode = call.body.get("ReturnConsumedCapacity", "NONE")
    payload.pop("ConsumedCapacity", None)
    if mode not in ("TOTAL", "INDEXES"):
        return
    entries = [capacity_entry(table, bill, kind, mode) for table, bill in bills.items()]
    if call.op in ("BatchGetItem", "BatchWriteItem", TRANSACT, "TransactGetItems"):
        payload["ConsumedCapacity"] = entries
    elif entries:
        payload["ConsumedCapacity"] = entries[0]


def query_page(items: list[Image], condition: KeyCondition, schema: Schema,
               index: Index | None, body: Json) -> Json:
    """A Query answer over ``items`` as DynamoDB pages it: key condition, order,
    ExclusiveStartKey, Limit and LastEvaluatedKey."""
    keys = index.keys if index is not None else schema.keys

    def order(item: Image) -> tuple[Any, ...]:
        # On an index, items with one sort key are ordered by the table's key.
        names = keys[1:] + (schema.keys if index is not None else ())
        return tuple(sortable(item[n]) for n in names)

    forward = body.get("ScanIndexForward", True) is not False
    selected = sorted((i for i in items if condition.holds(i) and pick(i, keys) is not None),
                      key=order, reverse=not forward)
    start = body.get("ExclusiveStartKey")
    if start:
        after = order(start)
        selected = [i for i in selected if (order(i) > after if forward else order(i) < after)]
    limit = body.get("Limit")
    page: Json = {}
    if limit is not None and len(selected) >= limit:
        selected = selected[:limit]
        page["LastEvaluatedKey"] = pick(selected[-1], (*schema.keys, *keys)) if selected else None
    page.update(Items=selected, Count=len(selected), ScannedCount=len(selected))
    if page.get("LastEvaluatedKey") is None:
        page.pop("LastEvaluatedKey", None)
    return page


# --- HTTP --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: two processes opening their connection pools at
    # once overflowed it, and a connection the kernel then reset reached botocore as
    # ConnectionClosedError, an unknown outcome (werkzeug, behind us, listens with 128).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 proxy: DynamoProxy) -> None:
        self.proxy = proxy
        self.connections: dict[socket.socket, threading.Thread] = {}
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        """Wake handler threads waiting on idle keep-alive connections, and join them."""
        with self.connections_lock:
            open_now = dict(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in open_now.values():
            thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle's algorithm the second waits for
        # the client's delayed ACK, 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections[self.connection] = threading.current_thread()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.pop(self.connection, None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        target = self.headers.get("X-Amz-Target", "")
        proxy = self.server.proxy
        try:
            if self.command == "POST" and self.path == "/" and target.startswith(TARGET_PREFIX):
                answer = proxy._serve(target.removeprefix(TARGET_PREFIX), body, headers)
            else:
                answer = proxy._forward_raw(self.command, self.path, headers, body)
        except Exception as exc:  # a proxy bug must reach the test, not hang the client
            traceback.print_exc()
            answer = error_answer("InternalServerError", f"dynamo proxy failed: {exc!r}", 500)
        self._send(answer)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def _send(self, answer: _Answer) -> None:
        if answer.drop:
            # Linger 0: closing resets the connection, so the client gets no answer at all.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name.lower() not in NOT_COPIED_BACK:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request drowns test output


# --- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the proxy in front of an existing server until killed (for the benchmark)."""
    parser = argparse.ArgumentParser(prog="python -m tests.dynamo_proxy", description=main.__doc__)
    parser.add_argument("--upstream", required=True, help="the DynamoDB endpoint, e.g. moto's")
    parser.add_argument("--port-file", required=True, type=Path,
                        help="written atomically with the port once it is bound")
    parser.add_argument("--port", type=int, default=0, help="default: an ephemeral port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-capacity", action="store_true",
                        help="keep moto's capacity figures (saves two upstream reads a write)")
    args = parser.parse_args(argv)
    proxy = DynamoProxy(args.upstream, seed=args.seed)
    proxy.capacity = not args.no_capacity
    proxy.log_limit = 10_000
    proxy.start(args.port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    partial = args.port_file.with_name(args.port_file.name + ".partial")
    partial.write_text(str(urlsplit(proxy.url).port))
    os.replace(partial, args.port_file)
    try:
        stopped.wait()
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
