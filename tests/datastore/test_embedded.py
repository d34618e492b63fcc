"""Behaviour only the embedded SQLite backend has: a file on disk, purging, sharing the file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from datastore.embedded import PURGE_EVERY_SECONDS, EmbeddedStore, _translate, default_path
from datastore.errors import InvalidRequest, StoreThrottled, StoreUnavailable
from datastore.keys import Key
from datastore.store import Add, Query
from tests.conftest import Clock

ORG = "ORG#acme"


def rows(path: Path) -> list[str]:
    """Sort keys physically in the file, expired or not."""
    with closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT sk FROM items ORDER BY sk")]


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = EmbeddedStore(path)
    await store.put({"PK": ORG, "SK": "ORG#acme", "name": "Acme", "score": 8.5})
    await store.update(Key(ORG, "ORG#acme"), [Add("members", 3)])
    await store.close()

    reopened = EmbeddedStore(path)
    try:
        assert await reopened.get(Key(ORG, "ORG#acme")) == {
            "PK": ORG, "SK": "ORG#acme", "name": "Acme", "score": 8.5, "members": 3}
    finally:
        await reopened.close()


async def test_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db.sqlite3"

    store = EmbeddedStore(path)
    await store.close()

    assert path.exists()


async def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path / "db.sqlite3")
    second = EmbeddedStore(tmp_path / "db.sqlite3")
    try:
        await first.put({"PK": ORG, "SK": "MEMBER#u1"})
        await second.update(Key(ORG, "COUNTER#n"), [Add("n", 1)])
        await first.update(Key(ORG, "COUNTER#n"), [Add("n", 1)])

        assert await second.get(Key(ORG, "MEMBER#u1")) is not None
        assert (await second.get(Key(ORG, "COUNTER#n")) or {})["n"] == 2
    finally:
        await first.close()
        await second.close()


async def test_an_in_memory_store_works_and_leaves_nothing_behind() -> None:
    store = EmbeddedStore(":memory:")
    path = Path(store.path)
    await store.put({"PK": ORG, "SK": "MEMBER#u1"})

    assert await store.get(Key(ORG, "MEMBER#u1")) is not None
    await store.close()
    assert not path.parent.exists()


async def test_purge_expired_deletes_only_expired_items(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "db.sqlite3"
    store = EmbeddedStore(path, clock=clock)
    now = int(clock())
    try:
        await store.put({"PK": ORG, "SK": "A#expired", "expiresAt": now - 1})
        await store.put({"PK": ORG, "SK": "B#expires-now", "expiresAt": now})
        await store.put({"PK": ORG, "SK": "C#live", "expiresAt": now + 1})
        await store.put({"PK": ORG, "SK": "D#forever"})

        purged = await store.purge_expired()

        assert purged == 2
        assert rows(path) == ["C#live", "D#forever"]
        clock.advance(1)
        assert await store.purge_expired() == 1
        assert rows(path) == ["D#forever"]
    finally:
        await store.close()


async def test_expired_items_are_purged_by_a_later_write(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "db.sqlite3"
    store = EmbeddedStore(path, clock=clock)
    try:
        await store.put({"PK": ORG, "SK": "A#soon", "expiresAt": int(clock()) + 10})
        clock.advance(60)
        await store.put({"PK": ORG, "SK": "B#other"})
        assert rows(path) == ["A#soon", "B#other"]  # purging runs at most once an hour

        clock.advance(PURGE_EVERY_SECONDS)
        await store.put({"PK": ORG, "SK": "C#trigger"})

        assert rows(path) == ["B#other", "C#trigger"]
    finally:
        await store.close()


async def test_reads_hide_expired_items_before_they_are_purged(tmp_path: Path,
                                                              clock: Clock) -> None:
    path = tmp_path / "db.sqlite3"
    store = EmbeddedStore(path, clock=clock)
    try:
        await store.put({"PK": ORG, "SK": "A#soon", "expiresAt": int(clock()) + 10})
        clock.advance(10)

        assert rows(path) == ["A#soon"]
        assert await store.get(Key(ORG, "A#soon")) is None
        assert (await store.query(Query(ORG))).items == []
    finally:
        await store.close()


def test_default_path_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))

    assert default_path() == tmp_path / "devinsights" / "devinsights.sqlite3"


def test_default_path_falls_back_to_local_share(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert default_path() == tmp_path / ".local" / "share" / "devinsights" / "devinsights.sqlite3"


@pytest.mark.parametrize(("message", "error"), [
    ("database is locked", StoreThrottled),
    ("database table is locked", StoreThrottled),
    ("no such table: items", InvalidRequest),
    ("disk I/O error", StoreUnavailable),
])
def test_sqlite_errors_become_store_errors(message: str, error: type[Exception]) -> None:
    assert isinstance(_translate(sqlite3.OperationalError(message)), error)
