"""The cross-process feed of activity (datastore/feeds.py), on both backends: what a second
store on the same file or table writes reaches a feed, each event once, from where the feed
started, and nothing a cancelled transaction tried to write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from datastore import activity, embedded, keys
from datastore.dynamodb import DynamoStore
from datastore.embedded import EmbeddedStore
from datastore.errors import TransactionCanceled
from datastore.feeds import Feed, LogTail, StreamFeed
from datastore.records import ActivityEvent
from datastore.store import Item, Put, Store, item_exists

ORG = "org-feed"


def other_process(store: Store) -> Store:
    """A second store on the same data, as another server process opens it."""
    if isinstance(store, EmbeddedStore):
        return EmbeddedStore(store.path)
    assert isinstance(store, DynamoStore)
    return DynamoStore(store.settings)


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[Store]:
    other = other_process(store)
    yield other
    await other.close()


async def write_event(store: Store, action: str, org_id: str = ORG) -> ActivityEvent:
    event = activity.event(store, org_id, "user-writer", action)
    await store.transact([activity.put_event(event)])
    return event


async def collect(feed: Feed, want: int, within: float = 10.0) -> list[Item]:
    """Run the feed until it delivered ``want`` items, then 0.3 s more (so a duplicate
    would show up too)."""
    got: list[Item] = []
    task = asyncio.create_task(feed.run(got.append))
    try:
        deadline = time.monotonic() + within
        while len(got) < want:
            assert time.monotonic() < deadline, f"feed delivered {len(got)} of {want}"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return got


def actions(items: list[Item]) -> list[str]:
    return [item["action"] for item in items]


@pytest.fixture
async def feed(store: Store) -> AsyncIterator[Feed]:
    feed = store.activity_feed(poll_seconds=0.02)
    yield feed
    await feed.close()


async def test_a_feed_delivers_what_another_process_writes_after_it_started_once_in_order(
        store: Store, writer: Store, feed: Feed) -> None:
    await write_event(writer, "before.start")
    await feed.start()
    written = [await write_event(writer, f"event.{i}") for i in range(5)]
    await writer.put({**keys.organization(ORG).as_dict(), "entityType": "ORGANIZATION"})

    got = await collect(feed, 5)

    assert actions(got) == [e.action for e in written]
    assert [ActivityEvent.from_item(i).event_id for i in got] == [e.event_id for e in written]
    assert feed.delivered == 5


async def test_a_cancelled_transaction_announces_nothing(store: Store, writer: Store,
                                                          feed: Feed) -> None:
    await feed.start()
    doomed = activity.event(writer, ORG, "user-writer", "never.happened")
    with pytest.raises(TransactionCanceled):
        await writer.transact([activity.put_event(doomed),
                               Put({**keys.organization(ORG).as_dict(), "entityType": "X"},
                                   condition=item_exists())])
    await write_event(writer, "did.happen")

    got = await collect(feed, 1)

    assert actions(got) == ["did.happen"]


async def test_events_of_every_organization_arrive_and_carry_their_org(
        store: Store, writer: Store, feed: Feed) -> None:
    await feed.start()
    await write_event(writer, "in.a", "org-a")
    await write_event(store, "in.b", "org-b")  # this process's own writes come back too

    got = await collect(feed, 2)

    assert sorted((i["organizationId"], i["action"]) for i in got) == [
        ("org-a", "in.a"), ("org-b", "in.b")]


async def test_a_feed_started_again_resumes_at_the_newest_record(
        store: Store, writer: Store) -> None:
    first = store.activity_feed(poll_seconds=0.02)
    await first.start()
    await write_event(writer, "seen.by.first")
    assert actions(await collect(first, 1)) == ["seen.by.first"]
    await first.close()
    await write_event(writer, "while.restarting")

    second = store.activity_feed(poll_seconds=0.02)
    try:
        await second.start()
        await write_event(writer, "after.restart")
        assert actions(await collect(second, 1)) == ["after.restart"]
    finally:
        await second.close()


async def test_an_idle_feed_reads_once_per_poll(store: Store, feed: Feed) -> None:
    await feed.start()
    before = sum(feed.calls.values())
    task = asyncio.create_task(feed.run(lambda item: None))
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    polls = sum(feed.calls.values()) - before
    # 0.5 s at one poll per 20 ms: about 25 polls, each one read (data_version or GetRecords).
    assert 5 <= polls <= 30, feed.calls
    if isinstance(feed, LogTail):
        assert feed.calls["read_log"] == 1  # only the start read the log: nothing changed
    else:
        assert isinstance(feed, StreamFeed)
        assert set(feed.calls) == {"describe_table", "describe_stream",
                                   "get_shard_iterator", "get_records"}


async def test_the_embedded_activity_log_keeps_a_bounded_tail(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    monkeypatch.setattr(embedded, "ACTIVITY_LOG_ROWS", 3)
    store = EmbeddedStore(tmp_path / "log.sqlite3")
    try:
        for i in range(6):
            await write_event(store, f"e.{i}")
        store._next_purge = 0.0
        await write_event(store, "e.6")
        rows = store._reader.execute("SELECT count(*) FROM activity_log").fetchone()[0]
    finally:
        await store.close()

    assert rows == 3


async def test_an_item_that_cannot_be_delivered_does_not_stop_the_next(
        store: Store, writer: Store, feed: Feed) -> None:
    await feed.start()
    await write_event(writer, "breaks.the.subscriber")
    await write_event(writer, "arrives.anyway")
    got: list[Item] = []

    def deliver(item: Item) -> None:
        if item["action"] == "breaks.the.subscriber":
            raise ValueError("a malformed event")
        got.append(item)

    task = asyncio.create_task(feed.run(deliver))
    try:
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert actions(got) == ["arrives.anyway"]
