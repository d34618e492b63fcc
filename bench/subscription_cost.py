"""What re-authorizing every subscription delivery costs the store (issue 11).

    .venv/bin/python -m bench.subscription_cost [--subscribers 30]

Opens N subscriptions of the demo organization's activity (its three members and the viewer
in turn) on the embedded store, with the selection a dashboard's live feed uses
(``action actor { name githubData { ... } }``), then makes events of three kinds and prints,
per kind, the store calls every delivery cost, per subscriber (on DynamoDB a membership
re-read is one strongly consistent BatchGetItem of two items, 2 RCU; a field's read of a
person or their analytics is eventually consistent, 0.5 RCU an item):

- an event about someone else (no membership re-read unless the last is older than the
  recheck interval): the fields' own reads;
- an event about the organization (its settings): one consistent re-read per subscriber, then
  the fields' reads;
- the periodic recheck of a quiet socket (``DEVINSIGHTS_SUBSCRIPTION_RECHECK_SECONDS``).

Figures only; nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

from datastore import demo
from datastore.embedded import EmbeddedStore
from datastore.store import CallLog, current_calls
from resolvers.context import ApiSettings, Caller, make_context, read_membership
from resolvers.events import ActivityBroker
from schema import build_schema

WATCH = ("subscription { activity { action actor { name githubData { codeQuality { "
         "overallScore } burnoutRisk { riskScore } } } } }")
PEOPLE = [Caller(p["user_id"], demo.DEMO_ORG) for p in demo.PEOPLE]


async def measure(subscribers: int) -> list[tuple[str, CallLog]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "bench.sqlite3")
        try:
            return await _measure(store, subscribers)
        finally:
            await store.close()


async def _measure(store: EmbeddedStore, subscribers: int) -> list[tuple[str, CallLog]]:
    await demo.load_demo(store)
    broker = ActivityBroker()
    broker.attach(store)
    schema = build_schema()
    settings = ApiSettings(cursor_secret=b"bench-cursor-secret-32-bytes-long")
    streams: list[AsyncGenerator[Any, None]] = []
    for i in range(subscribers):
        ctx = await make_context(store, PEOPLE[i % len(PEOPLE)], settings, broker)
        stream = await schema.subscribe(WATCH, context_value=ctx)
        assert hasattr(stream, "__anext__")
        streams.append(stream)  # type: ignore[arg-type]
    delivered: list[asyncio.Future[Any]] = []

    def listen() -> None:
        delivered[:] = [asyncio.ensure_future(s.__anext__()) for s in streams]

    async def one_event(act: Callable[[], Awaitable[None]]) -> CallLog:
        log = CallLog()
        token = current_calls.set(log)  # the deliveries' tasks count into it, not the write
        listen()
        current_calls.reset(token)
        for _ in range(1000):  # every subscription attached to the broker
            if broker.subscribers(demo.DEMO_ORG) == subscribers:
                break
            await asyncio.sleep(0.01)
        await act()
        results = await asyncio.gather(*delivered)
        assert all(r.errors is None for r in results), results[0].errors
        return log

    admin = await make_context(store, PEOPLE[0], settings, broker)

    async def bob_acts() -> None:
        await schema.execute('mutation { updateMyPreferences(input: {language: "de"}) '
                             "{ __typename } }",
                             context_value=await make_context(store, PEOPLE[1], settings,
                                                              broker))

    async def settings_change() -> None:
        await schema.execute("mutation { updateOrganizationSettings(input: "
                             '{timezone: "Europe/Berlin"}) { __typename } }',
                             context_value=admin)

    async def recheck() -> None:
        await read_membership(store, PEOPLE[2])

    measured = [("event about someone else", await one_event(bob_acts)),
                ("event about the organization", await one_event(settings_change))]
    for stream in streams:
        await stream.aclose()
    before = dict(store.totals.calls), store.totals.read_units
    await recheck()
    periodic = CallLog()
    periodic.calls = {op: n - before[0].get(op, 0) for op, n in store.totals.calls.items()
                      if n - before[0].get(op, 0)}
    periodic.read_units = store.totals.read_units - before[1]
    measured.append(("periodic recheck of one socket", periodic))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=30)
    args = parser.parse_args()
    n = args.subscribers
    print(f"{n} subscriptions of one organization, embedded store")
    print(f"{'delivery':34} {'store calls':>12} {'per subscriber':>15}")
    for kind, log in asyncio.run(measure(n)):
        per = 1 if kind.startswith("periodic") else n
        by_op = ", ".join(f"{op} {count}" for op, count in sorted(log.calls.items()))
        print(f"{kind:34} {log.total:>12} {log.total / per:>15.2f}   ({by_op})")


if __name__ == "__main__":
    main()
