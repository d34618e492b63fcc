"""Faults injected at the store's one call function (``Store.fault_hook``).

A ``Faults`` object is the hook: rules are tried in order and the first that matches an
operation decides what happens to it. Every injected fault is counted, here and in the tally.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datastore.errors import StoreThrottled, StoreUnavailable
from datastore.store import RawBatch, RawBatchGet, Store
from tests.hardening import tally

Action = Callable[[str, Any], Awaitable[Any]]


def _identity(op: str, request: Any) -> Any:
    """One request and its retries share an identity; a batch of keys is known by its keys
    (a retry of the unprocessed ones is a new list)."""
    return frozenset(request.keys) if op == "batch_get" else id(request)


@dataclass
class Rule:
    ops: frozenset[str]
    action: Action
    times: int | None  # in all; None: no limit
    each: int | None  # per request, its retries included; None: no limit
    when: Callable[[Any], bool]
    fired: Counter[Any] = field(default_factory=Counter)
    held: list[Any] = field(default_factory=list)  # keeps ids unique while counted

    def matches(self, op: str, request: Any) -> bool:
        return (op in self.ops and (self.times is None or self.times > 0)
                and (self.each is None or self.fired[_identity(op, request)] < self.each)
                and self.when(request))

    def fire(self, op: str, request: Any) -> None:
        if self.times is not None:
            self.times -= 1
        self.fired[_identity(op, request)] += 1
        self.held.append(request)


class Faults:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.rules: list[Rule] = []
        self.seen: Counter[str] = Counter()  # every call of each op, faulted or not
        self.injected: Counter[str] = Counter()
        store.fault_hook = self

    async def __call__(self, op: str, request: Any) -> Any:
        self.seen[op] += 1
        for rule in self.rules:
            if rule.matches(op, request):
                rule.fire(op, request)
                self.injected[op] += 1
                tally.add(tally.FAULTS)
                return await rule.action(op, request)
        return None

    def add(self, ops: str | Sequence[str], action: Action, *, times: int | None = None,
            each: int | None = None, when: Callable[[Any], bool] = lambda _request: True
            ) -> Faults:
        names = frozenset([ops] if isinstance(ops, str) else ops)
        self.rules.append(Rule(names, action, times, each, when))
        return self

    def clear(self) -> None:
        self.rules.clear()

    # Actions

    @staticmethod
    async def throttle(op: str, _request: Any) -> Any:
        raise StoreThrottled(f"injected: {op} throttled")

    @staticmethod
    async def time_out(op: str, _request: Any) -> Any:
        raise StoreUnavailable(f"injected: {op} timed out")

    @staticmethod
    async def nothing_processed(_op: str, request: RawBatchGet) -> RawBatch:
        return RawBatch(items=[], unprocessed=list(request.keys))

    async def half_processed(self, op: str, request: RawBatchGet) -> RawBatch:
        """What DynamoDB does under load: some keys answered, the rest left unprocessed."""
        half = len(request.keys) // 2
        answered, left = request.keys[:half], list(request.keys[half:])
        if not answered:
            return RawBatch(items=[], unprocessed=left)
        real, _units = await self.store._execute(op, dataclasses.replace(request,
                                                                         keys=answered))
        return RawBatch(items=real.items, unprocessed=left)

    async def lost_response(self, op: str, request: Any) -> Any:
        """The store did the work, then the connection dropped before the answer came."""
        await self.store._execute(op, request)
        raise StoreUnavailable(f"injected: the response to {op} was lost")

    def barrier(self, parties: int, timeout: float = 5.0) -> Action:
        """Hold each call until ``parties`` calls are in flight, then let them all through."""
        arrived = 0
        everyone = asyncio.Event()

        async def wait(_op: str, _request: Any) -> None:
            nonlocal arrived
            arrived += 1
            if arrived >= parties:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), timeout)
            return None
        return wait
