"""moto's DynamoDB on 127.0.0.1, in its own process, one request at a time.

The tests' setup (tests/local_moto.py): requests one at a time, since moto's backend has no
locks, and each table copied once per transaction. The bench also drops stream records,
which moto keeps forever and copies with the table.
"""

from __future__ import annotations

import argparse
import logging
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moto.dynamodb.models.table import StreamShard
from moto.server import (  # type: ignore[attr-defined]
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import make_server

from tests.local_moto import CopyEachTableOnce, OneRequestAtATime

MEMORY_LIMIT = 4 << 30


def keep_no_stream_records() -> None:
    """moto keeps every stream record forever and deep-copies the table, records included,
    before each transaction: loading 1,000 members took it past 2 GB. Nothing in the bench
    reads the stream (subscriptions are fed in-process), so records are dropped."""

    def add(self: StreamShard, old: Any, new: Any) -> None:
        return None

    StreamShard.add = add  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve moto's DynamoDB for the benchmark.")
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(argv)
    # A guard for a shared machine: moto fails its own requests past this, nobody else's.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    keep_no_stream_records()
    CopyEachTableOnce().install()
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_port), encoding="utf-8")
    tmp.replace(args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
