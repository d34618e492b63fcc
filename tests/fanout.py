"""Subscriptions across server processes, as a client sees them: a graphql-transport-ws
subscriber on one process, mutations on another, and the store's record of what was written.
Shared by tests/test_processes.py and bench/fanout.py (which prints the latencies)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.web.servers import ServeProcess, devinsights, serve_process, wait_until_ready

ACTIVITY = "subscription Fanout { activity { eventId at action actorId } }"
SET_LANGUAGE = """mutation SetLanguage($language: String!) {
  updateMyPreferences(input: {language: $language}) { __typename }
}"""
NEWEST = """query Newest($n: Int!, $after: String) {
  activity(first: $n, after: $after) { edges { cursor node { eventId } } pageInfo { hasNextPage } }
}"""


@dataclass
class Received:
    event_id: str
    written_at: float  # the writer's clock, epoch seconds
    received_at: float  # ours (the same machine's clock)

    @property
    def latency(self) -> float:
        return self.received_at - self.written_at


@dataclass
class Subscriber:
    """One subscription to the organization's activity on one server."""

    ws: ClientConnection
    received: list[Received] = field(default_factory=list)
    ended: str | None = None

    async def read(self) -> None:
        async for raw in self.ws:
            message = orjson.loads(raw)
            if message["type"] == "next":
                event = message["payload"]["data"]["activity"]
                written = _epoch(event["at"])
                self.received.append(Received(event["eventId"], written, time.time()))
            elif message["type"] in ("error", "complete"):
                self.ended = orjson.dumps(message).decode()
                return

    async def wait_for(self, count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if self.ended is not None:
                raise AssertionError(f"the subscription ended: {self.ended}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} events arrived in "
                                     f"{within} s")
            await asyncio.sleep(0.01)

    def ids(self) -> list[str]:
        return [r.event_id for r in self.received]


def _epoch(at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


@contextlib.asynccontextmanager
async def subscribed(base_url: str, token: str) -> AsyncIterator[Subscriber]:
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init",
                                    "payload": {"Authorization": f"Bearer {token}"}}).decode())
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe",
                                    "payload": {"query": ACTIVITY}}).decode())
        subscriber = Subscriber(ws)
        reader = asyncio.create_task(subscriber.read())
        try:
            yield subscriber
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


class Writer:
    """Mutations on one server, each writing one activity event."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30,
                                        headers={"Authorization": f"Bearer {token}"})
        self.count = 0

    async def mutate(self) -> None:
        self.count += 1
        response = await self.client.post("/graphql", json={
            "query": SET_LANGUAGE, "variables": {"language": f"lang-{self.count}"}})
        body = response.json()
        assert response.status_code == 200, response.text
        assert "errors" not in body, body

    async def newest(self, n: int) -> list[str]:
        """The ids of the organization's ``n`` newest events, oldest first (the store's
        record of what was written), read in pages of 50."""
        ids: list[str] = []
        after: str | None = None
        while len(ids) < n:
            response = await self.client.post("/graphql", json={
                "query": NEWEST, "variables": {"n": min(50, n - len(ids)), "after": after}})
            connection = response.json()["data"]["activity"]
            ids += [edge["node"]["eventId"] for edge in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["edges"][-1]["cursor"]
        return ids[::-1]

    async def close(self) -> None:
        await self.client.aclose()


async def attach(subscriber: Subscriber, writer: Writer, *, settle: float = 1.5,
                 within: float = 30) -> None:
    """Wait until the subscription is live on its server: mutate until one event of ours
    arrives, let any other in flight arrive too, then forget them all."""
    deadline = time.monotonic() + within
    while not subscriber.received:
        assert time.monotonic() < deadline, "the subscription never delivered"
        await writer.mutate()
        with contextlib.suppress(AssertionError):
            await subscriber.wait_for(1, within=1.0)
    await asyncio.sleep(settle)
    subscriber.received.clear()


@contextmanager
def server(env: dict[str, str], *args: str) -> Iterator[ServeProcess]:
    """`devinsights serve` on a free port of 127.0.0.1, in its own process group."""
    with serve_process([*devinsights(), "serve", "--port", "0", *args], env,
                       until="GraphiQL:") as served:
        wait_until_ready(served.url)
        yield served


def store_env(kind: str, tmp: Path, moto_endpoint: str | None, table: str,
              **extra: str) -> dict[str, str]:
    """What a server process needs to reach the one store the test shares between them."""
    env: dict[str, Any] = {"DEVINSIGHTS_EVENTS": "table", **extra}
    if kind == "embedded":
        env["DEVINSIGHTS_SQLITE_PATH"] = str(tmp / "shared.sqlite3")
    else:
        assert moto_endpoint is not None
        env.update(DEVINSIGHTS_STORE="dynamodb", DEVINSIGHTS_DYNAMODB_TABLE=table,
                   DEVINSIGHTS_DYNAMODB_ENDPOINT_URL=moto_endpoint,
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return env


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
