"""Relay connections over store pages: ``first`` is capped, cursors are signed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from datastore.store import Item, Query, encode_cursor
from resolvers import cursors
from resolvers.context import Context
from resolvers.validation import InputInvalid

T = TypeVar("T")
DEFAULT_PAGE = 20


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    nodes: list[T]
    cursors: list[str]
    has_next: bool


def page_size(ctx: Context, first: int | None) -> int:
    limit = ctx.settings.max_page_size
    if first is None:
        return min(DEFAULT_PAGE, limit)
    if not 1 <= first <= limit:
        raise InputInvalid("first", f"first must be between 1 and {limit}")
    return first


async def load_slice(ctx: Context, field: str, query: Query, first: int | None,
                     after: str | None, parse: Callable[[Item], T]) -> Slice[T]:
    secret, org = ctx.settings.cursor_secret, ctx.caller.org_id
    store_cursor = cursors.verify(secret, org, field, after) if after else None
    q = dataclasses.replace(query, limit=page_size(ctx, first), cursor=store_cursor)
    page = await ctx.store.query(q)
    return Slice(
        nodes=[parse(i) for i in page.items],
        cursors=[cursors.sign(secret, org, field, encode_cursor(q, i)) for i in page.items],
        has_next=page.has_next,
    )
