"""The Store protocol that every backend implements, and the logic they all share.

Backends implement one method, ``_execute(op, request)``. Everything else (validation, TTL
filtering, batching in chunks of 100, retries with jittered backoff, paging with an exact
``has_next``) lives here once, so both backends behave the same by construction. Every store
call passes through ``_call``: it counts calls (failed ones too), records consumed capacity,
and is the one place tests inject faults.

Retries live here and only here: the DynamoDB client makes one HTTP request per attempt
(botocore's own retries are off), so every attempt is counted and can be faulted. A call is
retried when it was refused for capacity (throttling, a conflicting transaction), and when
the outcome is unknown (a lost response, a timeout) only if repeating it is safe: reads, and
transactions, which carry one idempotency token for all their attempts. ``RetryPolicy`` bounds
both the attempts and the time.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
import contextvars
import dataclasses
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import orjson

from datastore import keys
from datastore.errors import (
    InvalidRequest,
    ItemTooLarge,
    StoreError,
    StoreThrottled,
    StoreUnavailable,
    TransactionRejected,
)
from datastore.keys import Key

if TYPE_CHECKING:
    from datastore.feeds import Feed

log = logging.getLogger("devinsights.store")

Item = dict[str, Any]
IndexName = Literal["GSI1", "GSI2"]

MAX_ITEM_BYTES = 400 * 1024
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
TTL_ATTRIBUTE = "expiresAt"
# A filtered listing (``Query.where``) reads raw pages of at least this many items, growing
# by GROWTH each round, so a selective filter costs a few calls, never one per item.
FILTERED_PAGE = 100
GROWTH = 4
READ_OPS = frozenset({"get", "batch_get", "query", "count", "ping", "scan_organizations",
                      "snapshot"})
_INT64 = 2**63
_EXACT_FLOAT_INTS = 2**53


# Conditions and changes: a small typed language each backend translates natively.


@dataclass(frozen=True, slots=True)
class Ref:
    """Compare against another attribute of the same item instead of a value."""

    attr: str


CondOp = Literal["exists", "missing", "eq", "ne", "lt", "le", "gt", "ge", "in", "and", "or"]


@dataclass(frozen=True, slots=True)
class Cond:
    op: CondOp
    attr: str = ""
    value: Any = None
    parts: tuple[Cond, ...] = ()

    def __and__(self, other: Cond) -> Cond:
        return Cond("and", parts=(*self._flat("and"), *other._flat("and")))

    def __or__(self, other: Cond) -> Cond:
        return Cond("or", parts=(*self._flat("or"), *other._flat("or")))

    def _flat(self, op: CondOp) -> tuple[Cond, ...]:
        return self.parts if self.op == op else (self,)


def item_exists() -> Cond:
    return Cond("exists", "PK")


def item_missing() -> Cond:
    return Cond("missing", "PK")


def attr_eq(attr: str, value: Any) -> Cond:
    return Cond("eq", attr, value)


def attr_ne(attr: str, value: Any) -> Cond:
    return Cond("ne", attr, value)


def attr_lt(attr: str, value: Any) -> Cond:
    return Cond("lt", attr, value)


def attr_gt(attr: str, value: Any) -> Cond:
    return Cond("gt", attr, value)


def attr_in(attr: str, values: Sequence[Any]) -> Cond:
    if not values:
        raise InvalidRequest(f"{attr}: IN needs at least one value")
    return Cond("in", attr, tuple(values))


@dataclass(frozen=True, slots=True)
class Set:
    path: str
    value: Any


@dataclass(frozen=True, slots=True)
class Add:
    """Add a number to an attribute, treating a missing one as zero."""

    path: str
    amount: int


@dataclass(frozen=True, slots=True)
class Remove:
    path: str


Change = Set | Add | Remove


# Transaction actions


@dataclass(frozen=True, slots=True)
class Put:
    item: Item
    condition: Cond | None = None

    @property
    def key(self) -> Key:
        return Key(self.item["PK"], self.item["SK"])


@dataclass(frozen=True, slots=True)
class Update:
    key: Key
    changes: tuple[Change, ...]
    condition: Cond | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    key: Key
    condition: Cond | None = None


@dataclass(frozen=True, slots=True)
class Check:
    key: Key
    condition: Cond


Action = Put | Update | Delete | Check


# Queries


@dataclass(frozen=True, slots=True)
class Query:
    """One partition of the table or of a GSI, optionally narrowed by sort key."""

    partition: str
    index: IndexName | None = None
    prefix: str | None = None
    between: tuple[str, str] | None = None
    forward: bool = True
    limit: int | None = None
    cursor: str | None = None
    where: Mapping[str, Any] | None = None  # equality on non-key attributes
    consistent: bool = False  # strongly consistent (the table only: GSI reads never are)
    include_expired: bool = False  # also what TTL has not removed yet (deleting a partition)

    @property
    def key_names(self) -> tuple[str, str]:
        return keys.INDEX_KEYS[self.index] if self.index else keys.TABLE_KEYS


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Item]
    cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.cursor is not None


# Raw requests and results that pass through _call


@dataclass(frozen=True, slots=True)
class RawQuery:
    query: Query
    start_key: dict[str, str] | None
    limit: int | None


@dataclass(frozen=True, slots=True)
class RawPage:
    items: list[Item]
    last_key: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class RawCount:
    """Count what one query matches from ``start_key`` on: its ``where`` filter holds and it
    has not expired at ``now`` (epoch seconds), by the same rule as Store._alive."""

    query: Query
    start_key: dict[str, str] | None
    now: float


@dataclass(frozen=True, slots=True)
class RawCountPage:
    count: int
    last_key: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class RawBatchGet:
    keys: tuple[Key, ...]
    consistent: bool = False


@dataclass(frozen=True, slots=True)
class RawBatch:
    items: list[Item]
    unprocessed: list[Key]


@dataclass(frozen=True, slots=True)
class RawTransaction:
    """One transaction; every attempt of it sends the same token, so the store applies it
    at most once (DynamoDB's ClientRequestToken, honoured for 10 minutes)."""

    actions: tuple[Action, ...]
    token: str


@dataclass(frozen=True, slots=True)
class RawWrite:
    key: Key
    item: Item | None = None
    changes: tuple[Change, ...] = ()
    condition: Cond | None = None


# Observation of store calls


@dataclass(frozen=True, slots=True)
class Units:
    """Capacity a call consumed: DynamoDB read and write capacity units."""

    read: float = 0.0
    write: float = 0.0


NO_UNITS = Units()


@dataclass
class CallLog:
    """Store calls made while this log was current (per request, or per test), failed ones
    included; a log with a ``parent`` also adds everything it records to the parent."""

    calls: dict[str, int] = field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0
    failed: int = 0
    parent: CallLog | None = None

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def capacity(self) -> float:
        return self.read_units + self.write_units

    def record(self, op: str, units: Units = NO_UNITS, *, failed: bool = False) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        self.read_units += units.read
        self.write_units += units.write
        if failed:
            self.failed += 1
        if self.parent is not None:
            self.parent.record(op, units, failed=failed)

    def cost(self) -> dict[str, Any]:
        """What the calls cost, as the API reports it (``extensions.cost``, log lines)."""
        return {"storeCalls": self.total, "storeCallsByOperation": dict(self.calls),
                "failedStoreCalls": self.failed,
                "readCapacityUnits": round(self.read_units, 2),
                "writeCapacityUnits": round(self.write_units, 2)}


current_calls: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar(
    "current_calls", default=None
)

# A fault hook sees (op, request) before the backend runs it; it may raise a StoreError, or
# return a result to use instead of calling the backend, or None to let the call through.
FaultHook = Callable[[str, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` attempts per call, with full-jitter exponential backoff between
    them, and no new attempt once ``deadline`` seconds have passed since the first began.

    With the defaults a call the store keeps refusing gives up after 5 attempts and at most
    0.30 s of waiting (0.02 + 0.04 + 0.08 + 0.16 s caps, about half that on average).
    """

    attempts: int = 5
    base_delay: float = 0.02
    max_delay: float = 0.5
    deadline: float = 2.0

    def start(self, op: str, started: float | None = None) -> Attempts:
        return Attempts(self, op, time.monotonic() if started is None else started)


class Attempts:
    """The retry budget of one call (a batch get's unprocessed keys share it too)."""

    def __init__(self, policy: RetryPolicy, op: str, started: float) -> None:
        self.policy = policy
        self.op = op
        self.made = 0
        self.started = started

    async def wait(self, failure: StoreError) -> None:
        """Sleep before the next attempt, or raise when the budget is spent."""
        self.made += 1
        cap = min(self.policy.max_delay, self.policy.base_delay * 2 ** (self.made - 1))
        delay = random.uniform(0, cap)  # full jitter
        elapsed = time.monotonic() - self.started
        if self.made >= self.policy.attempts or elapsed + delay > self.policy.deadline:
            if isinstance(failure, StoreThrottled):
                raise StoreThrottled(
                    f"the store kept refusing {self.op} ({failure}); gave up after "
                    f"{self.made} attempts in {elapsed:.2f} s, try again shortly") from None
            raise failure
        await asyncio.sleep(delay)


def _retryable(op: str, failure: StoreError) -> bool:
    if isinstance(failure, StoreThrottled):
        return True  # refused before it ran: safe to repeat anything
    if isinstance(failure, StoreUnavailable) and failure.transient:
        # A lost answer or a timeout: repeat what is safe to repeat.
        return op in READ_OPS or op == "transact" or not failure.sent
    return False


class Store(abc.ABC):
    """The narrow storage interface the resolvers use; see the module docstring."""

    name: str = "store"

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 retry: RetryPolicy = RetryPolicy()) -> None:
        self.clock = clock
        self.retry = retry
        self.totals = CallLog()
        self.fault_hook: FaultHook | None = None
        # Called with every item a successful put or transaction wrote: an in-process
        # stand-in for DynamoDB Streams (used to fan activity out to subscribers).
        self.write_listeners: list[Callable[[Item], None]] = []
        # Told of every attempt (operation, units, failed): the server's metrics.
        self.call_observer: Callable[[str, Units, bool], None] | None = None

    # The one function every store call passes through.

    async def _call(self, op: str, request: Any, attempts: Attempts | None = None) -> Any:
        started = time.monotonic()
        while True:
            try:
                return await self._attempt(op, request)
            except StoreError as failure:
                if not _retryable(op, failure):
                    raise
                if attempts is None:  # most calls never fail: no budget until one does
                    attempts = self.retry.start(op, started)
                await attempts.wait(failure)

    async def _attempt(self, op: str, request: Any) -> Any:
        """One attempt: counted, with what it cost, whether it succeeds or fails."""
        units, failed = NO_UNITS, True
        try:
            if self.fault_hook is not None:
                injected = await self.fault_hook(op, request)
                if injected is not None:
                    failed = False
                    return injected
            result, units = await self._execute(op, request)
            failed = False
            return result
        except StoreError as failure:
            units = Units(failure.read_units, failure.write_units)
            raise
        finally:
            self.totals.record(op, units, failed=failed)
            if self.call_observer is not None:
                self.call_observer(op, units, failed)
            request_log = current_calls.get()
            if request_log is not None:
                request_log.record(op, units, failed=failed)

    @abc.abstractmethod
    async def _execute(self, op: str, request: Any) -> tuple[Any, Units]:
        """Run one raw operation; return its result and the capacity units it consumed."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def ping(self) -> None:
        await self._call("ping", None)

    def activity_feed(self, poll_seconds: float | None = None) -> Feed:
        """What every process on this store writes as activity (datastore/feeds.py);
        ``poll_seconds`` None means the backend's default."""
        raise NotImplementedError(f"the {self.name} store has no cross-process feed")

    # Reads

    async def get(self, key: Key, *, consistent: bool = False,
                  include_expired: bool = False) -> Item | None:
        """One item, or None. Expired items read as absent unless ``include_expired``."""
        item: Item | None = await self._call("get", (key, consistent))
        if item is None or not (include_expired or self._alive(item)):
            return None
        return item

    async def batch_get(self, wanted: Sequence[Key], *, consistent: bool = False,
                        include_expired: bool = False) -> dict[Key, Item]:
        """Get many items by key; absent items, and expired ones unless ``include_expired``,
        are simply missing from the result.

        Throttling and unprocessed keys share one retry budget per chunk of 100 keys.
        """
        unique = list(dict.fromkeys(wanted))
        chunks = [unique[i:i + BATCH_GET_LIMIT] for i in range(0, len(unique), BATCH_GET_LIMIT)]
        if len(chunks) == 1:  # the usual case: no task to schedule
            return await self._batch_chunk(chunks[0], consistent, include_expired)
        found: dict[Key, Item] = {}
        for part in await asyncio.gather(*(self._batch_chunk(c, consistent, include_expired)
                                           for c in chunks)):
            found.update(part)
        return found

    async def _batch_chunk(self, pending: list[Key], consistent: bool, include_expired: bool
                           ) -> dict[Key, Item]:
        found: dict[Key, Item] = {}
        attempts = self.retry.start("batch_get")
        while pending:
            batch: RawBatch = await self._call(
                "batch_get", RawBatchGet(tuple(pending), consistent), attempts)
            for item in batch.items:
                if include_expired or self._alive(item):
                    found[Key(item["PK"], item["SK"])] = item
            pending = batch.unprocessed
            if pending:
                await attempts.wait(StoreThrottled(f"{len(pending)} keys were left unprocessed"))
        return found

    async def query(self, q: Query) -> Page:
        """One page of ``q``: ``q.limit`` items and an exact ``has_next``.

        A page with a ``where`` filter reads raw pages of at least FILTERED_PAGE items,
        growing GROWTH times each round (DynamoDB applies Limit before any filter), so even
        a filter that matches one item in a thousand takes at most three calls.
        """
        _check_query(q)
        start = decode_cursor(q) if q.cursor else None
        want = None if q.limit is None else q.limit + 1  # one more tells us if a page follows
        visible = await self._read_until(q, start, want)
        if q.limit is not None and len(visible) > q.limit:
            visible = visible[:q.limit]
            return Page(visible, encode_cursor(q, visible[-1]))
        return Page(visible, None)

    async def first(self, q: Query) -> Item | None:
        """The first live item of ``q``, reading no item past it (no look-ahead)."""
        _check_query(q)
        found = await self._read_until(dataclasses.replace(q, cursor=None), None, 1)
        return found[0] if found else None

    async def _read_until(self, q: Query, start: dict[str, str] | None, want: int | None
                          ) -> list[Item]:
        visible: list[Item] = []
        sparse = 0  # raw pages that held items we had to drop (expired, filtered out)
        alive = _always if q.include_expired else self._alive
        while True:
            raw_limit = None if want is None else _raw_limit(q, want - len(visible), sparse)
            raw: RawPage = await self._call("query", RawQuery(q, start, raw_limit))
            kept = [i for i in raw.items if alive(i) and _matches(i, q.where)]
            sparse += len(kept) < len(raw.items)
            visible.extend(kept)
            start = raw.last_key
            if start is None or (want is not None and len(visible) >= want):
                return visible

    async def count(self, q: Query) -> int:
        """How many live items ``q`` matches, its ``where`` filter included (its limit and
        cursor are ignored): a DynamoDB Query with Select=COUNT, one call per 1 MB read and
        charged like reading the items; one SQL COUNT on the embedded store.

        ``where`` values must be strings, numbers or booleans, compared by type as DynamoDB
        does.
        """
        _check_query(q)
        for attr, value in (q.where or {}).items():
            if value is None or not isinstance(value, str | int | float):
                raise InvalidRequest(f"{attr}: count filters on strings, numbers or booleans")
        whole = dataclasses.replace(q, limit=None, cursor=None)
        total, start = 0, None
        while True:
            page: RawCountPage = await self._call("count", RawCount(whole, start, self.clock()))
            total += page.count
            start = page.last_key
            if start is None:
                return total

    async def partition_snapshot(self, partition: str) -> list[Item] | None:
        """Every live item of ``partition`` as of one moment, in sort-key order, or None
        where the backend cannot read a partition at one moment (DynamoDB pages a Query,
        each page at its own moment)."""
        return None

    async def organization_ids(self) -> list[str]:
        """Every organization's id, for operators' jobs (the analytics refresh), never for a
        request: on DynamoDB a Scan of the whole table, paid per item read."""
        found: list[str] = []
        start: dict[str, str] | None = None
        while True:
            page: RawPage = await self._call("scan_organizations", start)
            found += [str(i["PK"]).removeprefix(keys.ORG) for i in page.items]
            start = page.last_key
            if start is None:
                return sorted(found)

    async def query_all(self, q: Query) -> list[Item]:
        return (await self.query(dataclasses.replace(q, limit=None, cursor=None))).items

    # Writes

    async def put(self, item: Item, *, condition: Cond | None = None) -> None:
        checked = check_item(item)
        await self._call("put", RawWrite(Key(checked["PK"], checked["SK"]), checked,
                                         condition=condition))
        self._notify([checked])

    async def update(self, key: Key, changes: Sequence[Change], *,
                     condition: Cond | None = None) -> Item:
        """Apply changes atomically and return the item as it is afterwards."""
        clean = _clean_changes(changes)
        item: Item = await self._call("update", RawWrite(key, changes=clean, condition=condition))
        return item

    async def delete(self, key: Key, *, condition: Cond | None = None) -> None:
        await self._call("delete", RawWrite(key, condition=condition))

    async def transact(self, actions: Sequence[Action]) -> None:
        """All actions or none, at most once. On failure, TransactionCanceled says which
        action's condition did not hold."""
        if not actions or len(actions) > TRANSACTION_LIMIT:
            raise InvalidRequest(f"a transaction takes 1 to {TRANSACTION_LIMIT} actions, "
                                 f"got {len(actions)}")
        seen: set[Key] = set()
        clean: list[Action] = []
        for action in actions:
            if isinstance(action, Put):
                action = Put(check_item(action.item), action.condition)
            elif isinstance(action, Update):
                action = Update(action.key, _clean_changes(action.changes), action.condition)
            if action.key in seen:
                raise InvalidRequest(f"a transaction may touch an item once: {action.key}")
            seen.add(action.key)
            clean.append(action)
        try:
            await self._call("transact", RawTransaction(tuple(clean), uuid.uuid4().hex))
        except TransactionRejected as exc:
            # Our bug, not the caller's: say which actions were refused and why (kinds and
            # entity prefixes only: keys hold emails and ids).
            log.error("transaction rejected", extra={"fields": {
                "reasons": exc.reasons,
                "actions": [f"{type(a).__name__} {a.key.sk.partition('#')[0]}"
                            for a in clean]}})
            raise
        self._notify([a.item for a in clean if isinstance(a, Put)])

    # Shared helpers

    def _notify(self, written: list[Item]) -> None:
        for listener in self.write_listeners:
            for item in written:
                listener(item)

    def now_seconds(self) -> int:
        return int(self.clock())

    def _alive(self, item: Item) -> bool:
        expires = item.get(TTL_ATTRIBUTE)
        # Like DynamoDB's TTL, an expiresAt that is not a number never expires the item.
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            return True
        return expires > self.clock()


def _always(_item: Item) -> bool:
    return True


def _check_query(q: Query) -> None:
    # DynamoDB rejects these; checked here so the embedded backend rejects them too.
    if q.limit is not None and q.limit < 1:
        raise InvalidRequest("limit must be at least 1")
    if not q.partition:
        raise InvalidRequest("a query needs a non-empty partition")
    if q.prefix is not None and q.between is not None:
        raise InvalidRequest("a query takes prefix or between, not both")
    if q.consistent and q.index is not None:
        raise InvalidRequest("a GSI cannot be read strongly consistently")
    if q.prefix == "":
        raise InvalidRequest("prefix must be non-empty; leave it out to read the partition")
    if q.between is not None and not "" < q.between[0] <= q.between[1]:
        raise InvalidRequest("between needs non-empty bounds with low <= high")


def _raw_limit(q: Query, missing: int, sparse: int) -> int:
    """How many raw items to ask for: exactly what is missing while every item read was
    kept (a short page then only means DynamoDB's 1 MB cap); once items had to be dropped,
    and from the start under a filter, a page that grows with each sparse round."""
    if q.where is None:
        if sparse == 0:
            return missing
        sparse -= 1
    growth: int = GROWTH ** sparse
    return max(missing, FILTERED_PAGE) * growth


def _matches(item: Item, where: Mapping[str, Any] | None) -> bool:
    return where is None or all(item.get(k) == v for k, v in where.items())


# Values


def normalize(value: Any) -> Any:
    """Plain Python values for callers: Decimal becomes int or float (8.5 stays 8.5)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT_INTS:
        # DynamoDB has one number type and returns 3.0 as 3; every backend does the same.
        return int(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def _clean_value(value: Any, path: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"{path}: numbers must be finite")
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        # The embedded backend stores JSON through orjson, which is limited to 64-bit ints.
        raise InvalidRequest(f"{path}: integers must fit in 64 bits")
    if isinstance(value, dict):
        return {str(k): _clean_value(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_value(v, f"{path}[]") for v in value]
    if value is None or isinstance(value, str | bool | int | float | Decimal):
        return value
    raise InvalidRequest(f"{path}: cannot store a {type(value).__name__}")


def _clean_change(change: Change) -> Change:
    return Set(change.path, _clean_value(change.value, change.path)) if isinstance(
        change, Set) else change


def _clean_changes(changes: Sequence[Change]) -> tuple[Change, ...]:
    """Validate an update the way DynamoDB would, so every backend refuses the same ones."""
    if not changes:
        raise InvalidRequest("an update needs at least one change")
    paths: list[tuple[str, ...]] = []
    for change in changes:
        parts = tuple(change.path.split("."))
        if any(p == parts[:len(p)] or parts == p[:len(parts)] for p in paths):
            raise InvalidRequest(f"{change.path}: an update may touch each path once")
        paths.append(parts)
        root = parts[0]
        if root in keys.TABLE_KEYS:
            raise InvalidRequest(f"{root} is part of the item's key and cannot be updated")
        if root in keys.ALL_KEY_ATTRIBUTES:
            if not isinstance(change, Set):
                raise InvalidRequest(f"key attribute {change.path} can only be set")
            if not isinstance(change.value, str) or not change.value:
                raise InvalidRequest(f"{root} must be a non-empty string")
    return tuple(_clean_change(c) for c in changes)


def check_item(item: Item) -> Item:
    for name in keys.TABLE_KEYS:
        if not isinstance(item.get(name), str) or not item[name]:
            raise InvalidRequest(f"item needs a non-empty string {name}")
    for name in keys.ALL_KEY_ATTRIBUTES:
        if name in item and (not isinstance(item[name], str) or not item[name]):
            raise InvalidRequest(f"{name} must be a non-empty string when present")
    clean: Item = {k: _clean_value(v, k) for k, v in item.items()}
    size = item_size(clean)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"item {clean['PK']} / {clean['SK']} is {size} bytes; DynamoDB items are limited "
            f"to {MAX_ITEM_BYTES} bytes. Store less per item."
        )
    return clean


def item_size(value: Any) -> int:
    """DynamoDB's item size rule: names plus values, nested maps and lists included."""
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + item_size(v) + 1 for k, v in value.items())
    if isinstance(value, list):
        return 3 + sum(item_size(v) + 1 for v in value)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return 1 + (len(str(value)) + 1) // 2
    return len(str(value))


# Conditions and changes evaluated in Python (for backends without an expression language)


def _lookup(item: Item | None, path: str) -> tuple[bool, Any]:
    node: Any = item
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def evaluate(cond: Cond, item: Item | None) -> bool:
    if cond.op == "and":
        return all(evaluate(p, item) for p in cond.parts)
    if cond.op == "or":
        return any(evaluate(p, item) for p in cond.parts)
    present, value = _lookup(item, cond.attr)
    if cond.op == "exists":
        return present
    if cond.op == "missing":
        return not present
    if not present:
        return False
    if cond.op == "in":
        return any(evaluate(Cond("eq", cond.attr, v), item) for v in cond.value)
    other = cond.value
    if isinstance(other, Ref):
        found, other = _lookup(item, other.attr)
        if not found:
            return False
    if isinstance(value, bool) != isinstance(other, bool):
        # DynamoDB compares typed values: a boolean never equals the number 1.
        return cond.op == "ne"
    try:
        match cond.op:
            case "eq":
                return bool(value == other)
            case "ne":
                return bool(value != other)
            case "lt":
                return bool(value < other)
            case "le":
                return bool(value <= other)
            case "gt":
                return bool(value > other)
            case "ge":
                return bool(value >= other)
    except TypeError:
        return False
    return False


def apply_changes(item: Item, changes: Sequence[Change]) -> Item:
    for change in changes:
        *parents, leaf = change.path.split(".")
        node = item
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                raise InvalidRequest(f"{change.path}: {part} is not a map")
            node = child
        if isinstance(change, Set):
            node[leaf] = normalize(change.value)
        elif isinstance(change, Add):
            current = node.get(leaf, 0)
            if not isinstance(current, int | float):
                raise InvalidRequest(f"{change.path} is not a number")
            node[leaf] = current + change.amount
        else:
            node.pop(leaf, None)
    return item


# Continuation cursors: opaque to callers, validated before any backend sees them.


def key_of(item: Item, q: Query) -> dict[str, str]:
    names = set(keys.TABLE_KEYS) | set(q.key_names)
    return {n: item[n] for n in sorted(names)}


def encode_cursor(q: Query, item: Item) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key_of(item, q))).decode().rstrip("=")


def decode_cursor(q: Query) -> dict[str, str]:
    assert q.cursor is not None
    try:
        raw = base64.urlsafe_b64decode(q.cursor + "=" * (-len(q.cursor) % 4))
        start = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidRequest("the continuation cursor is not valid; start from the first page"
                             ) from None
    pk_name, sk_name = q.key_names
    expected = set(keys.TABLE_KEYS) | {pk_name, sk_name}
    if (not isinstance(start, dict) or set(start) != expected
            or not all(isinstance(v, str) for v in start.values())
            or start[pk_name] != q.partition
            or (q.prefix is not None and not start[sk_name].startswith(q.prefix))):
        # DynamoDB rejects a start key outside the queried partition; so do we, everywhere.
        raise InvalidRequest("the continuation cursor belongs to another query; "
                             "start from the first page")
    return start
