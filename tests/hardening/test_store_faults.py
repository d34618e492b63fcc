"""Store faults injected at the one call function: throttling, unprocessed keys, timeouts in
a transaction, lost responses, version races and outages. Each ends in the right answer or in
one clean GraphQL error, and never in a half-written change."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from datastore import demo, keys
from datastore.dynamodb import DynamoStore, make_client
from datastore.embedded import EmbeddedStore
from datastore.store import Item, Query, RawBatchGet, Store
from resolvers.context import Caller
from tests.api.conftest import ALICE, BOB, CHARLIE, Api, Outcome
from tests.hardening.faults import Faults

ORG = demo.DEMO_ORG
NEWBIE = Caller("user-newbie-500", ORG, "newbie@startup.com", "Nell Newbie")
BUSY = "the data store is busy; retry in a moment"
UNAVAILABLE = "the data store is unavailable; retry in a moment"
WRITES = ("put", "update", "delete", "transact")

READ_EVERYTHING = """{
  organization { name currentMembers owner { id name } }
  members(first: 10) { edges { node { id email invitedBy { id name }
                                      githubData { githubUsername } } } }
  teamReport { reportDate generatedBy { id } topPerformers { name member { id } } }
  member(userId: "user-charlie-003") { id userId name invitedBy { id } }
  githubData(username: "bob-senior") { githubUsername member { id name } }
  activity(first: 5) { edges { node { action actor { id } } } }
}"""


def not_the_context(request: Any) -> bool:
    """Every request starts by loading the caller and the org; that load is the edge's."""
    return not (isinstance(request, RawBatchGet) and keys.organization(ORG) in request.keys)


async def partition(store: Store, org_id: str = ORG) -> list[Item]:
    return await store.query_all(Query(partition=keys.org_pk(org_id), consistent=True))


def the_only_error(outcome: Outcome, code: str, message: str) -> dict[str, Any]:
    assert len(outcome.errors) == 1, outcome.errors
    error = outcome.errors[0]
    assert error["extensions"] == {"code": code, "requestId": "req-test"}
    assert error["message"] == message
    assert set(error) == {"message", "locations", "path", "extensions"}
    return error


@pytest.fixture
def faults(api: Api) -> Iterator[Faults]:
    hook = Faults(api.store)
    yield hook
    api.store.fault_hook = None


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    assert [r.getMessage() for r in caplog.records if r.name == "devinsights.errors"] == []


# Transient faults on every read path: retried, and the answer is the unfaulted one


@pytest.mark.parametrize(("op", "fault", "each"), [
    ("batch_get", "throttle", 4),
    ("query", "throttle", 4),
    ("batch_get", "nothing_processed", 4),
    ("batch_get", "half_processed", 1),
])
async def test_a_read_path_throttled_to_its_last_retry_still_answers_the_query(
        api: Api, faults: Faults, op: str, fault: str, each: int,
        no_error_logs: None) -> None:
    expected = await api.ok(READ_EVERYTHING, ALICE)
    faults.add(op, getattr(faults, fault), each=each)

    outcome = await api.run(READ_EVERYTHING, ALICE)

    assert outcome.errors == []
    assert outcome.data == expected
    rule = faults.rules[0]
    assert set(rule.fired.values()) == {each}  # every call of the path, each retried


