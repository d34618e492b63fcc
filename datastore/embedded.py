"""The embedded default backend: one SQLite file, no cloud account needed.

It implements the Store protocol natively with SQL transactions; it does not emulate
DynamoDB. Reads run on the event loop thread (local WAL reads never wait on writers and take
microseconds); writes run on one writer thread inside ``BEGIN IMMEDIATE`` transactions, which
also serialize writers from other processes sharing the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from datastore import keys
from datastore.errors import (
    ConditionFailed,
    InvalidRequest,
    StoreThrottled,
    StoreUnavailable,
    TransactionCanceled,
)
from datastore.feeds import Feed, LogTail
from datastore.keys import Key
from datastore.store import (
    NO_UNITS,
    TTL_ATTRIBUTE,
    Check,
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
    Store,
    Units,
    Update,
    apply_changes,
    check_item,
    evaluate,
    normalize,
)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    expires_at INTEGER,
    body BLOB NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS ttl ON items (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS activity_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL
);
"""

COLUMNS = {"PK": "pk", "SK": "sk", "GSI1PK": "gsi1pk", "GSI1SK": "gsi1sk",
           "GSI2PK": "gsi2pk", "GSI2SK": "gsi2sk"}
# Highest code point: appended to a prefix it bounds every string that starts with it.
_PREFIX_END = "\U0010ffff"
DEFAULT_PAGE = 1000
PURGE_EVERY_SECONDS = 3600
# Like DynamoDB's ClientRequestToken: a transaction token seen committed in this window makes
# a repeat of that transaction a no-op success.
TOKEN_SECONDS = 600
# Rows of activity_log kept (pruned with the expired items): the other processes read it
# within a poll (datastore/feeds.py), so an hour of a busy server's events is plenty.
ACTIVITY_LOG_ROWS = 10_000


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"),
                                                           ".local", "share")
    return Path(base) / "devinsights" / "devinsights.sqlite3"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class NotAStore(ValueError):
    """A file that is not an embedded store (or does not exist): the message says which."""


@dataclasses.dataclass(frozen=True, slots=True)
class Backup:
    items: int
    bytes: int


