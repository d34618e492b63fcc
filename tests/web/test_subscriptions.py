"""GraphQL over WebSocket (graphql-transport-ws) at /graphql, against a real server: subscriptions,
and queries and mutations as graphql-ws clients send them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from datastore import demo, keys
from datastore.demo import DEMO_ORG
from datastore.embedded import EmbeddedStore
from datastore.errors import StoreUnavailable
from datastore.store import Set, Store
from tests.web.servers import APP_ORIGIN, Served, bearer, serving, settings_for, token

PROTOCOL = "graphql-transport-ws"
ACTIVITY = gql("subscription Activity { activity { action actorId target } }")
SET_LANGUAGE = """mutation SetLanguage($language: String!) {
  updateMyPreferences(input: {language: $language}) { __typename }
}"""
CREATE_ORG = """mutation Create($name: String!) {
  createOrganization(input: {name: $name}) { __typename }
}"""


def subscribers(served: Served, org_id: str) -> int:
    count: int = served.app.state.api.broker.subscribers(org_id)
    return count


async def wait_for_subscribers(served: Served, org_id: str, count: int) -> None:
    deadline = time.monotonic() + 5
    while subscribers(served, org_id) != count:
        assert time.monotonic() < deadline, f"expected {count} subscribers of {org_id}"
        await asyncio.sleep(0.02)


async def mutate(served: Served, query: str, variables: dict[str, Any], bearer_token: str
                 ) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables},
                                     headers=bearer(bearer_token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


@asynccontextmanager
async def raw_socket(served: Served, *, origin: str | None = None,
                     subprotocols: list[str] | None = None) -> AsyncIterator[ClientConnection]:
    offered = [Subprotocol(p) for p in ([PROTOCOL] if subprotocols is None else subprotocols)]
    async with connect(served.ws_url, origin=Origin(origin) if origin else None,
                       subprotocols=offered) as ws:
        yield ws


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


# With the gql client


async def test_a_subscriber_gets_its_orgs_events_and_nothing_from_another_org(
        served: Served) -> None:
    transport = WebsocketsTransport(url=served.ws_url, subprotocols=[PROTOCOL],
                                    init_payload=bearer(token()))
    other_org = f"org-other-{uuid.uuid4().hex[:8]}"
    async with Client(transport=transport) as session:
        events = session.subscribe(ACTIVITY)
        first = asyncio.ensure_future(anext(events))
        await wait_for_subscribers(served, DEMO_ORG, 1)

        await mutate(served, CREATE_ORG, {"name": "Elsewhere"},
                     token("user-zed-900", other_org, email="zed@elsewhere.test"))
        await mutate(served, SET_LANGUAGE, {"language": "pt"}, token("user-bob-002"))
        event = await asyncio.wait_for(first, 10)
        await events.aclose()

    assert event["activity"]["actorId"] == "user-bob-002"
    assert event["activity"]["target"] == "user-bob-002"
    await wait_for_subscribers(served, DEMO_ORG, 0)


async def test_a_subscriber_in_another_org_sees_only_that_org(served: Served) -> None:
    other_org = f"org-other-{uuid.uuid4().hex[:8]}"
    zed = token("user-zed-900", other_org, email="zed@elsewhere.test")
    await mutate(served, CREATE_ORG, {"name": "Elsewhere"}, zed)
    transport = WebsocketsTransport(url=served.ws_url, subprotocols=[PROTOCOL],
                                    init_payload=bearer(zed))
    async with Client(transport=transport) as session:
        events = session.subscribe(ACTIVITY)
        first = asyncio.ensure_future(anext(events))
        await wait_for_subscribers(served, other_org, 1)

        await mutate(served, SET_LANGUAGE, {"language": "it"}, token("user-bob-002"))
        await mutate(served, SET_LANGUAGE, {"language": "nl"}, zed)
        event = await asyncio.wait_for(first, 10)
        await events.aclose()

    assert event["activity"]["actorId"] == "user-zed-900"


# The protocol, message by message


async def test_a_bad_token_in_connection_init_closes_with_4403_and_the_reason(
        served: Served) -> None:
    expired = token(exp=int(time.time()) - 300)
    async with raw_socket(served) as ws:
        await send(ws, {"type": "connection_init", "payload": bearer(expired)})
        code, reason = await closed_with(ws)

    assert code == 4403
    assert "expired" in reason
    assert expired not in served.logs.text
    assert expired.split(".")[2] not in served.logs.text


async def test_connection_init_without_a_token_closes_with_4403(served: Served) -> None:
    async with raw_socket(served) as ws:
        await send(ws, {"type": "connection_init"})
        code, reason = await closed_with(ws)

    assert code == 4403
    assert "missing token" in reason


async def test_subscribe_before_connection_init_closes_with_4401(served: Served) -> None:
    async with raw_socket(served) as ws:
        await send(ws, {"id": "1", "type": "subscribe",
                        "payload": {"query": "subscription { activity { id } }"}})
        code, _ = await closed_with(ws)

    assert code == 4401


async def test_a_second_connection_init_closes_with_4429(served: Served) -> None:
    async with raw_socket(served) as ws:
        await send(ws, {"type": "connection_init", "payload": bearer(token())})
        assert (await receive(ws))["type"] == "connection_ack"
        await send(ws, {"type": "connection_init", "payload": bearer(token())})
        code, _ = await closed_with(ws)

    assert code == 4429


async def test_ping_is_answered_with_pong(served: Served) -> None:
    async with raw_socket(served) as ws:
        await send(ws, {"type": "ping"})

        assert await receive(ws) == {"type": "pong"}


async def test_a_duplicate_operation_id_closes_with_4409(served: Served) -> None:
    subscribe = {"id": "same", "type": "subscribe",
                 "payload": {"query": "subscription { activity { id } }"}}
    async with raw_socket(served) as ws:
        await send(ws, {"type": "connection_init", "payload": bearer(token())})
        await receive(ws)
        await send(ws, subscribe)
        await send(ws, subscribe)
        code, _ = await closed_with(ws)

    assert code == 4409


async def test_complete_ends_the_subscription_and_logs_it_once(served: Served) -> None:
    async with raw_socket(served) as ws:
        await send(ws, {"type": "connection_init", "payload": bearer(token())})
        await receive(ws)
        await send(ws, {"id": "a", "type": "subscribe", "payload": {
            "query": "subscription Watch { activity { id } }", "operationName": "Watch"}})
        await wait_for_subscribers(served, DEMO_ORG, 1)
        await send(ws, {"id": "a", "type": "complete"})
        await wait_for_subscribers(served, DEMO_ORG, 0)

    lines = [e for e in served.logs.requests()
             if e["kind"] == "subscription" and e.get("operation") == "Watch"]
    assert len(lines) == 1
    assert lines[0]["org"] == DEMO_ORG
    assert lines[0]["status"] == "cancelled"
    assert lines[0]["storeCalls"] >= 1


async def test_an_invalid_subscription_gets_an_error_message_for_its_id(
        served: Served) -> None:
    async with raw_socket(served) as ws:
        await send(ws, {"type": "connection_init", "payload": bearer(token())})
        await receive(ws)
        await send(ws, {"id": "q", "type": "subscribe",
                        "payload": {"query": "subscription { nope }"}})
        message = await receive(ws)

    assert message["id"] == "q"
    assert message["type"] == "error"
    assert message["payload"][0]["message"]


async def test_a_socket_without_the_subprotocol_closes_with_4406(served: Served) -> None:
    async with raw_socket(served, subprotocols=["graphql-ws"]) as ws:
        code, _ = await closed_with(ws)

    assert code == 4406


async def test_a_socket_from_a_foreign_origin_is_refused_at_the_handshake(
        served: Served) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with raw_socket(served, origin="https://evil.example"):
            pass

    assert refused.value.response.status_code == 403


async def test_a_socket_from_a_configured_origin_is_accepted(served: Served) -> None:
    async with raw_socket(served, origin=APP_ORIGIN) as ws:
        await send(ws, {"type": "ping"})

        assert (await receive(ws))["type"] == "pong"


async def test_a_socket_is_closed_when_its_token_expires(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, jwt_leeway_seconds=0), demo_data=False) as short:
        async with raw_socket(short) as ws:
            await send(ws, {"type": "connection_init",
                            "payload": bearer(token(exp=int(time.time()) + 2))})
            assert (await receive(ws))["type"] == "connection_ack"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 6)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert "expired" in closed.value.rcvd.reason


# Queries and mutations over the socket: one `next`, then `complete`, as over HTTP

VIEWER = "{ viewer { name } }"
SET_FRENCH = 'mutation { updateMyPreferences(input: {language: "fr"}) { __typename } }'


async def acknowledged(ws: ClientConnection, bearer_token: str | None = None) -> None:
    await send(ws, {"type": "connection_init", "payload": bearer(bearer_token or token())})
    assert (await receive(ws))["type"] == "connection_ack"


async def run_once(ws: ClientConnection, op_id: str, query: str, **payload: Any
                   ) -> list[dict[str, Any]]:
    """Every message the operation gets, up to its `complete` or `error`."""
    await send(ws, {"id": op_id, "type": "subscribe", "payload": {"query": query, **payload}})
    messages = [await receive(ws)]
    while messages[-1]["type"] == "next":
        messages.append(await receive(ws))
    return messages


async def test_a_query_a_mutation_and_a_subscription_share_one_socket_of_the_gql_client(
        served: Served) -> None:
    transport = WebsocketsTransport(url=served.ws_url, subprotocols=[PROTOCOL],
                                    init_payload=bearer(token()))
    async with Client(transport=transport) as session:
        viewer = await session.execute(gql(VIEWER))
        events = session.subscribe(gql("subscription { activity { action } }"))
        first = asyncio.ensure_future(anext(events))
        await wait_for_subscribers(served, DEMO_ORG, 1)
        changed = await session.execute(gql(SET_FRENCH))
        event = await asyncio.wait_for(first, 10)
        await events.aclose()

    assert viewer == {"viewer": {"name": "Alice Developer"}}
    assert changed["updateMyPreferences"]["__typename"]
    assert event["activity"]["action"]
    await wait_for_subscribers(served, DEMO_ORG, 0)


async def test_a_query_gets_one_next_with_its_result_then_complete(served: Served) -> None:
    async with raw_socket(served) as ws:
        await acknowledged(ws)
        messages = await run_once(ws, "q1", VIEWER)
        await send(ws, {"type": "ping"})
        still_open = await receive(ws)

    assert messages == [
        {"id": "q1", "type": "next", "payload": {"data": {"viewer": {"name": "Alice Developer"}}}},
        {"id": "q1", "type": "complete"},
    ]
    assert still_open == {"type": "pong"}


async def test_a_mutation_over_the_socket_changes_what_http_then_reads(served: Served) -> None:
    query = 'mutation { updateMyPreferences(input: {language: "de"}) { __typename } }'
    async with raw_socket(served) as ws:
        await acknowledged(ws, token("user-bob-002"))
        messages = await run_once(ws, "m1", query)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        read = await client.post("/graphql", headers=bearer(token("user-bob-002")), json={
            "query": "{ viewer { preferences { language } } }"})

    assert [m["type"] for m in messages] == ["next", "complete"]
    assert "errors" not in messages[0]["payload"]
    assert read.json()["data"]["viewer"]["preferences"]["language"] == "de"


async def test_a_request_error_over_the_socket_is_an_error_message_with_the_http_code(
        served: Served) -> None:
    async with raw_socket(served) as ws:
        await acknowledged(ws)
        invalid = await run_once(ws, "bad", "{ viewer { noSuchField } }")
        unparsable = await run_once(ws, "worse", "{ viewer {")
        unnamed = await run_once(ws, "lost", VIEWER, operationName="Missing")

    for messages, code in ((invalid, "GRAPHQL_VALIDATION_FAILED"),
                           (unparsable, "GRAPHQL_PARSE_FAILED")):
        assert [m["type"] for m in messages] == ["error"]
        assert messages[0]["payload"][0]["extensions"]["code"] == code
    assert [m["type"] for m in unnamed] == ["error"]
    assert "Missing" in unnamed[0]["payload"][0]["message"]


async def test_a_socket_query_is_logged_as_one_line_like_a_request(served: Served) -> None:
    async with raw_socket(served) as ws:
        await acknowledged(ws)
        await run_once(ws, "named", "query LoggedOverSocket { viewer { name } }",
                       operationName="LoggedOverSocket")

    deadline = time.monotonic() + 5
    while not (lines := [e for e in served.logs.requests()
                         if e.get("operation") == "LoggedOverSocket"]):
        assert time.monotonic() < deadline, "the operation's line comes when it ends"
        await asyncio.sleep(0.02)
    assert len(lines) == 1
    assert lines[0]["kind"] == "websocket"
    assert lines[0]["operationType"] == "query"
    assert lines[0]["org"] == DEMO_ORG
    assert lines[0]["status"] == "complete"
    assert lines[0]["storeCalls"] >= 1


def test_socket_queries_count_against_the_same_quota_as_http(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, quota_flush_calls=1)
    store = EmbeddedStore(settings.sqlite_path)
    asyncio.run(demo.load_demo(store))
    asyncio.run(store.update(keys.organization(DEMO_ORG), [Set("usage.apiCalls.limit", 3)]))

    async def over_socket(served: Served, times: int) -> list[list[dict[str, Any]]]:
        async with raw_socket(served) as ws:
            await acknowledged(ws)
            return [await run_once(ws, f"q{i}", VIEWER) for i in range(times)]

    try:
        with serving(settings, store) as served:
            with httpx.Client(base_url=served.url, timeout=10) as client:
                assert client.post("/graphql", json={"query": VIEWER},
                                   headers=bearer(token())).status_code == 200
            answered = asyncio.run(over_socket(served, 3))
    finally:
        asyncio.run(store.close())

    assert [[m["type"] for m in messages] for messages in answered] == [
        ["next", "complete"], ["next", "complete"], ["error"]]
    refused = answered[2][0]["payload"][0]
    assert refused["extensions"]["code"] == "QUOTA_EXCEEDED"
    assert refused["extensions"]["retryAfter"] > 0


async def test_an_unexpected_error_over_the_socket_is_masked_with_the_request_id(
        held_store: tuple[Served, Store]) -> None:
    served, store = held_store

    async def fail_queries(op: str, request: object) -> None:
        if op == "query":
            raise RuntimeError("disk on fire: secret detail")

    store.fault_hook = fail_queries
    async with raw_socket(served) as ws:
        await acknowledged(ws)
        messages = await run_once(ws, "m", "{ members { edges { node { name } } } }")

    assert [m["type"] for m in messages] == ["next", "complete"]
    error = messages[0]["payload"]["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert served.logs.request(error["extensions"]["requestId"])["kind"] == "websocket"
    assert "secret detail" not in orjson.dumps(messages).decode()


async def test_a_store_that_fails_before_a_socket_query_runs_is_an_error_message(
        held_store: tuple[Served, Store]) -> None:
    served, store = held_store

    async def unavailable(op: str, request: object) -> None:
        raise StoreUnavailable("the embedded store failed: disk I/O error")

    store.fault_hook = unavailable
    async with raw_socket(served) as ws:
        await acknowledged(ws)
        messages = await run_once(ws, "v", VIEWER)

    assert [m["type"] for m in messages] == ["error"]
    assert messages[0]["payload"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "disk" not in orjson.dumps(messages).decode()


async def test_a_demo_server_accepts_sockets_from_local_frontends_only(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, allow_local_origins=True), demo_data=False) as demo:
        async with raw_socket(demo, origin="http://localhost:5173") as ws:
            await send(ws, {"type": "ping"})
            assert (await receive(ws))["type"] == "pong"
        with pytest.raises(InvalidStatus) as refused:
            async with raw_socket(demo, origin="http://localhost.evil.example:5173"):
                pass
    assert refused.value.response.status_code == 403


def test_a_subscription_counts_once_when_it_starts_and_only_for_an_active_member(
        tmp_path: Path) -> None:
    settings = settings_for(tmp_path, quota_flush_calls=1)
    store = EmbeddedStore(settings.sqlite_path)
    asyncio.run(demo.load_demo(store))
    asyncio.run(store.update(keys.organization(DEMO_ORG), [Set("usage.apiCalls.limit", 2)]))
    subscribe = {"query": "subscription { activity { action } }"}

    async def start(served: Served, bearer_token: str, op_id: str) -> dict[str, Any] | None:
        async with raw_socket(served) as ws:
            await acknowledged(ws, bearer_token)
            await send(ws, {"id": op_id, "type": "subscribe", "payload": subscribe})
            try:
                return await asyncio.wait_for(receive(ws), 0.5)
            except TimeoutError:
                return None  # running: waiting for events

    async def main(served: Served) -> list[dict[str, Any] | None]:
        stranger = [await start(served, token(sub="user-removed-999"), f"s{i}")
                    for i in range(3)]
        return [*stranger, *[await start(served, token(), f"a{i}") for i in range(3)]]

    try:
        with serving(settings, store) as served:
            answers = asyncio.run(main(served))
            usage = asyncio.run(store.get(keys.organization(DEMO_ORG)))
    finally:
        asyncio.run(store.close())
    strangers, admin = answers[:3], answers[3:]
    # Not a member: refused by the field's permission, counted nowhere.
    assert all(a is not None and a["type"] == "error"
               and a["payload"][0]["extensions"]["code"] == "FORBIDDEN"
               for a in strangers), strangers
    assert admin[:2] == [None, None]
    assert admin[2] is not None
    assert admin[2]["type"] == "error"
    assert admin[2]["payload"][0]["extensions"]["code"] == "QUOTA_EXCEEDED"
    assert usage is not None
    assert usage["usage"]["apiCalls"]["current"] == 2


# Every delivery under the facts of its moment (issue 11, finding 1)

BOB, CHARLIE = "user-bob-002", "user-charlie-003"
WATCH = ("subscription { activity { action target actor { userId "
         "githubData { burnoutRisk { riskScore } } } } }")
BOB_ACTS = 'mutation { updateMyPreferences(input: {language: "%s"}) { __typename } }'
SET_ROLE = """mutation ($user: ID!, $role: Role!) {
  changeMemberRole(input: {userId: $user, role: $role}) { __typename } }"""
SUSPEND = """mutation ($user: ID!) { suspendMember(input: {userId: $user}) { __typename } }"""
SETTINGS = """mutation ($allow: Boolean!) {
  updateOrganizationSettings(input: {allowMembersViewOthers: $allow}) { __typename } }"""


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Served]:
    """A server of the test's own: these tests change people's roles and settings."""
    with serving(settings_for(tmp_path)) as s:
        yield s


async def watching(served: Served, ws: ClientConnection, who: str) -> None:
    await acknowledged(ws, token(sub=who))
    await send(ws, {"id": "watch", "type": "subscribe", "payload": {"query": WATCH}})
    await wait_for_subscribers(served, DEMO_ORG, 1)


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "next", message
    event: dict[str, Any] = message["payload"]["data"]["activity"]
    return event


async def bob_acts(served: Served, ws: ClientConnection, language: str) -> dict[str, Any]:
    await mutate(served, BOB_ACTS % language, {}, token(sub=BOB))
    event = await next_event(ws)
    assert event["actor"]["userId"] == BOB
    return event


def risk(event: dict[str, Any]) -> Any:
    data = event["actor"]["githubData"]
    return None if data is None else data["burnoutRisk"]["riskScore"]


async def test_a_demoted_subscriber_gets_the_next_event_as_a_viewer(own: Served) -> None:
    served = own
    await mutate(served, SET_ROLE, {"user": CHARLIE, "role": "ADMIN"}, token())
    async with raw_socket(served) as ws:
        await watching(served, ws, CHARLIE)
        assert risk(await bob_acts(served, ws, "de")) is not None  # an admin sees Bob's
        await mutate(served, SET_ROLE, {"user": CHARLIE, "role": "VIEWER"}, token())
        demoted = await next_event(ws)
        after = await bob_acts(served, ws, "fr")
    assert demoted["action"] == "member.role_changed"
    assert demoted["target"] == CHARLIE
    assert risk(after) is None


async def test_switching_off_members_view_others_applies_to_open_subscriptions(
        own: Served) -> None:
    served = own
    async with raw_socket(served) as ws:
        await watching(served, ws, CHARLIE)
        assert risk(await bob_acts(served, ws, "de")) is not None
        await mutate(served, SETTINGS, {"allow": False}, token())
        assert (await next_event(ws))["action"] == "organization.settings_updated"
        after = await bob_acts(served, ws, "fr")
    assert risk(after) is None


async def test_a_suspended_subscriber_gets_an_error_and_the_socket_closes_4403(
        own: Served) -> None:
    served = own
    async with raw_socket(served) as ws:
        await watching(served, ws, CHARLIE)
        await mutate(served, SUSPEND, {"user": CHARLIE}, token())
        ended = await receive(ws)
        code, reason = await closed_with(ws)
    assert ended["type"] == "error"
    assert ended["id"] == "watch"
    assert ended["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "suspended" in ended["payload"][0]["message"]
    assert code == 4403
    assert "your membership of this organization is suspended" in reason
    line = next(r for r in served.logs.requests() if r.get("kind") == "subscription")
    assert line["status"] == "ended"


def test_a_change_no_event_announced_reaches_open_subscriptions_within_the_recheck(
        tmp_path: Path) -> None:
    """Written by another process (here: straight to the store), so no event of it reaches
    this one: the periodic recheck finds it."""
    settings = settings_for(tmp_path, subscription_recheck_seconds=0.3)
    store = EmbeddedStore(settings.sqlite_path)
    asyncio.run(demo.load_demo(store))

    async def main(served: Served) -> tuple[Any, Any, dict[str, Any], tuple[int, str]]:
        async with raw_socket(served) as ws:
            await watching(served, ws, CHARLIE)
            before = risk(await bob_acts(served, ws, "de"))
            await store.update(keys.member(DEMO_ORG, CHARLIE), [Set("role", "viewer")])
            await asyncio.sleep(0.4)
            after = risk(await bob_acts(served, ws, "fr"))
            await store.delete(keys.member(DEMO_ORG, CHARLIE))
            # No event this time: the socket's own recheck ends it.
            return before, after, await receive(ws), await closed_with(ws)

    try:
        with serving(settings, store) as served:
            before, after, ended, (code, reason) = asyncio.run(main(served))
    finally:
        asyncio.run(store.close())
    assert before is not None
    assert after is None
    assert ended["type"] == "error"
    assert ended["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    assert code == 4403
    assert "no longer a member" in reason


async def test_an_unexpected_error_in_an_event_is_masked_like_a_query_s(
        held_store: tuple[Served, Store]) -> None:
    served, store = held_store
    async with raw_socket(served) as ws:
        await acknowledged(ws)
        await send(ws, {"id": "w", "type": "subscribe",
                        "payload": {"query": "subscription { activity { action actor { name "
                                             "} } }"}})
        await wait_for_subscribers(served, DEMO_ORG, 1)

        async def fail_reads(op: str, request: Any) -> None:
            # The event's `actor` (an eventually consistent read), not Bob's membership.
            if op == "batch_get" and not request.consistent:
                raise RuntimeError("disk on fire: secret detail")

        store.fault_hook = fail_reads
        await mutate(served, BOB_ACTS % "de", {}, token(sub=BOB))
        message = await receive(ws)
    store.fault_hook = None
    assert message["type"] == "next"
    error = message["payload"]["errors"][0]
    assert error.get("extensions", {}).get("code") == "INTERNAL_SERVER_ERROR", message
    assert "secret detail" not in orjson.dumps(message).decode()
    # The log line says where, so the masked error can be traced (finding 13).
    logged = [orjson.loads(line) for line in served.logs.lines
              if '"unexpected error"' in line]
    assert len(logged) == 1
    assert logged[0]["requestId"] == error["extensions"]["requestId"]
    assert logged[0]["path"] == ["activity", "actor"]
    assert logged[0]["errorType"] == "RuntimeError"
    assert logged[0]["where"].endswith(".py:" + logged[0]["where"].rsplit(":", 1)[1])
    assert "secret detail" not in served.logs.text


async def test_a_token_in_the_socket_url_reaches_no_log_line(served: Served) -> None:
    secret = token()
    url = f"{served.ws_url}?token={secret}&client=app"
    async with connect(url, subprotocols=[Subprotocol(PROTOCOL)]) as ws:
        await acknowledged(ws)
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"
    deadline = time.monotonic() + 5
    while "[accepted]" not in served.logs.text:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert "/graphql?token=[redacted]&client=[redacted]" in served.logs.text
    for part in secret.split("."):
        assert part not in served.logs.text
