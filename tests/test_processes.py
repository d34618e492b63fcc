"""Several server processes on one store: what one writes reaches the subscribers of all,
each event once, through the store (the DynamoDB table's stream, the embedded activity log);
`serve --workers N` answers alike whichever worker a request reaches."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from datastore import demo, keys
from server import open_store
from tests.fanout import Subscriber, Writer, attach, server, store_env, subscribed
from tests.web.servers import SECRET, ServeProcess, cli_env, run_cli, token, wait_until_ready
from web import settings as config

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


def test_serve_with_two_workers_fans_out_to_subscribers_of_either(
        shared_env: dict[str, str]) -> None:
    admin = token()
    with server(shared_env, "--workers", "2") as served:

        async def fan_out() -> None:
            writer = Writer(served.url, admin)
            try:
                async with subscribed(served.url, admin) as first, \
                        subscribed(served.url, admin) as second, \
                        subscribed(served.url, admin) as third:
                    for subscriber in (first, second, third):
                        await attach(subscriber, writer)
                    first.received.clear()
                    second.received.clear()
                    await deliver_each_once(writer, first, second, third)
            finally:
                await writer.close()

        asyncio.run(fan_out())


MAIN_CASES: list[tuple[str, dict[str, object], int]] = [
    # (what, request, status): the HTTP suite's main cases, each sent to whichever worker.
    ("query over POST", {"json": {"query": "{ viewer { name } }"}}, 200),
    ("query over GET", {"method": "GET", "params": {"query": "{ viewer { name } }"}}, 200),
    ("request error, graphql-response+json",
     {"json": {"query": "{ nope }"}, "accept": "application/graphql-response+json"}, 400),
    ("mutation over GET", {"method": "GET", "params": {
        "query": "mutation { updateMyPreferences(input: {language: \"x\"}) { __typename } }"}},
     405),
    ("batch", {"json": [{"query": "{ viewer { name } }"}, {"query": "{ __typename }"}]}, 200),
    ("no token", {"json": {"query": "{ viewer { name } }"}, "token": None}, 401),
    ("malformed body", {"content": b"{", "content_type": "application/json"}, 400),
]


async def send(client: httpx.AsyncClient, admin: str, request: dict[str, object]
               ) -> httpx.Response:
    headers = {"Connection": "close"}  # a new connection: the kernel picks the worker
    if request.get("token", admin) is not None:
        headers["Authorization"] = f"Bearer {admin}"
    if "accept" in request:
        headers["Accept"] = str(request["accept"])
    if "content" in request:
        headers["Content-Type"] = str(request["content_type"])
        return await client.post("/graphql", content=request["content"],  # type: ignore[arg-type]
                                 headers=headers)
    if request.get("method") == "GET":
        return await client.get("/graphql", params=request["params"],  # type: ignore[arg-type]
                                headers=headers)
    return await client.post("/graphql", json=request["json"], headers=headers)


def request_pids(served: ServeProcess) -> set[int]:
    return {orjson.loads(line)["pid"] for line in list(served.log_lines)
            if '"logger":"devinsights.request"' in line}


BURST = 8
PAGE = "query Page($a: String) { members(first: 2, after: $a) { edges { cursor node { name } } } }"


def test_serve_with_two_workers_passes_the_main_http_cases_and_counts_one_quota(
        shared_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    admin = token()
    env = {**shared_env, "DEVINSIGHTS_QUOTA_FLUSH_CALLS": "1"}

    async def run(served: ServeProcess) -> tuple[int, dict[str, list[httpx.Response]],
                                                 list[int]]:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            # Concurrent connections until both workers have answered: an idle worker
            # takes a connection while the other is busy.
            bursts = 0
            while len(request_pids(served)) < 2:
                assert bursts < 50, "one worker answered every request"
                bursts += 1
                await asyncio.gather(*(send(client, admin, MAIN_CASES[0][1])
                                       for _ in range(BURST)))
                await asyncio.sleep(0.05)
            results = {what: list(await asyncio.gather(*(send(client, admin, request)
                                                         for _ in range(BURST))))
                       for what, request, _status in MAIN_CASES}
            # A cursor signed by one worker opens the next page on any.
            first_page = await send(client, admin, {"json": {"query": PAGE}})
            cursor = first_page.json()["data"]["members"]["edges"][-1]["cursor"]
            next_page = {"json": {"query": PAGE, "variables": {"a": cursor}}}
            results["next page"] = list(await asyncio.gather(
                *(send(client, admin, next_page) for _ in range(BURST))))
            health = [(await client.get(path, headers={"Connection": "close"})).status_code
                      for path in ("/healthz", "/readyz") for _ in range(3)]
        return bursts, results, health

    with server(env, "--workers", "2") as served:
        bursts, results, health = asyncio.run(run(served))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto's, when on DynamoDB
        if name in env:
            monkeypatch.setenv(name, env[name])
    current = asyncio.run(api_calls(env))  # every worker flushed its count as it stopped

    assert health == [200] * 6
    for what, _request, status in [*MAIN_CASES, ("next page", {}, 200)]:
        responses = results[what]
        assert [r.status_code for r in responses] == [status] * BURST, what
        assert len({r.content.replace(r.headers.get("x-request-id", "").encode(), b"")
                    for r in responses}) == 1, what  # the same answer from every worker
    # Counted in the store, so exact whichever worker answered: each operation of an active
    # member counts, refused or not (a batch of two counts two); no token, no body: none.
    assert "errors" not in results["next page"][0].json()
    assert current == bursts * BURST + BURST * (1 + 1 + 1 + 1 + 2) + 1 + BURST


async def api_calls(env: dict[str, str]) -> int:
    store = open_store(config.from_env(env))
    try:
        item = await store.get(keys.organization(demo.DEMO_ORG), consistent=True)
    finally:
        await store.close()
    assert item is not None
    calls: int = item["usage"]["apiCalls"]["current"]
    return calls


def worker_pids(served: ServeProcess) -> set[int]:
    return {orjson.loads(line)["pid"] for line in list(served.log_lines)
            if '"Application startup complete' in line}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_are_replaced_when_one_dies_and_all_stop_with_the_parent(
        tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET,
                  **store_env("embedded", tmp_path, None, "unused"))
    with server(env, "--workers", "2") as served:
        deadline = time.monotonic() + 30
        while len(worker_pids(served)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.1)
        victim = min(worker_pids(served))
        os.kill(victim, signal.SIGKILL)
        while len(worker_pids(served) - {victim}) < 2:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.1)
        wait_until_ready(served.url)
        workers = worker_pids(served) - {victim}

        served.process.send_signal(signal.SIGTERM)  # the parent only, as an operator does
        code = served.process.wait(timeout=30)

    assert code == 0
    assert not any(alive(pid) for pid in workers)


def test_metrics_under_workers_sum_every_worker(tmp_path: Path) -> None:
    scraper = "scraper-token-0123456789abcdefghijklmnop"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET, DEVINSIGHTS_METRICS_TOKEN=scraper,
                  DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "m.sqlite3"), TMPDIR=str(scratch))
    assert run_cli("demo-data", env=env).returncode == 0
    admin = token()
    viewer = {"json": {"query": "query Viewer { viewer { name } }",
                       "operationName": "Viewer"}}

    async def run(served: ServeProcess) -> tuple[int, list[float]]:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            sent = 0
            while len(request_pids(served)) < 2:
                assert sent < 50 * BURST, "one worker answered every request"
                await asyncio.gather(*(send(client, admin, viewer) for _ in range(BURST)))
                sent += BURST
            scrapes = []
            for _ in range(4):  # new connections: whichever worker answers sums them all
                page = await client.get("/metrics", headers={
                    "Authorization": f"Bearer {scraper}", "Connection": "close"})
                assert page.status_code == 200, page.text
                scrapes.append(next(
                    s.value for f in text_string_to_metric_families(page.text)
                    for s in f.samples if s.name == "devinsights_requests_total"
                    and s.labels == {"kind": "http", "operation": "Viewer", "status": "200"}))
        return sent, scrapes

    with server(env, "--workers", "2") as served:
        assert len(list(scratch.glob("devinsights-metrics-*"))) == 1
        sent, scrapes = asyncio.run(run(served))

    assert scrapes == [sent] * 4
    assert list(scratch.glob("devinsights-metrics-*")) == []  # removed when serving ends