def backup(source: str | Path, target: str | Path) -> Backup:
    """Copy the store's file to ``target`` with SQLite's online backup API.

    The copy is one step, inside one read transaction of the source: a snapshot of one
    moment, whatever other processes commit meanwhile (in WAL mode they are not blocked).
    It is written beside ``target``, checked (``PRAGMA integrity_check``), synced and then
    renamed over it, so ``target`` is never a partial copy.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise NotAStore(f"{source} does not exist")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    # mode=rw never creates the file; as_uri() escapes what a URI would misread (?, #, %).
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=rw", uri=True, timeout=5.0)
    try:
        try:
            src.execute("SELECT 1 FROM items LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            raise NotAStore(f"{source} is not a DevInsights embedded store") from None
        # Only its owner may read it, like an export: it holds people's emails.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            checked = dst.execute("PRAGMA integrity_check").fetchone()
            if checked != ("ok",):
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {checked}")
            items = int(dst.execute("SELECT COUNT(*) FROM items").fetchone()[0])
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        finally:
            dst.close()
        with open(partial, "rb") as copy_file:
            os.fsync(copy_file.fileno())
        os.replace(partial, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
    finally:
        src.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return Backup(items, target.stat().st_size)


def _create_schema(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT the surrounding BEGIN IMMEDIATE, so run statements singly.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _row(item: Item) -> tuple[Any, ...]:
    expires = item.get(TTL_ATTRIBUTE)
    return (item["PK"], item["SK"], item.get("GSI1PK"), item.get("GSI1SK"), item.get("GSI2PK"),
            item.get("GSI2SK"), int(expires) if isinstance(expires, int | float) else None,
            orjson.dumps(item))


def _load(body: bytes) -> Item:
    item: Item = orjson.loads(body)
    return item


class EmbeddedStore(Store):
    name = "embedded"

    def __init__(self, path: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = str(path or default_path())
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if self.path == ":memory:":
            # The reader and writer connections must share one database, which two
            # ":memory:" connections never do; a throwaway file gives the same semantics.
            self._scratch = tempfile.TemporaryDirectory(prefix="devinsights-")
            self.path = os.path.join(self._scratch.name, "memory.sqlite3")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn: sqlite3.Connection | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer",
                                          initializer=self._open_writer)
        self._reader = _connect(self.path)
        self._reader_lock = threading.Lock()
        self._next_purge = 0.0
        self._tokens: dict[str, float] = {}  # token -> when it committed, oldest first
        self._write_sync(_create_schema)

    def _open_writer(self) -> None:
        self._writer_conn = _connect(self.path)

    async def close(self) -> None:
        self._writer.submit(self._close_writer).result()
        self._writer.shutdown(wait=True)
        self._reader.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def _close_writer(self) -> None:
        if self._writer_conn is not None:
            self._writer_conn.close()

    # Execution

    async def _execute(self, op: str, request: Any) -> tuple[Any, Units]:
        try:
            if op == "get":
                key, _consistent = request
                return self._read_one(key), NO_UNITS
            if op == "batch_get":
                return self._read_many(request), NO_UNITS
            if op == "query":
                return self._read_page(request), NO_UNITS
            if op == "count":
                return self._count(request), NO_UNITS
            if op == "scan_organizations":
                rows = self._read(lambda c: c.execute(
                    "SELECT pk FROM items WHERE pk = sk AND pk >= ? AND pk < ?",
                    (keys.ORG, keys.ORG + _PREFIX_END)).fetchall())
                return RawPage([{"PK": r[0]} for r in rows], None), NO_UNITS
            if op == "ping":
                self._read(lambda c: c.execute("SELECT 1").fetchone())
                return None, NO_UNITS
            if op == "snapshot":  # one statement: one snapshot of the file (WAL)
                rows = self._read(lambda c: c.execute(
                    "SELECT body FROM items WHERE pk = ? ORDER BY sk", (request,)).fetchall())
                return [_load(r[0]) for r in rows], NO_UNITS
            runner = self._writers[op]
        except sqlite3.OperationalError as exc:
            raise _translate(exc) from None
        if op == "transact" and self._already_committed(request):
            return None, NO_UNITS
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._writer, self._in_transaction, runner, self,
                                            request)
        if op == "transact":
            self._tokens[request.token] = self.clock()
        return result, NO_UNITS

    def _already_committed(self, request: RawTransaction) -> bool:
        """Whether this transaction's token committed in the last TOKEN_SECONDS. Tokens are
        made per transaction by Store.transact, so a token never comes with other actions."""
        horizon = self.clock() - TOKEN_SECONDS
        while self._tokens:  # oldest first: forget the expired ones
            token, at = next(iter(self._tokens.items()))
            if at > horizon:
                break
            del self._tokens[token]
        return request.token in self._tokens

    async def partition_snapshot(self, partition: str) -> list[Item] | None:
        items: list[Item] = await self._call("snapshot", partition)
        return [i for i in items if self._alive(i)]

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._reader_lock:
            return fn(self._reader)

    def _read_one(self, key: Key) -> Item | None:
        row = self._read(lambda c: c.execute(
            "SELECT body FROM items WHERE pk = ? AND sk = ?", (key.pk, key.sk)).fetchone())
        return _load(row[0]) if row else None

    def _read_many(self, request: RawBatchGet) -> RawBatch:
        wanted = request.keys  # every read here is consistent: one file, one writer
        pairs = [v for k in wanted for v in (k.pk, k.sk)]
        holes = ",".join("(?, ?)" for _ in wanted)
        # A join from the wanted keys uses the primary key; `(pk, sk) IN (VALUES ...)` made
        # SQLite 3.40 scan the whole table (0.75 ms vs 0.08 ms for 100 keys at 3,000 rows).
        rows = self._read(lambda c: c.execute(
            f"WITH wanted(pk, sk) AS (VALUES {holes}) "  # noqa: S608
            "SELECT items.body FROM wanted CROSS JOIN items "
            "ON items.pk = wanted.pk AND items.sk = wanted.sk", pairs).fetchall())
        return RawBatch([_load(r[0]) for r in rows], [])

    @staticmethod
    def _key_clauses(q: Query) -> tuple[list[str], list[Any]]:
        pk_name, sk_name = q.key_names
        pcol, scol = COLUMNS[pk_name], COLUMNS[sk_name]
        where = [f"{pcol} = ?"]
        args: list[Any] = [q.partition]
        if q.prefix is not None:
            where.append(f"{scol} >= ? AND {scol} < ?")
            args += [q.prefix, q.prefix + _PREFIX_END]
        if q.between is not None:
            where.append(f"{scol} BETWEEN ? AND ?")
            args += list(q.between)
        return where, args

    def _count(self, raw: RawCount) -> RawCountPage:
        where, args = self._key_clauses(raw.query)
        where.append("(expires_at IS NULL OR expires_at > ?)")
        args.append(raw.now)
        for attr, value in (raw.query.where or {}).items():
            clause, extra = _json_equals(attr, value)
            where.append(clause)
            args += extra
        sql = f"SELECT COUNT(*) FROM items WHERE {' AND '.join(where)}"  # noqa: S608
        row = self._read(lambda c: c.execute(sql, args).fetchone())
        return RawCountPage(int(row[0]), None)

    def _read_page(self, raw: RawQuery) -> RawPage:
        q = raw.query
        pk_name, sk_name = q.key_names
        scol = COLUMNS[sk_name]
        order = [scol] if q.index is None else [scol, "pk", "sk"]
        where, args = self._key_clauses(q)
        if raw.start_key is not None:
            cmp = ">" if q.forward else "<"
            names = [sk_name] if q.index is None else [sk_name, "PK", "SK"]
            where.append(f"({', '.join(order)}) {cmp} ({', '.join('?' for _ in names)})")
            args += [raw.start_key[n] for n in names]
        direction = "ASC" if q.forward else "DESC"
        limit = raw.limit or DEFAULT_PAGE
        sql = (f"SELECT body FROM items WHERE {' AND '.join(where)} "  # noqa: S608
               f"ORDER BY {', '.join(f'{c} {direction}' for c in order)} LIMIT ?")
        rows = self._read(lambda c: c.execute(sql, [*args, limit]).fetchall())
        items = [_load(r[0]) for r in rows]
        last = None
        if len(items) == limit:
            # Like DynamoDB: a full page always carries a continuation, even at the very end.
            key_names = {"PK", "SK", pk_name, sk_name}
            last = {n: items[-1][n] for n in sorted(key_names)}
        return RawPage(items, last)

    # Writes: each runs inside one BEGIN IMMEDIATE transaction on the writer thread.

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._writer.submit(self._in_transaction, lambda s, c, _r: fn(c), self,
                                   None).result()

    @staticmethod
    def _in_transaction(runner: Callable[[EmbeddedStore, sqlite3.Connection, Any], T],
                        store: EmbeddedStore, request: Any) -> T:
        conn = store._writer_conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _translate(exc) from None
        try:
            result = runner(store, conn, request)
            store._maybe_purge(conn)
            conn.execute("COMMIT")
            return result
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise _translate(exc) from None
            raise

    @staticmethod
    def _current(conn: sqlite3.Connection, key: Key) -> Item | None:
        row = conn.execute("SELECT body FROM items WHERE pk = ? AND sk = ?",
                           (key.pk, key.sk)).fetchone()
        return _load(row[0]) if row else None

    @staticmethod
    def _store_item(conn: sqlite3.Connection, item: Item) -> None:
        row = _row(item)
        conn.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        if item.get("entityType") == "ACTIVITY":
            # The cross-process fan-out: every process tails this (datastore/feeds.py).
            conn.execute("INSERT INTO activity_log (body) VALUES (?)", (row[-1],))

    def _put(self, conn: sqlite3.Connection, w: RawWrite) -> None:
        if w.condition is not None and not evaluate(w.condition, self._current(conn, w.key)):
            raise ConditionFailed(f"condition failed for {w.key.sk}")
        assert w.item is not None
        self._store_item(conn, normalize(w.item))

    def _update(self, conn: sqlite3.Connection, w: RawWrite) -> Item:
        current = self._current(conn, w.key)
        if w.condition is not None and not evaluate(w.condition, current):
            raise ConditionFailed(f"condition failed for {w.key.sk}")
        item = apply_changes(copy.deepcopy(current) if current else w.key.as_dict(),
                             w.changes)
        self._store_item(conn, check_item(item))  # an update can grow an item past 400 KB
        return item

    def _delete(self, conn: sqlite3.Connection, w: RawWrite) -> None:
        if w.condition is not None and not evaluate(w.condition, self._current(conn, w.key)):
            raise ConditionFailed(f"condition failed for {w.key.sk}")
        conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (w.key.pk, w.key.sk))

    def _transact(self, conn: sqlite3.Connection, request: RawTransaction) -> None:
        actions = request.actions
        currents = [self._current(conn, a.key) for a in actions]
        reasons: list[str | None] = [
            None if a.condition is None or evaluate(a.condition, cur)
            else "ConditionalCheckFailed"
            for a, cur in zip(actions, currents, strict=True)
        ]
        if any(reasons):
            raise TransactionCanceled(reasons)
        for action, current in zip(actions, currents, strict=True):
            if isinstance(action, Put):
                self._store_item(conn, normalize(action.item))
            elif isinstance(action, Update):
                base = copy.deepcopy(current) if current else action.key.as_dict()
                self._store_item(conn, check_item(apply_changes(base, action.changes)))
            elif isinstance(action, Delete):
                conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?",
                             (action.key.pk, action.key.sk))
            else:
                assert isinstance(action, Check)

    _writers: dict[str, Callable[[EmbeddedStore, sqlite3.Connection, Any], Any]] = {
        "put": _put, "update": _update, "delete": _delete, "transact": _transact,
    }

    def _maybe_purge(self, conn: sqlite3.Connection) -> None:
        now = self.clock()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_SECONDS
            conn.execute("DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?",
                         (int(now),))
            conn.execute("DELETE FROM activity_log WHERE seq <= "
                         "(SELECT max(seq) FROM activity_log) - ?", (ACTIVITY_LOG_ROWS,))

    def activity_feed(self, poll_seconds: float | None = None) -> Feed:
        return LogTail(self.path, poll_seconds=poll_seconds or 0.1)

    async def purge_expired(self) -> int:
        """Delete every expired item now; returns how many went."""
        def run(_s: EmbeddedStore, conn: sqlite3.Connection, _r: Any) -> int:
            cur = conn.execute(
                "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (int(self.clock()),))
            return cur.rowcount
        loop = asyncio.get_running_loop()
        count: int = await loop.run_in_executor(self._writer, self._in_transaction, run, self,
                                                None)
        return count


def _json_equals(attr: str, value: Any) -> tuple[str, list[Any]]:
    """SQL for ``body.attr == value`` compared by type, as DynamoDB compares (a boolean is
    never the number 1); the body is JSON text stored as a BLOB, hence the CAST."""
    path = '$."' + attr.replace('"', '\\"') + '"'
    body = "CAST(body AS TEXT)"
    if isinstance(value, bool):
        return f"json_type({body}, ?) = ?", [path, "true" if value else "false"]
    kinds = "('text')" if isinstance(value, str) else "('integer', 'real')"
    return (f"json_type({body}, ?) IN {kinds} AND json_extract({body}, ?) = ?",
            [path, path, value])


def _translate(exc: sqlite3.OperationalError) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreThrottled(f"the embedded store is busy: {text}")
    if "no such" in text or "syntax" in text:
        return InvalidRequest(text)
    # Every write runs in one SQLite transaction, rolled back on error: nothing was applied.
    return StoreUnavailable(f"the embedded store failed: {text}", sent=False)
