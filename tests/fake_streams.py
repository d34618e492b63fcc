"""A local fake of DynamoDB Streams over HTTP, for what moto's one never-ending shard cannot
show: shards that close and split, iterators that expire, throttling.

It speaks the JSON protocol botocore sends (``X-Amz-Target``), for DescribeTable,
DescribeStream, GetShardIterator and GetRecords only, on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datastore.dynamodb import serialize

TABLE = "fake-table"
STREAM_ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}/stream/2026-12-02T00:00"


def shard_id(name: str) -> str:
    """A shard id as long as DynamoDB's (botocore checks the length)."""
    return f"shardId-00000001700000000000-{name:0>8}"


@dataclass
class Shard:
    shard_id: str
    parent: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    first_sequence: int = 0


class FakeStreams:
    def __init__(self) -> None:
        self.shards: dict[str, Shard] = {}
        self.iterators: dict[str, tuple[str, int]] = {}  # token -> (shard, index)
        self.faults: list[str] = []  # error codes the next GetRecords calls answer
        self.page = 1000  # most records one GetRecords answers
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._sequence = itertools.count(100)
        self._tokens = itertools.count()
        self.url = ""
        self._httpd: http.server.ThreadingHTTPServer | None = None

    # Arranging the stream

    def open_shard(self, name: str, parent: str | None = None) -> None:
        with self.lock:
            self.shards[shard_id(name)] = Shard(shard_id(name),
                                                shard_id(parent) if parent else None,
                                                first_sequence=next(self._sequence))

    def close_shard(self, name: str) -> None:
        with self.lock:
            self.shards[shard_id(name)].closed = True

    def write(self, name: str, item: dict[str, Any], event: str = "INSERT") -> None:
        with self.lock:
            shard = self.shards[shard_id(name)]
            assert not shard.closed, f"{name} is closed"
            shard.records.append({
                "eventID": f"e{len(shard.records)}", "eventName": event,
                "dynamodb": {"Keys": serialize({"PK": item["PK"], "SK": item["SK"]}),
                             "NewImage": serialize(item),
                             "SequenceNumber": str(next(self._sequence)),
                             "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"}})

    # The API

    def answer(self, op: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls[op] += 1
            if op == "DescribeTable":
                return 200, {"Table": {"TableName": TABLE, "LatestStreamArn": STREAM_ARN,
                                       "StreamSpecification": {
                                           "StreamEnabled": True,
                                           "StreamViewType": "NEW_AND_OLD_IMAGES"}}}
            if op == "DescribeStream":
                return 200, {"StreamDescription": {"StreamArn": STREAM_ARN, "Shards": [
                    self._describe(s) for s in self.shards.values()]}}
            if op == "GetShardIterator":
                return 200, {"ShardIterator": self._iterator(body)}
            if op == "GetRecords":
                return self._records(body)
            return 400, _error("UnknownOperationException", op)

    def _describe(self, shard: Shard) -> dict[str, Any]:
        numbers: dict[str, str] = {"StartingSequenceNumber": str(shard.first_sequence)}
        if shard.closed:
            last = shard.records[-1]["dynamodb"]["SequenceNumber"] if shard.records \
                else str(shard.first_sequence)
            numbers["EndingSequenceNumber"] = last
        described: dict[str, Any] = {"ShardId": shard.shard_id,
                                     "SequenceNumberRange": numbers}
        if shard.parent:
            described["ParentShardId"] = shard.parent
        return described

    def _iterator(self, body: dict[str, Any]) -> str:
        shard = self.shards[body["ShardId"]]
        kind = body["ShardIteratorType"]
        if kind == "TRIM_HORIZON":
            index = 0
        elif kind == "LATEST":
            index = len(shard.records)
        else:
            sequences = [r["dynamodb"]["SequenceNumber"] for r in shard.records]
            index = sequences.index(body["SequenceNumber"])
            index += 1 if kind == "AFTER_SEQUENCE_NUMBER" else 0
        token = f"iterator-{next(self._tokens):04d}"
        self.iterators[token] = (shard.shard_id, index)
        return token

    def _records(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.faults:
            code = self.faults.pop(0)
            return 400, _error(code, "fault injected by the test")
        # An iterator stays valid (DynamoDB's last 15 minutes): reading it again gives the
        # same records, as after a client gave up waiting for an answer.
        held, index = self.iterators[body["ShardIterator"]]
        shard = self.shards[held]
        records = shard.records[index:index + min(self.page, int(body.get("Limit", 1000)))]
        end = index + len(records)
        answer: dict[str, Any] = {"Records": records}
        if not (shard.closed and end >= len(shard.records)):
            token = f"iterator-{next(self._tokens):04d}"
            self.iterators[token] = (held, end)
            answer["NextShardIterator"] = token
        return 200, answer

    # Serving

    def start(self) -> FakeStreams:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                op = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                status, answer = fake.answer(op, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
