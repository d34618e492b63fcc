"""Run GraphQL operations against the real schema and a real store, as any caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry

from datastore import demo, members
from datastore.actors import Actor, acting
from datastore.store import CallLog, Store, current_calls
from resolvers.context import ApiSettings, Caller, make_context
from resolvers.events import ActivityBroker
from schema import build_schema
from tests.conftest import behave_like_dynamodb

ALICE = Caller("user-abc-123", demo.DEMO_ORG, "alice@startup.com", "Alice Developer")
BOB = Caller("user-bob-002", demo.DEMO_ORG, "bob@startup.com", "Bob Senior")
CHARLIE = Caller("user-charlie-003", demo.DEMO_ORG, "charlie@startup.com", "Charlie Junior")
DIANA = Caller("user-diana-004", demo.DEMO_ORG, "diana@startup.com", "Diana CTO")

_SCHEMA = build_schema()


@dataclass
class Outcome:
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    calls: CallLog

    @property
    def codes(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("code")) for e in self.errors]


@dataclass
class Api:
    store: Store
    broker: ActivityBroker
    settings: ApiSettings
    schema: strawberry.Schema
    # Lets every write so far reach every replica (DynamoDB's eventual consistency): call it
    # between writing what a test sets up and reading it back through eventual reads.
    settle: Callable[[], None] = lambda: None

    async def run(self, query: str, caller: Caller = ALICE,
                  variables: dict[str, Any] | None = None) -> Outcome:
        log = CallLog()
        token = current_calls.set(log)
        try:
            ctx = await make_context(self.store, caller, self.settings, self.broker,
                                     request_id="req-test", calls=log)
            result = await self.schema.execute(query, variable_values=variables,
                                               context_value=ctx)
        finally:
            current_calls.reset(token)
        errors = [e.formatted for e in result.errors or []]
        return Outcome(result.data, errors, log)

    async def ok(self, query: str, caller: Caller = ALICE,
                 variables: dict[str, Any] | None = None) -> dict[str, Any]:
        outcome = await self.run(query, caller, variables)
        assert not outcome.errors, outcome.errors
        assert outcome.data is not None
        return outcome.data


@pytest.fixture
async def api(request: pytest.FixtureRequest, store: Store) -> Api:
    await demo.load_demo(store)
    settle = behave_like_dynamodb(request, store)
    broker = ActivityBroker()
    broker.attach(store)
    return Api(store, broker, ApiSettings(cursor_secret=b"test-cursor-secret-32-bytes-long"),
              _SCHEMA, settle)


async def acting_as(api: Api, caller: Caller) -> Actor:
    """``caller`` as the actor of a change made straight through the datastore."""
    member = await members.get(api.store, caller.org_id, caller.user_id, consistent=True)
    assert member is not None, f"{caller.user_id} is not a member"
    return acting(member)

