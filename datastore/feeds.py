"""Activity written by any process, read back by every process: the cross-process fan-out.

One process announces what it writes in memory (``Store.write_listeners``). With several
processes on one store, each reads every process's activity from the store itself instead:

- DynamoDB: the table's stream (``StreamFeed``), which ``create-table`` enables with
  NEW_AND_OLD_IMAGES. It follows every open shard from LATEST, picks up the shards that
  appear later (splits, the 4-hourly rollover) from TRIM_HORIZON once their parent is
  drained, and backs off when the stream is idle, throttled or unreachable.
- The embedded store: its ``activity_log`` table (``LogTail``), which every process on the
  file appends to in the transaction that writes the event, read in commit order.

A feed delivers the item of each new ACTIVITY event once: a shard read twice (an iterator
renewed after a failure) or a record in two shards gives one delivery.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import sqlite3
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from datastore.store import Item

log = logging.getLogger("devinsights.feed")

Deliver = Callable[[Item], None]
REMEMBERED = 10_000  # keys of delivered events kept to drop a second sighting
IDLE_MAX_SECONDS = 5.0  # the longest backoff after failures


class FeedUnavailable(Exception):
    """The store cannot be followed (no stream, no table): the message says what to do."""


class Recent:
    """The last ``size`` keys seen, to deliver each event once."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()

    def first_sighting(self, key: tuple[str, str]) -> bool:
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True


