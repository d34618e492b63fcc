"""moto's DynamoDB on 127.0.0.1, in its own process, one request at a time.

The same setup as tests/conftest.py: moto's backend has no locks, so a threaded server
serialises requests to keep transactions from losing writes. Unlike the tests' moto, two
patches of moto 5.1's DynamoDB backend keep its transactions from growing with the table's
history: it drops stream records and copies each table once per transaction.
"""

from __future__ import annotations

import argparse
import copy
import logging
import resource
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import StreamShard
from moto.server import (  # type: ignore[attr-defined]
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import make_server

MEMORY_LIMIT = 4 << 30


class OneRequestAtATime:
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


def keep_no_stream_records() -> None:
    """moto keeps every stream record forever and deep-copies the table, records included,
    before each transaction: loading 1,000 members took it past 2 GB. Nothing in the bench
    reads the stream (subscriptions are fed in-process), so records are dropped."""

    def add(self: StreamShard, old: Any, new: Any) -> None:
        return None

    StreamShard.add = add  # type: ignore[method-assign]


class _CopyOncePerTransaction:
    """``copy`` for moto's DynamoDB backend, which deep-copies the whole table once per
    *action* of a transaction (as its rollback point); all those copies are identical, as
    they are taken before any action runs, so one per table is the same rollback point."""

    def __init__(self) -> None:
        self.copies: dict[int, Any] | None = None

    def deepcopy(self, x: Any, memo: Any = None) -> Any:
        if self.copies is None:
            return copy.deepcopy(x, memo)
        if id(x) not in self.copies:
            self.copies[id(x)] = copy.deepcopy(x, memo)
        return self.copies[id(x)]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def copy_each_table_once() -> None:
    shim = _CopyOncePerTransaction()
    backend = dynamodb_models.DynamoDBBackend
    original = backend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        shim.copies = {}  # requests run one at a time (OneRequestAtATime)
        try:
            original(self, transact_items)
        finally:
            shim.copies = None

    dynamodb_models.copy = shim  # type: ignore[attr-defined,assignment]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve moto's DynamoDB for the benchmark.")
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(argv)
    # A guard for a shared machine: moto fails its own requests past this, nobody else's.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    keep_no_stream_records()
    copy_each_table_once()
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_port), encoding="utf-8")
    tmp.replace(args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
