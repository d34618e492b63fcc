"""Paging and cursors in the Store layer, against fake backends that page a fixed list."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from datastore.errors import InvalidRequest
from datastore.store import (
    NO_UNITS,
    Item,
    Query,
    RawPage,
    RawQuery,
    Store,
    Units,
    decode_cursor,
    encode_cursor,
)

PARTITION = "ORG#acme"
NOW = 1_700_000_000.0


def member(i: int, **attrs: Any) -> Item:
    return {"PK": PARTITION, "SK": f"MEMBER#u{i:02d}", **attrs}


class ListStore(Store):
    """Serves one partition from a list, page by page.

    ``final_key`` True behaves like DynamoDB: a full page always carries a continuation key,
    even when nothing follows. False behaves like moto: no key once the list is exhausted.
    ``page_cap`` caps every page, like DynamoDB's 1 MB limit, whatever Limit asked for.
    """

    def __init__(self, items: list[Item], *, final_key: bool, page_cap: int = 1000) -> None:
        super().__init__(clock=lambda: NOW)
        self.items = items
        self.final_key = final_key
        self.page_cap = page_cap
        self.requests: list[RawQuery] = []

    async def _execute(self, op: str, request: Any) -> tuple[Any, Units]:
        assert op == "query"
        self.requests.append(request)
        q = request.query
        ordered = self.items if q.forward else self.items[::-1]
        start = 0
        if request.start_key is not None:
            start = 1 + next(i for i, item in enumerate(ordered)
                             if item["SK"] == request.start_key["SK"])
        size = min(request.limit or self.page_cap, self.page_cap)
        page = ordered[start:start + size]
        full = len(page) == size
        more = start + size < len(ordered)
        last = {"PK": PARTITION, "SK": page[-1]["SK"]} if full and (
            self.final_key or more) else None
        return RawPage(page, last), NO_UNITS

    async def close(self) -> None:
        pass


async def walk(store: Store, q: Query) -> list[tuple[list[str], bool]]:
    pages: list[tuple[list[str], bool]] = []
    cursor: str | None = None
    while True:
        page = await store.query(Query(q.partition, q.index, q.prefix, q.between, q.forward,
                                       q.limit, cursor))
        pages.append(([i["SK"] for i in page.items], page.has_next))
        if not page.has_next:
            return pages
        cursor = page.cursor
        assert len(pages) < 50, "paging does not terminate"


def expected_pages(names: list[str], size: int) -> list[tuple[list[str], bool]]:
    chunks = [names[i:i + size] for i in range(0, len(names), size)] or [[]]
    return [(chunk, i < len(chunks) - 1) for i, chunk in enumerate(chunks)]


BACKENDS = {
    "dynamodb-like": {"final_key": True},
    "moto-like": {"final_key": False},
    "short-pages": {"final_key": True, "page_cap": 2},
    "short-pages-moto-like": {"final_key": False, "page_cap": 2},
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 8, 9, 10])
@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_has_next_is_true_exactly_when_another_item_follows(backend: str, count: int,
                                                                  forward: bool) -> None:
    items = [member(i) for i in range(count)]
    store = ListStore(items, **BACKENDS[backend])  # type: ignore[arg-type]

    pages = await walk(store, Query(PARTITION, limit=4, forward=forward))

    names = [i["SK"] for i in (items if forward else items[::-1])]
    assert pages == expected_pages(names, 4)


async def test_a_full_last_page_has_no_next_although_the_backend_offers_one() -> None:
    store = ListStore([member(i) for i in range(4)], final_key=True)

    page = await store.query(Query(PARTITION, limit=4))

    assert len(page.items) == 4
    assert not page.has_next
    assert page.cursor is None


async def test_asks_the_backend_for_one_item_more_than_the_page() -> None:
    store = ListStore([member(i) for i in range(10)], final_key=False)

    await store.query(Query(PARTITION, limit=4))

    assert [r.limit for r in store.requests] == [5]


async def test_short_backend_pages_are_followed_until_the_page_is_full() -> None:
    store = ListStore([member(i) for i in range(10)], final_key=True, page_cap=2)

    page = await store.query(Query(PARTITION, limit=4))

    assert [i["SK"] for i in page.items] == [f"MEMBER#u{i:02d}" for i in range(4)]
    assert page.has_next
    assert [r.limit for r in store.requests] == [5, 3, 1]


async def test_a_query_without_limit_follows_every_continuation() -> None:
    store = ListStore([member(i) for i in range(7)], final_key=True, page_cap=3)

    page = await store.query(Query(PARTITION))

    assert len(page.items) == 7
    assert not page.has_next
    assert len(store.requests) == 3  # 3 + 3 + 1; the short last page ends it


async def test_expired_items_do_not_count_toward_a_page() -> None:
    items = [member(i, expiresAt=NOW - 1 if i % 2 else NOW + 60) for i in range(10)]
    store = ListStore(items, final_key=False, page_cap=3)

    pages = await walk(store, Query(PARTITION, limit=2))

    assert pages == expected_pages([f"MEMBER#u{i:02d}" for i in range(0, 10, 2)], 2)


async def test_the_cursor_points_at_the_last_item_of_the_page() -> None:
    store = ListStore([member(i) for i in range(10)], final_key=True)

    page = await store.query(Query(PARTITION, limit=3))

    assert page.cursor is not None
    assert decode_cursor(Query(PARTITION, cursor=page.cursor)) == {
        "PK": PARTITION, "SK": "MEMBER#u02"}


async def test_the_next_page_starts_right_after_the_cursor() -> None:
    store = ListStore([member(i) for i in range(10)], final_key=True)
    first = await store.query(Query(PARTITION, limit=3))

    await store.query(Query(PARTITION, limit=3, cursor=first.cursor))

    assert store.requests[-1].start_key == {"PK": PARTITION, "SK": "MEMBER#u02"}


# Cursors


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def test_a_cursor_round_trips_through_encode_and_decode() -> None:
    q = Query("EMAIL#ada@example.com", index="GSI1", prefix="ORG#")
    item = member(1, GSI1PK="EMAIL#ada@example.com", GSI1SK="ORG#acme", name="Ada")

    cursor = encode_cursor(q, item)

    assert decode_cursor(Query(q.partition, index="GSI1", prefix="ORG#", cursor=cursor)) == {
        "PK": PARTITION, "SK": "MEMBER#u01", "GSI1PK": "EMAIL#ada@example.com",
        "GSI1SK": "ORG#acme"}
    assert "Ada" not in base64.urlsafe_b64decode(cursor + "==").decode()


def test_decode_cursor_rejects_a_cursor_from_another_partition() -> None:
    cursor = encode_cursor(Query(PARTITION), member(1))

    with pytest.raises(InvalidRequest, match="another query"):
        decode_cursor(Query("ORG#globex", cursor=cursor))


def test_decode_cursor_rejects_a_cursor_outside_the_prefix() -> None:
    cursor = encode_cursor(Query(PARTITION, prefix="MEMBER#"), member(1))

    with pytest.raises(InvalidRequest, match="another query"):
        decode_cursor(Query(PARTITION, prefix="INVITE#", cursor=cursor))


def test_decode_cursor_rejects_a_cursor_from_another_index() -> None:
    table_cursor = encode_cursor(Query(PARTITION), member(1))
    gsi1_cursor = encode_cursor(Query("EMAIL#a", index="GSI1"),
                                member(1, GSI1PK="EMAIL#a", GSI1SK="ORG#acme"))

    with pytest.raises(InvalidRequest):
        decode_cursor(Query(PARTITION, index="GSI1", cursor=table_cursor))
    with pytest.raises(InvalidRequest):
        decode_cursor(Query("EMAIL#a", index="GSI2", cursor=gsi1_cursor))
    with pytest.raises(InvalidRequest):
        decode_cursor(Query(PARTITION, cursor=gsi1_cursor))


@pytest.mark.parametrize("cursor", [
    "%%%",
    "YQ",  # "a": not JSON
    cursor_of([PARTITION, "MEMBER#u01"]),
    cursor_of({"PK": PARTITION}),
    cursor_of({"PK": PARTITION, "SK": 5}),
    cursor_of({"PK": PARTITION, "SK": "MEMBER#u01", "extra": "x"}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
], ids=["not-base64", "not-json", "a-list", "missing-sk", "number-sk", "extra-key",
        "not-utf8"])
def test_decode_cursor_rejects_garbage(cursor: str) -> None:
    with pytest.raises(InvalidRequest, match="start from the first page"):
        decode_cursor(Query(PARTITION, cursor=cursor))


async def test_a_rejected_cursor_never_reaches_the_backend() -> None:
    store = ListStore([member(i) for i in range(3)], final_key=True)

    with pytest.raises(InvalidRequest):
        await store.query(Query(PARTITION, limit=1, cursor=cursor_of({"PK": "ORG#x",
                                                                     "SK": "MEMBER#u01"})))

    assert store.requests == []
    assert store.totals.total == 0
