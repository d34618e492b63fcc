"""How the DynamoDB stream feed follows shards (datastore/feeds.py), against a local fake
of DynamoDB Streams (tests/fake_streams.py): splits and rollovers, an expired iterator,
throttling, records that are not new activity."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from datastore.feeds import StreamFeed
from datastore.store import Item
from tests.fake_streams import TABLE, FakeStreams


@pytest.fixture
def fake() -> Iterator[FakeStreams]:
    fake = FakeStreams().start()
    yield fake
    fake.stop()


@pytest.fixture
async def feed(fake: FakeStreams) -> AsyncIterator[StreamFeed]:
    feed = StreamFeed(table=TABLE, region="us-east-1", endpoint_url=fake.url,
                      credentials={"aws_access_key_id": "x", "aws_secret_access_key": "x"},
                      poll_seconds=0.01, discover_seconds=3600)
    yield feed
    await feed.close()


def event(n: int, entity: str = "ACTIVITY") -> dict[str, Any]:
    return {"PK": "ORG#o", "SK": f"ACTIVITY#{n:04d}", "entityType": entity,
            "organizationId": "o", "action": f"a.{n}"}


async def run_until(feed: StreamFeed, got: list[Item], want: int, within: float = 5.0) -> None:
    task = asyncio.create_task(feed.run(got.append))
    try:
        deadline = time.monotonic() + within
        while len(got) < want:
            assert time.monotonic() < deadline, f"{len(got)} of {want}: {got}"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a duplicate would be here by now
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def actions(got: list[Item]) -> list[str]:
    return [item["action"] for item in got]


async def test_a_split_shard_is_read_to_its_end_before_its_children(
        fake: FakeStreams, feed: StreamFeed) -> None:
    fake.open_shard("old")
    fake.write("old", event(0))
    fake.close_shard("old")  # closed before we started: its records are history
    fake.open_shard("parent", parent="old")
    fake.write("parent", event(1))
    feed.discover_seconds = 0  # shards are looked for at every poll
    await feed.start()
    fake.write("parent", event(2))
    fake.write("parent", event(6))
    fake.close_shard("parent")
    fake.open_shard("left", parent="parent")
    fake.open_shard("right", parent="parent")
    fake.write("left", event(3))
    fake.write("right", event(4))
    fake.write("left", event(5))

    fake.page = 1  # the parent takes two reads: its children wait for both

    got: list[Item] = []
    await run_until(feed, got, 5)

    assert actions(got)[:2] == ["a.2", "a.6"]  # the parent's rest comes first
    assert sorted(actions(got)[2:]) == ["a.3", "a.4", "a.5"]
    assert actions(got).index("a.3") < actions(got).index("a.5")  # in order per shard
    assert feed.calls["get_shard_iterator"] == 3  # parent (LATEST), left, right


async def test_a_rollover_to_a_new_shard_loses_nothing(fake: FakeStreams,
                                                       feed: StreamFeed) -> None:
    fake.open_shard("first")
    await feed.start()
    fake.write("first", event(1))
    got: list[Item] = []
    await run_until(feed, got, 1)
    fake.close_shard("first")
    fake.open_shard("second", parent="first")
    fake.write("second", event(2))

    await run_until(feed, got, 2)

    assert actions(got) == ["a.1", "a.2"]


async def test_an_expired_iterator_continues_after_the_last_record_seen(
        fake: FakeStreams, feed: StreamFeed) -> None:
    fake.open_shard("s")
    await feed.start()
    fake.write("s", event(1))
    got: list[Item] = []
    await run_until(feed, got, 1)
    fake.faults.append("ExpiredIteratorException")
    fake.write("s", event(2))

    await run_until(feed, got, 2)

    assert actions(got) == ["a.1", "a.2"]
    assert feed.calls["get_shard_iterator"] == 2  # LATEST, then AFTER_SEQUENCE_NUMBER


async def test_throttling_backs_off_then_delivers(fake: FakeStreams, feed: StreamFeed) -> None:
    fake.open_shard("s")
    await feed.start()
    fake.faults += ["LimitExceededException"] * 4
    fake.write("s", event(1))
    started = time.monotonic()

    got: list[Item] = []
    await run_until(feed, got, 1)

    assert actions(got) == ["a.1"]
    # 0.02 + 0.04 + 0.08 + 0.16 s of backoff at a 10 ms poll
    assert time.monotonic() - started >= 0.3


async def test_only_new_activity_is_delivered(fake: FakeStreams, feed: StreamFeed) -> None:
    fake.open_shard("s")
    await feed.start()
    fake.write("s", event(1, entity="MEMBER"))
    fake.write("s", event(2), event="MODIFY")
    fake.write("s", event(3), event="REMOVE")
    fake.write("s", event(4))

    got: list[Item] = []
    await run_until(feed, got, 1)

    assert actions(got) == ["a.4"]
