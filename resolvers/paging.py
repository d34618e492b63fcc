"""Relay connections over store pages: page sizes are capped, cursors are signed.

``first``/``after`` pages forward; ``last``/``before`` pages backward (the same store query
read in the other direction, from the cursor), and the page comes back in forward order.
"""

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
class Window:
    """Which page a caller asked for: a size and a direction from an optional cursor."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def backward(self) -> bool:
        return self.last is not None or self.before is not None


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    nodes: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool = False


def page_size(ctx: Context, size: int | None, name: str = "first") -> int:
    limit = ctx.settings.max_page_size
    if size is None:
        return min(DEFAULT_PAGE, limit)
    if not 1 <= size <= limit:
        raise InputInvalid(name, f"{name} must be between 1 and {limit} (the page size cap)")
    return size


async def load_slice(ctx: Context, field: str, query: Query, window: Window,
                     parse: Callable[[Item], T]) -> Slice[T]:
    if window.backward and (window.first is not None or window.after is not None):
        raise InputInvalid("first" if window.first is not None else "after",
                           "page forward with first/after or backward with last/before, "
                           "not both")
    secret, org = ctx.settings.cursor_secret, ctx.caller.org_id
    if window.backward:
        start = cursors.verify(secret, org, field, window.before) if window.before else None
        q = dataclasses.replace(query, limit=page_size(ctx, window.last, "last"), cursor=start,
                                forward=not query.forward)
    else:
        start = cursors.verify(secret, org, field, window.after) if window.after else None
        q = dataclasses.replace(query, limit=page_size(ctx, window.first), cursor=start)
    page = await ctx.store.query(q)
    items = page.items[::-1] if window.backward else page.items
    signed = [cursors.sign(secret, org, field, encode_cursor(q, i)) for i in items]
    nodes = [parse(i) for i in items]
    if window.backward:
        # Relay: hasNextPage may be true when edges after `before` exist; the cursor's own
        # item is one (unless it was deleted since, which a client cannot tell from here).
        return Slice(nodes, signed, has_next=window.before is not None,
                     has_previous=page.has_next)
    return Slice(nodes, signed, has_next=page.has_next, has_previous=window.after is not None)
