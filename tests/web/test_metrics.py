"""GET /metrics: off by default, only for the scraper's token, and every figure is what a
known sequence of requests against a real server did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from datastore import demo, keys
from datastore.dynamodb import DynamoSettings, DynamoStore
from datastore.embedded import EmbeddedStore
from datastore.store import Key, Set
from tests.fake_github import TOKEN, fake_github, person
from tests.web.servers import (
    Served,
    bearer,
    jwk,
    jwks_host,
    serving,
    settings_for,
    token,
)
from web.metrics import MAX_OPERATION_NAMES, Metrics

SCRAPER = "scraper-token-0123456789abcdefghijklmnop"
VIEWER = {"query": "query Viewer { viewer { name } }", "operationName": "Viewer"}


def scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    response = httpx.get(f"{served.url}/metrics", headers=bearer(SCRAPER), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    backend = EmbeddedStore(tmp_path / "db.sqlite3")
    yield backend
    asyncio.run(backend.close())


def test_metrics_are_off_unless_a_token_is_set(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path)) as served:
        anonymous = httpx.get(f"{served.url}/metrics")
        tenant = httpx.get(f"{served.url}/metrics", headers=bearer(token()))

    assert anonymous.status_code == tenant.status_code == 404


@pytest.mark.parametrize("headers", [
    {}, bearer(token()), bearer(SCRAPER[:-1]), bearer(SCRAPER + "x"), {"Authorization": SCRAPER},
    {"Authorization": f"Basic {SCRAPER}"},
], ids=["none", "tenant-jwt", "short", "long", "no-scheme", "basic"])
def test_only_the_scrapers_token_opens_them(tmp_path: Path, headers: dict[str, str]) -> None:
    with serving(settings_for(tmp_path, metrics_token=SCRAPER)) as served:
        refused = httpx.get(f"{served.url}/metrics", headers=headers)
        twice = httpx.get(f"{served.url}/metrics",
                          headers=[("Authorization", f"Bearer {SCRAPER}")] * 2)
        # And the scraper's token opens nothing else: it is not a tenant's token.
        graphql = httpx.post(f"{served.url}/graphql", json=VIEWER, headers=bearer(SCRAPER))

    assert refused.status_code == twice.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "devinsights" not in refused.text
    assert graphql.status_code == 401


def test_a_known_sequence_of_requests_shows_in_the_counters(tmp_path: Path,
                                                             store: EmbeddedStore) -> None:
    settings = settings_for(tmp_path, metrics_token=SCRAPER, quota_flush_calls=1)
    asyncio.run(demo.load_demo(store))
    asyncio.run(store.update(keys.organization(demo.DEMO_ORG),
                             [Set("usage.apiCalls.limit", 4)]))
    with serving(settings, store, demo_data=False) as served, \
            httpx.Client(base_url=served.url, timeout=10) as client:
        before = dict(store.totals.calls)
        before_failed = store.totals.failed
        admin = bearer(token())
        statuses = [client.post("/graphql", json=VIEWER, headers=admin).status_code
                    for _ in range(3)]
        statuses.append(client.post("/graphql", json={"query": "{ __typename }"},
                                    headers=admin).status_code)
        statuses.append(client.post("/graphql", json=VIEWER,  # the quota of 4 is spent
                                    headers=admin).status_code)
        statuses.append(client.post("/graphql", json=VIEWER,
                                    headers=bearer("not-a-token")).status_code)
        statuses.append(client.post(
            "/graphql", json={"query": "query Bad { nope }", "operationName": "Bad"},
            headers={**bearer(token(sub="user-not-a-member")),  # outside the quota
                     "Accept": "application/graphql-response+json"}).status_code)
        samples = scrape(served)
        calls = {op: n - before.get(op, 0) for op, n in store.totals.calls.items()
                 if n > before.get(op, 0)}
        failed = store.totals.failed

    assert statuses == [200, 200, 200, 200, 429, 401, 400]
    requests = "devinsights_requests_total"
    assert value(samples, requests, kind="http", operation="Viewer", status="200") == 3
    assert value(samples, requests, kind="http", operation="anonymous", status="200") == 1
    assert value(samples, requests, kind="http", operation="Viewer", status="429") == 1
    assert value(samples, requests, kind="http", operation="anonymous", status="401") == 1
    assert value(samples, requests, kind="http", operation="Bad", status="400") == 1
    assert total(samples, requests) == 7
    assert value(samples, "devinsights_request_duration_seconds_count", kind="http") == 7
    assert value(samples, "devinsights_request_duration_seconds_bucket", kind="http",
                 le="+Inf") == 7
    assert value(samples, "devinsights_quota_refusals_total") == 1
    # Every store call the server made, by operation, as the store itself counted them.
    stored = {op: total(samples, "devinsights_store_calls_total", operation=op)
              for op in calls}
    assert stored == calls
    assert calls["batch_get"] > 0
    # The quota's conditional update that found the limit spent failed, as the store says.
    assert total(samples, "devinsights_store_calls_total", outcome="failed") == \
        failed - before_failed >= 1
    assert value(samples, "devinsights_websockets_open") == 0


def test_websockets_and_subscriptions_are_gauges(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, metrics_token=SCRAPER)) as served:
        async def watch() -> tuple[dict[Any, float], dict[Any, float]]:
            async with connect(served.ws_url,
                               subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
                await ws.send(orjson.dumps({"type": "connection_init",
                                            "payload": bearer(token())}).decode())
                await ws.recv()
                await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": "subscription Watch { activity { id } }",
                    "operationName": "Watch"}}).decode())
                deadline = time.monotonic() + 5
                while served.app.state.api.broker.subscribers(demo.DEMO_ORG) != 1:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                during = await asyncio.to_thread(scrape, served)
            deadline = time.monotonic() + 5
            while True:
                after = await asyncio.to_thread(scrape, served)
                if value(after, "devinsights_websockets_open") == 0 or \
                        time.monotonic() > deadline:
                    return during, after
                await asyncio.sleep(0.02)

        during, after = asyncio.run(watch())

    assert value(during, "devinsights_websockets_open") == 1
    assert value(during, "devinsights_subscriptions_active") == 1
    assert value(after, "devinsights_websockets_open") == 0
    assert value(after, "devinsights_subscriptions_active") == 0
    assert value(after, "devinsights_requests_total", kind="subscription", operation="Watch",
                 status="cancelled") == 1


def test_jwks_fetches_are_counted(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with jwks_host() as host:
        host.keys = [jwk(key, "key-1")]
        settings = settings_for(tmp_path, jwt_secret=None, jwt_jwks_url=host.url,
                                metrics_token=SCRAPER)
        with serving(settings) as served:
            signed = token(key=key, algorithm="RS256", headers={"kid": "key-1"})
            ok = httpx.post(f"{served.url}/graphql", json=VIEWER, headers=bearer(signed))
            samples = scrape(served)

    assert ok.status_code == 200, ok.text
    assert value(samples, "devinsights_jwks_refreshes_total", outcome="ok") == 1
    assert value(samples, "devinsights_jwks_refreshes_total", outcome="failed") == 0


def test_github_calls_are_counted_by_status(tmp_path: Path) -> None:
    people = ("alice-dev", "bob-senior", "charlie-junior")
    with fake_github({login: person(login, commits=5, pulls=1, reviewed=1)
                      for login in people}) as github:
        settings = settings_for(tmp_path, github_token=TOKEN, github_api_url=github.url,
                                github_refresh_seconds=86400.0, metrics_token=SCRAPER)
        with serving(settings) as served:
            deadline = time.monotonic() + 20
            while not any(e.get("message") == "analytics refreshed"
                          for e in served.logs.entries()):
                assert time.monotonic() < deadline, "the scheduler refreshed nothing"
                time.sleep(0.05)
            samples = scrape(served)

    assert total(samples, "devinsights_github_api_calls_total") == len(github.seen) > 0
    assert value(samples, "devinsights_github_api_calls_total", status="200") > 0


def test_operation_names_are_bounded_labels() -> None:
    metrics = Metrics(SCRAPER)
    for i in range(MAX_OPERATION_NAMES + 50):
        metrics.request("http", [f"Op{i}"], 200, 0.001)
    metrics.request("http", ["not a name; DROP"], 200, 0.001)
    metrics.request("http", ["Op0"], 200, 0.001)

    names = {s.labels["operation"] for f in metrics.registry.collect()
             if f.name == "devinsights_requests" for s in f.samples
             if s.name.endswith("_total")}
    assert len(names) == MAX_OPERATION_NAMES + 1  # the first 200 and "other"
    assert metrics.registry.get_sample_value(
        "devinsights_requests_total", {"kind": "http", "operation": "other",
                                       "status": "200"}) == 51
    assert metrics.registry.get_sample_value(
        "devinsights_requests_total", {"kind": "http", "operation": "Op0",
                                       "status": "200"}) == 2


async def test_consumed_capacity_is_counted_by_store_operation(
        dynamo_settings: DynamoSettings) -> None:
    dynamodb = DynamoStore(dynamo_settings)
    metrics = Metrics(SCRAPER)
    dynamodb.call_observer = metrics.store_call
    item = {"PK": "ORG#m", "SK": "MEMBER#x", "name": "x"}
    try:
        await dynamodb.put(item)
        await dynamodb.get(Key("ORG#m", "MEMBER#x"), consistent=True)
        await dynamodb.get(Key("ORG#m", "MEMBER#x"))
    finally:
        await dynamodb.close()

    sample = metrics.registry.get_sample_value
    assert sample("devinsights_store_capacity_units_total",
                  {"operation": "put", "kind": "write"}) == 1.0
    assert sample("devinsights_store_capacity_units_total",
                  {"operation": "get", "kind": "read"}) == 1.5
    assert sample("devinsights_store_calls_total", {"operation": "get", "outcome": "ok"}) == 2