async def test_throttled_gets_and_transactions_of_a_mutation_are_retried_and_it_succeeds(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    faults.add(["get", "transact"], faults.throttle, each=4)

    data = await api.ok(f"""mutation {{ changeMemberRole(input: {{userId: "{CHARLIE.user_id}",
                              role: VIEWER}}) {{ __typename ... on ChangeMemberRoleSuccess {{
                              member {{ role version }} }} }} }}""", ALICE)

    assert data == {"changeMemberRole": {"__typename": "ChangeMemberRoleSuccess",
                                         "member": {"role": "VIEWER", "version": 2}}}
    assert faults.injected["get"] == 4  # the one read before the write, retried 4 times
    assert faults.injected["transact"] == 4
    item = await api.store.get(keys.member(ORG, CHARLIE.user_id), consistent=True)
    assert item is not None
    assert (item["role"], item["version"]) == ("viewer", 2)


# Persistent faults: one clean error, after exactly the policy's attempts


@pytest.mark.parametrize(("document", "op", "fault", "path", "data"), [
    ("{ members { edges { node { id } } } }", "query", "throttle", ["members"], None),
    ('{ member(userId: "user-bob-002") { id } }', "batch_get", "throttle", ["member"],
     {"member": None}),
    ('{ member(userId: "user-bob-002") { id } }', "batch_get", "nothing_processed",
     ["member"], {"member": None}),
    ('{ githubData(username: "bob-senior") { githubUsername } }', "batch_get",
     "nothing_processed", ["githubData"], {"githubData": None}),
    ('mutation { changeMemberRole(input: {userId: "user-bob-002", role: ADMIN}) '
     "{ __typename } }", "get", "throttle", ["changeMemberRole"], None),
    ('mutation { inviteMember(input: {email: "zoe@startup.com"}) { __typename } }',
     "transact", "throttle", ["inviteMember"], None),
], ids=["query", "loader", "loader-unprocessed", "analytics-unprocessed", "mutation-get",
        "mutation-transact"])
async def test_persistent_throttling_gives_one_clean_store_busy_error_and_nothing_else(
        api: Api, faults: Faults, document: str, op: str, fault: str, path: list[str],
        data: dict[str, Any] | None, no_error_logs: None) -> None:
    before = await partition(api.store)
    faults.add(op, getattr(faults, fault), when=not_the_context)

    outcome = await api.run(document, ALICE)

    error = the_only_error(outcome, "STORE_BUSY", BUSY)
    assert error["path"] == path
    assert outcome.data == data
    assert faults.injected[op] == api.store.retry.attempts
    faults.clear()
    assert await partition(api.store) == before


# A transaction that times out: all of it or none of it, and a clean error


async def invite_newbie(api: Api) -> str:
    data = await api.ok(f"""mutation {{ inviteMember(input: {{email: "{NEWBIE.email}"}}) {{
                              ... on InviteMemberSuccess {{ token }} }} }}""", ALICE)
    token: str = data["inviteMember"]["token"]
    return token


ACCEPT = """mutation($t: String!) { acceptInvitation(input: {token: $t}) {
              __typename ... on MutationError { code }
              ... on AcceptInvitationSuccess { member { userId } } } }"""


async def acceptance_state(store: Store, invite_id: str) -> dict[str, Any]:
    """Everything an acceptance changes, read straight from the store."""
    org = await store.get(keys.organization(ORG), consistent=True)
    invitation = await store.get(keys.invitation(ORG, invite_id), consistent=True)
    assert org is not None
    assert invitation is not None
    people = await store.query_all(Query(partition=keys.org_pk(ORG), prefix=keys.MEMBER,
                                              consistent=True))
    return {
        "currentMembers": org["currentMembers"],
        "people": len(people),
        "person": await store.get(keys.member(ORG, NEWBIE.user_id), consistent=True)
        is not None,
        "emailClaim": await store.get(keys.member_email(ORG, str(NEWBIE.email)),
                                      consistent=True) is not None,
        "invitation": invitation["status"],
        "acceptedEvents": len([i for i in await partition(store)
                               if i.get("action") == "invitation.accepted"]),
    }


NOT_ACCEPTED = {"currentMembers": 4, "people": 4, "person": False, "emailClaim": False,
                "invitation": "pending", "acceptedEvents": 0}
ACCEPTED = {"currentMembers": 5, "people": 5, "person": True, "emailClaim": True,
            "invitation": "accepted", "acceptedEvents": 1}


async def test_a_transaction_that_timed_out_once_is_retried_with_its_token_and_joins(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    token = await invite_newbie(api)
    invite_id = token.partition(".")[0]
    faults.add("transact", faults.time_out, times=1)
    seen = faults.seen["transact"]

    outcome = await api.run(ACCEPT, NEWBIE, {"t": token})

    assert outcome.errors == []
    assert outcome.data == {"acceptInvitation": {"__typename": "AcceptInvitationSuccess",
                                                 "member": {"userId": NEWBIE.user_id}}}
    assert faults.seen["transact"] - seen == 2  # the timeout, then the retry: same token
    assert await acceptance_state(api.store, invite_id) == ACCEPTED


async def test_a_transaction_that_keeps_timing_out_writes_nothing_and_gives_a_clean_error(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    token = await invite_newbie(api)
    invite_id = token.partition(".")[0]
    before = await partition(api.store)
    faults.add("transact", faults.time_out)

    outcome = await api.run(ACCEPT, NEWBIE, {"t": token})

    the_only_error(outcome, "STORE_UNAVAILABLE", UNAVAILABLE)
    assert outcome.data is None
    assert faults.injected["transact"] == api.store.retry.attempts
    assert await acceptance_state(api.store, invite_id) == NOT_ACCEPTED
    assert await partition(api.store) == before


async def test_a_transaction_whose_answer_was_lost_reports_its_success_and_wrote_once(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    token = await invite_newbie(api)
    invite_id = token.partition(".")[0]
    faults.add("transact", faults.lost_response, times=1)
    seen = faults.seen["transact"]

    outcome = await api.run(ACCEPT, NEWBIE, {"t": token})

    assert outcome.errors == []
    assert outcome.data == {"acceptInvitation": {"__typename": "AcceptInvitationSuccess",
                                                 "member": {"userId": NEWBIE.user_id}}}
    assert faults.injected["transact"] == 1
    assert faults.seen["transact"] - seen == 2
    assert await acceptance_state(api.store, invite_id) == ACCEPTED  # one event, one person


@pytest.mark.parametrize("store", ["embedded"], indirect=True)
async def test_a_disk_error_inside_an_embedded_transaction_rolls_it_back_and_the_retry_applies_it(
        api: Api, faults: Faults, monkeypatch: pytest.MonkeyPatch, no_error_logs: None
        ) -> None:
    token = await invite_newbie(api)
    invite_id = token.partition(".")[0]
    written = itertools.count()
    assert isinstance(api.store, EmbeddedStore)
    real_store_item = EmbeddedStore._store_item

    def fail_on_the_third_write(conn: sqlite3.Connection, item: Item) -> None:
        if next(written) == 2:  # the counter and the person are written by now
            raise sqlite3.OperationalError("disk I/O error")
        real_store_item(conn, item)
    monkeypatch.setattr(api.store, "_store_item", fail_on_the_third_write)
    before_each_attempt: list[dict[str, Any]] = []

    async def note_the_state(_op: str, _request: Any) -> None:
        before_each_attempt.append(await acceptance_state(api.store, invite_id))
    faults.add("transact", note_the_state)

    outcome = await api.run(ACCEPT, NEWBIE, {"t": token})

    assert outcome.errors == []
    assert before_each_attempt == [NOT_ACCEPTED, NOT_ACCEPTED]  # the failed one left nothing
    assert await acceptance_state(api.store, invite_id) == ACCEPTED


# Two writers with the same version: one wins, the other gets the typed error


def settings_update(name: str, version: int) -> str:
    return f"""mutation {{ updateOrganizationSettings(input: {{expectedVersion: {version},
                 name: "{name}"}}) {{ __typename ... on MutationError {{ code }} }} }}"""


def preferences_update(language: str, version: int | None) -> str:
    expected = "" if version is None else f", expectedVersion: {version}"
    return f"""mutation {{ updateMyPreferences(input: {{language: "{language}"{expected}}}) {{
                 __typename ... on MutationError {{ code }} }} }}"""


@pytest.mark.parametrize("racers", [2, 8])
async def test_concurrent_settings_updates_with_one_version_have_exactly_one_winner(
        api: Api, faults: Faults, racers: int) -> None:
    faults.add("transact", faults.barrier(racers), times=racers)
    names = [f"Racer {i}" for i in range(racers)]

    outcomes = await asyncio.gather(*(api.ok(settings_update(n, 1), ALICE) for n in names))

    kinds = [o["updateOrganizationSettings"]["__typename"] for o in outcomes]
    assert sorted(kinds) == ["UpdateOrganizationSettingsSuccess",
                             *["VersionConflict"] * (racers - 1)]
    assert all(o["updateOrganizationSettings"].get("code") in (None, "VERSION_CONFLICT")
               for o in outcomes)
    org = await api.store.get(keys.organization(ORG), consistent=True)
    assert org is not None
    assert org["version"] == 2
    assert org["name"] == names[kinds.index("UpdateOrganizationSettingsSuccess")]


@pytest.mark.parametrize("version", [1, None], ids=["expected-version", "version-read"])
async def test_concurrent_preference_updates_of_one_person_have_exactly_one_winner(
        api: Api, faults: Faults, version: int | None) -> None:
    faults.add("transact", faults.barrier(2), times=2)

    outcomes = await asyncio.gather(api.ok(preferences_update("de", version), BOB),
                                    api.ok(preferences_update("fr", version), BOB))

    kinds = [o["updateMyPreferences"]["__typename"] for o in outcomes]
    assert sorted(kinds) == ["UpdateMyPreferencesSuccess", "VersionConflict"]
    item = await api.store.get(keys.member(ORG, BOB.user_id), consistent=True)
    assert item is not None
    assert item["version"] == 2
    winner = kinds.index("UpdateMyPreferencesSuccess")
    assert item["preferences"]["language"] == ("de", "fr")[winner]


# The store goes away in the middle of a request, then comes back


async def test_a_store_lost_mid_query_gives_a_clean_error_and_the_next_query_succeeds(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    expected = await api.ok(READ_EVERYTHING, ALICE)
    calls = itertools.count()
    faults.add(["get", "batch_get", "query", *WRITES], faults.time_out,
               when=lambda _r: next(calls) > 0)  # after the caller's membership was read

    outcome = await api.run(READ_EVERYTHING, ALICE)

    assert outcome.errors
    assert {e["message"] for e in outcome.errors} == {UNAVAILABLE}
    assert {e["extensions"]["code"] for e in outcome.errors} == {"STORE_UNAVAILABLE"}
    assert outcome.data is None  # members and activity are non-null
    faults.clear()
    assert await api.ok(READ_EVERYTHING, ALICE) == expected


async def test_a_store_lost_mid_mutation_writes_nothing_and_the_next_mutation_succeeds(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    before = await partition(api.store)
    calls = itertools.count()
    faults.add(["get", "batch_get", "query", *WRITES], faults.time_out,
               when=lambda _r: next(calls) > 0)
    document = """mutation { inviteMember(input: {email: "late@startup.com"}) {
                    __typename ... on InviteMemberSuccess { invitation { email } } } }"""

    outcome = await api.run(document, ALICE)

    the_only_error(outcome, "STORE_UNAVAILABLE", UNAVAILABLE)
    faults.clear()
    assert await partition(api.store) == before
    assert await api.ok(document, ALICE) == {"inviteMember": {
        "__typename": "InviteMemberSuccess", "invitation": {"email": "late@startup.com"}}}


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting to it is refused


@pytest.mark.dynamodb_only
async def test_a_dynamodb_endpoint_refusing_connections_mid_query_gives_a_clean_error(
        api: Api, faults: Faults, no_error_logs: None) -> None:
    store = api.store
    assert isinstance(store, DynamoStore)
    expected = await api.ok(READ_EVERYTHING, ALICE)
    live = store.client
    dead = make_client(dataclasses.replace(
        store.settings, endpoint_url=f"http://127.0.0.1:{unused_port()}",
        connect_timeout=0.5))

    async def cut_the_line(_op: str, _request: Any) -> None:
        store.client = dead  # this call and every later one hit a closed port
    faults.add(["query", "batch_get"], cut_the_line, times=1, when=not_the_context)
    try:
        outcome = await api.run(READ_EVERYTHING, ALICE)
    finally:
        store.client = live
        dead.close()

    assert outcome.errors
    assert {e["extensions"]["code"] for e in outcome.errors} == {"STORE_UNAVAILABLE"}
    assert {e["message"] for e in outcome.errors} == {UNAVAILABLE}
    assert await api.ok(READ_EVERYTHING, ALICE) == expected
