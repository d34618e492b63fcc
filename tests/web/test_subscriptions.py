"""Subscriptions over WebSocket (graphql-transport-ws) at /graphql, against a real server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
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

from datastore.demo import DEMO_ORG
from tests.web.servers import APP_ORIGIN, Served, bearer, serving, settings_for, token

PROTOCOL = "graphql-transport-ws"
ACTIVITY = gql("subscription Activity { activity { action actorId target } }")
SET_LANGUAGE = """mutation SetLanguage($language: String!) {
  updateMyPreferences(input: {language: $language}) { __typename }
}"""
CREATE_ORG = """mutation Create($name: String!) {
  createOrganization(name: $name) { __typename }
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
