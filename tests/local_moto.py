"""moto's DynamoDB as the tests (and the benchmark) run it: one request at a time,
without a table copy per transaction action, and with one stream shard that a cancelled
transaction leaves as it was. Shared by tests/conftest.py and bench/."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from typing import Any

import moto.dynamodb.models as moto_dynamodb
from moto.dynamodb.models.table import Table as MotoTable


class OneRequestAtATime:
    """WSGI middleware that runs one request at a time.

    moto's DynamoDB backend has no locks, and transact_write_items rolls back by swapping in
    a copy of the table, so concurrent requests on a threaded server can lose writes. The
    response body is materialised inside the lock because moto may produce it lazily.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class CopyEachTableOnce:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend.

    moto 5.1's transact_write_items deep-copies the whole table once per action, before it
    runs any (its rollback snapshot), so a 100-action transaction costs 100 table copies:
    seconds, then read timeouts, once a table holds a few hundred items. Every one of those
    copies is the same pre-transaction snapshot, so during a transaction each table is
    copied once; everything else is copied as moto asked.
    """

    def __init__(self) -> None:
        self.local = threading.local()

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        snapshots: dict[int, tuple[Any, Any]] | None = getattr(self.local, "snapshots", None)
        if snapshots is None or not isinstance(value, MotoTable):
            return copy.deepcopy(value, memo)
        if id(value) not in snapshots:
            snapshots[id(value)] = (value, copy.deepcopy(value, memo))  # keeps the id alive
        return snapshots[id(value)][1]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)  # the rest of the copy module, unchanged

    def install(self, setattr_: Callable[[Any, str, Any], None] = setattr) -> None:
        """Patch moto in this process (``monkeypatch.setattr`` undoes it after a test)."""
        transact = moto_dynamodb.DynamoDBBackend.transact_write_items

        def transact_write_items(backend: Any, transact_items: Any) -> None:
            self.local.snapshots = {}
            streams = {name: (table.stream_shard, len(table.stream_shard.items))
                       for name, table in backend.tables.items()
                       if table.stream_shard is not None}
            try:
                transact(backend, transact_items)
            except Exception:
                keep_streams(backend, streams)
                raise
            finally:
                self.local.snapshots = None

        setattr_(moto_dynamodb, "copy", self)
        setattr_(moto_dynamodb.DynamoDBBackend, "transact_write_items", transact_write_items)


def keep_streams(backend: Any, streams: dict[str, tuple[Any, int]]) -> None:
    """Undo what a cancelled transaction did to the tables' streams.

    moto rolls a cancelled transaction back by swapping in its snapshot of each table, stream
    shard included: the records of the actions it applied before the failure stay in the
    shard readers hold (DynamoDB writes no record for a cancelled transaction), and every
    shard iterator handed out before points at a shard no write reaches any more. So the
    readers' shard goes back into the table, cut back to where it was.
    """
    for name, (shard, length) in streams.items():
        table = backend.tables.get(name)
        if table is None:
            continue
        del shard.items[length:]
        shard.table = table
        table.stream_shard = shard
