"""Several server processes on one store: what one writes reaches the subscribers of all,
each event once, through the store (the DynamoDB table's stream, the embedded activity log);
`serve --workers N` answers alike whichever worker a request reaches."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fanout import Subscriber, Writer, attach, server, store_env, subscribed
from tests.web.servers import SECRET, cli_env, run_cli, token

EVENTS = 10


@pytest.fixture(params=["embedded", "dynamodb"])
def shared_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of server processes that share one store, with the demo loaded."""
    moto = request.getfixturevalue("moto_endpoint") if request.param == "dynamodb" else None
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET,
                  **store_env(request.param, tmp_path, moto, f"fanout-{uuid.uuid4().hex[:8]}"))
    if moto is not None:
        created = run_cli("create-table", env=env)
        assert created.returncode == 0, created.stderr
    loaded = run_cli("demo-data", env=env)
    assert loaded.returncode == 0, loaded.stderr
    return env


async def deliver_each_once(writer: Writer, *subscribers: Subscriber) -> list[str]:
    """Write EVENTS events; every subscriber gets exactly them, in order, once each."""
    for _ in range(EVENTS):
        await writer.mutate()
    for subscriber in subscribers:
        await subscriber.wait_for(EVENTS, within=20)
    await asyncio.sleep(1.5)  # a second delivery, were there one, arrives by now
    written = await writer.newest(EVENTS)
    for subscriber in subscribers:
        assert subscriber.ids() == written
    return written


def test_a_mutation_on_one_process_reaches_subscribers_on_both_once_and_after_a_restart(
        shared_env: dict[str, str]) -> None:
    admin = token()
    with ExitStack() as stack:
        a = stack.enter_context(server(shared_env))
        b_stack = stack.enter_context(ExitStack())
        b = b_stack.enter_context(server(shared_env))

        async def before_restart() -> None:
            writer = Writer(a.url, admin)
            try:
                async with subscribed(b.url, admin) as on_b, \
                        subscribed(a.url, admin) as on_a:
                    await attach(on_b, writer)
                    await attach(on_a, writer)
                    on_b.received.clear()
                    await deliver_each_once(writer, on_b, on_a)
            finally:
                await writer.close()

        asyncio.run(before_restart())
        b_stack.close()  # B stops; A goes on writing

        async def while_b_is_down() -> list[str]:
            writer = Writer(a.url, admin)
            try:
                for _ in range(3):
                    await writer.mutate()
                return await writer.newest(3)
            finally:
                await writer.close()

        missed = asyncio.run(while_b_is_down())
        b = stack.enter_context(server(shared_env))

        async def after_restart() -> None:
            writer = Writer(a.url, admin)
            try:
                async with subscribed(b.url, admin) as on_b:
                    await attach(on_b, writer)
                    written = await deliver_each_once(writer, on_b)
                    assert not set(missed) & set(written)
            finally:
                await writer.close()

        asyncio.run(after_restart())


def test_serve_with_two_workers_answers_alike_and_fans_out(
        shared_env: dict[str, str]) -> None:
    admin = token()
    query = {"query": "{ organization { name currentMembers } members(first: 2) "
                      "{ edges { cursor node { name } } } }"}
    with server(shared_env, "--workers", "2") as served:
        answers = []
        with httpx.Client(base_url=served.url, timeout=10,
                          headers={"Authorization": f"Bearer {admin}"}) as client:
            for _ in range(20):
                # A new connection each time: the kernel spreads them over the workers.
                response = client.post("/graphql", json=query, headers={"Connection": "close"})
                assert response.status_code == 200, response.text
                answers.append(response.json())
            cursor = answers[0]["data"]["members"]["edges"][-1]["cursor"]
            pages = [client.post("/graphql", headers={"Connection": "close"}, json={
                "query": "query($after: String!) { members(first: 2, after: $after) "
                         "{ edges { node { name } } } }", "variables": {"after": cursor}})
                for _ in range(6)]
        workers = {orjson.loads(line)["pid"] for line in served.log_lines
                   if '"Started server process' in line}
        answered_by = {orjson.loads(line)["pid"] for line in served.log_lines
                       if '"logger":"devinsights.request"' in line}

        async def fan_out() -> None:
            writer = Writer(served.url, admin)
            try:
                async with subscribed(served.url, admin) as first, \
                        subscribed(served.url, admin) as second:
                    await attach(first, writer)
                    await attach(second, writer)
                    first.received.clear()
                    await deliver_each_once(writer, first, second)
            finally:
                await writer.close()

        asyncio.run(fan_out())

    assert len(workers) == 2
    assert answered_by == workers  # both answered: what follows holds whichever did
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["data"]["organization"]["currentMembers"] == 4
    assert {p.status_code for p in pages} == {200}
    assert all("errors" not in p.json() for p in pages)
    assert len({orjson.dumps(p.json(), option=orjson.OPT_SORT_KEYS) for p in pages}) == 1