class Feed(abc.ABC):
    """New ACTIVITY items of every process, from the moment ``start`` returns."""

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self.calls: Counter[str] = Counter()  # store reads made to follow, by operation
        self.delivered = 0
        self._recent = Recent()

    @abc.abstractmethod
    async def start(self) -> None:
        """Take a position at the newest record: what is written after this is delivered."""

    @abc.abstractmethod
    async def run(self, deliver: Deliver) -> None:
        """Deliver new activity until cancelled."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    def _offer(self, item: Item, deliver: Deliver) -> None:
        if item.get("entityType") != "ACTIVITY":
            return
        if self._recent.first_sighting((str(item.get("PK")), str(item.get("SK")))):
            self.delivered += 1
            try:
                deliver(item)
            except Exception as exc:  # one bad item must not stop every later delivery
                log.error("an activity item could not be delivered: %s", type(exc).__name__)


# The embedded store


ACTIVITY_LOG_BATCH = 500


class LogTail(Feed):
    """Follows the embedded store's ``activity_log`` table in commit order.

    Writers on one SQLite file are serialized (BEGIN IMMEDIATE), so the AUTOINCREMENT
    sequence is the commit order and a reader that has seen row N has seen every row before
    it. Each poll costs one ``PRAGMA data_version`` (it changes only when another connection
    committed) and, only then, one indexed read of the rows after the last one seen.
    """

    def __init__(self, path: str, poll_seconds: float = 0.1) -> None:
        super().__init__(poll_seconds)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._last = 0
        self._version: int | None = None

    async def start(self) -> None:
        conn = self._conn = sqlite3.connect(self.path, isolation_level=None,
                                            check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout=5000")
        self._version = self._data_version()
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM activity_log").fetchone()
        self._last = int(row[0])
        self.calls["read_log"] += 1

    def _data_version(self) -> int:
        assert self._conn is not None
        self.calls["data_version"] += 1
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _read_after(self) -> list[tuple[int, bytes]]:
        assert self._conn is not None
        self.calls["read_log"] += 1
        rows = self._conn.execute(
            "SELECT seq, body FROM activity_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._last, ACTIVITY_LOG_BATCH)).fetchall()
        return [(int(seq), bytes(body)) for seq, body in rows]

    def poll(self, deliver: Deliver) -> int:
        """Deliver what was committed since the last poll; how many rows were read."""
        version = self._data_version()
        if version == self._version:
            return 0
        rows = self._read_after()
        if len(rows) < ACTIVITY_LOG_BATCH:
            self._version = version  # read to the end: nothing new until it changes
        for seq, body in rows:
            self._last = seq
            self._offer(orjson.loads(body), deliver)
        return len(rows)

    async def run(self, deliver: Deliver) -> None:
        failures = 0
        while True:
            try:
                # Local WAL reads take microseconds and never wait for writers.
                read = self.poll(deliver)
                failures = 0
            except Exception as exc:  # the next poll tries again; subscriptions go on
                failures += 1
                log.warning("cannot read the activity log: %s", type(exc).__name__)
                read = 0
            if read < ACTIVITY_LOG_BATCH:
                await asyncio.sleep(_backoff(self.poll_seconds, failures))

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _backoff(poll_seconds: float, failures: int) -> float:
    if not failures:
        return poll_seconds
    return float(min(IDLE_MAX_SECONDS, poll_seconds * 2 ** failures))


# DynamoDB


# What GetRecords may answer and what each means for the shard being read.
_THROTTLED = {"LimitExceededException", "ProvisionedThroughputExceededException",
              "ThrottlingException", "RequestLimitExceeded"}
DISCOVER_SECONDS = 60.0  # DescribeStream is limited to 10 calls a second per account


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    last_sequence: str | None = None


class StreamFeed(Feed):
    """Follows a DynamoDB table's stream: every open shard, then its children, in order.

    Each poll is one GetRecords per open shard (a table with little traffic has one or a
    few). A shard's GetRecords is limited to 5 calls a second across all readers and AWS
    advises at most two readers per shard, so the default poll is 1 s: five processes fit.
    """

    def __init__(self, *, table: str, region: str, endpoint_url: str | None,
                 credentials: dict[str, str | None] | None = None, poll_seconds: float = 1.0,
                 discover_seconds: float = DISCOVER_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(poll_seconds)
        import boto3  # the DynamoDB backend has loaded it already

        # One attempt per call: the poll loop is the retry, with its own backoff.
        config = Config(retries={"mode": "standard", "total_max_attempts": 1},
                        connect_timeout=2.0, read_timeout=10.0, max_pool_connections=2)
        session = boto3.session.Session()
        common: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint_url,
                                  "config": config, **(credentials or {})}
        self._dynamodb = session.client("dynamodb", **common)
        self._streams = session.client("dynamodbstreams", **common)
        self.table = table
        self.discover_seconds = discover_seconds
        self.clock = clock
        self.stream_arn: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream")
        self._known: set[str] = set()
        self._open: dict[str, _Shard] = {}
        self._discover_at = 0.0

    async def _call(self, client: Any, op: str, **params: Any) -> dict[str, Any]:
        self.calls[op] += 1
        method = getattr(client, op)
        loop = asyncio.get_running_loop()
        response: dict[str, Any] = await loop.run_in_executor(self._pool,
                                                              lambda: method(**params))
        return response

    async def start(self) -> None:
        try:
            table = (await self._call(self._dynamodb, "describe_table",
                                      TableName=self.table))["Table"]
        except (ClientError, BotoCoreError) as exc:
            raise FeedUnavailable(f"cannot read table {self.table} to follow its stream "
                                  f"({_code(exc)})") from None
        spec = table.get("StreamSpecification") or {}
        self.stream_arn = table.get("LatestStreamArn")
        if not spec.get("StreamEnabled") or not self.stream_arn:
            raise FeedUnavailable(
                f"table {self.table} has no stream, which subscriptions across processes "
                "read; run `devinsights create-table` (it enables the stream on an existing "
                "table), or set DEVINSIGHTS_EVENTS=process with a single process")
        try:
            shards = await self._describe()
            for shard in shards:
                self._known.add(shard["ShardId"])
                if "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {}):
                    await self._follow(shard["ShardId"], "LATEST")
        except (ClientError, BotoCoreError) as exc:
            raise FeedUnavailable(f"cannot follow the stream of table {self.table} "
                                  f"({_code(exc)})") from None
        self._discover_at = self.clock() + self.discover_seconds
        log.info("following the table's stream", extra={"fields": {
            "table": self.table, "shards": len(self._open)}})

    async def _describe(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        params: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = (await self._call(self._streams, "describe_stream",
                                            **params))["StreamDescription"]
            shards += description.get("Shards", [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            params["ExclusiveStartShardId"] = last

    async def _follow(self, shard_id: str, kind: str, after: str | None = None) -> None:
        params: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id,
                                  "ShardIteratorType": kind}
        if after is not None:
            params["SequenceNumber"] = after
        response = await self._call(self._streams, "get_shard_iterator", **params)
        shard = self._open.setdefault(shard_id, _Shard(shard_id, None))
        shard.iterator = response.get("ShardIterator")

    async def discover(self) -> None:
        """Start reading the shards that appeared since the last look, each once its
        parent is drained (records of one item stay in order across a split)."""
        self._discover_at = self.clock() + self.discover_seconds
        for shard in await self._describe():
            shard_id = shard["ShardId"]
            if shard_id in self._known or shard.get("ParentShardId") in self._open:
                continue
            self._known.add(shard_id)
            await self._follow(shard_id, "TRIM_HORIZON")

    async def poll(self, deliver: Deliver) -> bool:
        """One GetRecords per open shard; whether any answered a full page (read on now)."""
        if self.clock() >= self._discover_at:
            await self.discover()
        full = False
        for shard in list(self._open.values()):
            full |= await self._read(shard, deliver)
        return full

    async def _read(self, shard: _Shard, deliver: Deliver) -> bool:
        if shard.iterator is None:
            self._drained(shard)
            return False
        try:
            response = await self._call(self._streams, "get_records",
                                        ShardIterator=shard.iterator, Limit=1000)
        except ClientError as exc:
            code = _code(exc)
            if code == "ExpiredIteratorException":  # 15 min unused: continue where we were
                await self._follow(shard.shard_id, *(("AFTER_SEQUENCE_NUMBER",
                                                      shard.last_sequence)
                                                     if shard.last_sequence else ("LATEST",)))
                return True
            if code == "TrimmedDataAccessException":  # older than 24 h: the oldest there is
                await self._follow(shard.shard_id, "TRIM_HORIZON")
                return True
            if code == "ResourceNotFoundException":  # the shard or the stream is gone
                self._open.pop(shard.shard_id, None)
                self._discover_at = 0.0
                return False
            raise
        records = response.get("Records", [])
        for record in records:
            shard.last_sequence = record["dynamodb"].get("SequenceNumber")
            if record.get("eventName") == "INSERT" and "NewImage" in record["dynamodb"]:
                from datastore.dynamodb import deserialize

                self._offer(deserialize(record["dynamodb"]["NewImage"]), deliver)
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            self._drained(shard)
        return len(records) >= 1000

    def _drained(self, shard: _Shard) -> None:
        """A closed shard read to its end: its children may start."""
        self._open.pop(shard.shard_id, None)
        self._discover_at = 0.0

    async def run(self, deliver: Deliver) -> None:
        failures = 0
        while True:
            try:
                full = await self.poll(deliver)
                failures = 0
            except Exception as exc:  # the next poll tries again; subscriptions go on
                failures += 1
                full = False
                level = logging.INFO if _code(exc) in _THROTTLED else logging.WARNING
                log.log(level, "stream read failed, backing off: %s", _code(exc))
            if not full:
                await asyncio.sleep(_backoff(self.poll_seconds, failures))

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._streams.close()
        self._dynamodb.close()


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__
