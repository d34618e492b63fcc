"""Per-organization API quotas: counted exactly in the store, refused over the limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from datastore import demo, keys
from datastore.embedded import EmbeddedStore
from datastore.store import Set
from tests.web.servers import bearer, serving, settings_for, token
from web.quota import QuotaExceeded, UsageMeter, month_of, seconds_to_next_month

NOW = 1_764_000_000.0  # 2025-11-24


async def _calls(store: EmbeddedStore) -> tuple[int, str]:
    item = await store.get(keys.organization(demo.DEMO_ORG), consistent=True)
    assert item is not None
    usage = item["usage"]["apiCalls"]
    return usage["current"], usage["period"]


async def test_counts_every_call_exactly_across_two_processes_sharing_the_store(
        tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first, second = EmbeddedStore(path), EmbeddedStore(path)
    try:
        await demo.load_demo(first)
        meters = [UsageMeter(lambda s=s: s, flush_calls=7, clock=lambda: NOW)  # type: ignore[misc]
                  for s in (first, second)]
        await asyncio.gather(*(meters[i % 2].admit(demo.DEMO_ORG) for i in range(301)))
        for meter in meters:
            await meter.flush_all()
        assert await _calls(first) == (301, month_of(NOW))
    finally:
        await first.close()
        await second.close()


async def test_refuses_calls_over_the_limit_until_the_month_ends(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "db.sqlite3")
    now = [NOW]
    try:
        await demo.load_demo(store)
        await store.update(keys.organization(demo.DEMO_ORG), [Set("usage.apiCalls.limit", 5)])
        meter = UsageMeter(lambda: store, flush_calls=1, clock=lambda: now[0])
        for _ in range(5):
            await meter.admit(demo.DEMO_ORG)
        with pytest.raises(QuotaExceeded, match="all 5 API calls of 2025-11") as refused:
            await meter.admit(demo.DEMO_ORG)
        assert refused.value.retry_after == seconds_to_next_month(NOW)
        assert await _calls(store) == (5, "2025-11")
        now[0] += seconds_to_next_month(NOW)
        await meter.admit(demo.DEMO_ORG)
        assert await _calls(store) == (1, "2025-12")
    finally:
        await store.close()


def test_the_server_answers_429_with_retry_after_over_the_quota(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, quota_flush_calls=1)
    store = EmbeddedStore(settings.sqlite_path)
    asyncio.run(demo.load_demo(store))
    asyncio.run(store.update(keys.organization(demo.DEMO_ORG),
                             [Set("usage.apiCalls.limit", 3)]))
    headers = {**bearer(token()), "Content-Type": "application/json"}
    body = {"query": "{ viewer { id } }"}
    try:
        with serving(settings, store) as served, httpx.Client(base_url=served.url) as client:
            statuses = [client.post("/graphql", json=body, headers=headers).status_code
                        for _ in range(4)]
            refused = client.post("/graphql", json=body, headers=headers)
    finally:
        asyncio.run(store.close())
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "QUOTA_EXCEEDED"
    assert "data" not in refused.json()


async def test_calls_for_an_organization_that_does_not_exist_cost_no_store_write_each(
        tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "db.sqlite3")
    try:
        meter = UsageMeter(lambda: store, flush_calls=1000, clock=lambda: NOW)
        for _ in range(50):
            await meter.admit("org-not-created-yet")
        assert store.totals.calls.get("update", 0) <= 3  # the first flush's attempts only
        assert await store.get(keys.organization("org-not-created-yet")) is None
    finally:
        await store.close()


# What counts: only what an active member does (issue 11, finding 5)

LIMIT = 5


def _served_with_limit(tmp_path: Path) -> tuple[EmbeddedStore, Any]:
    settings = settings_for(tmp_path, quota_flush_calls=1)
    store = EmbeddedStore(settings.sqlite_path)
    asyncio.run(demo.load_demo(store))
    asyncio.run(store.update(keys.organization(demo.DEMO_ORG),
                             [Set("usage.apiCalls.limit", LIMIT)]))
    return store, settings


def test_a_token_of_someone_not_an_active_member_costs_the_organization_nothing(
        tmp_path: Path) -> None:
    store, settings = _served_with_limit(tmp_path)
    asyncio.run(store.update(keys.member(demo.DEMO_ORG, "user-charlie-003"),
                             [Set("status", "suspended")]))
    body = {"query": "{ viewer { name } members(first: 1) { totalCount } }"}
    outsiders = [token(sub="user-removed-999"), token(sub="user-charlie-003")]
    try:
        with serving(settings, store) as served, httpx.Client(base_url=served.url) as client:
            answers = [client.post("/graphql", json=body, headers=bearer(t))
                       for _ in range(3 * LIMIT) for t in outsiders]
            admin = [client.post("/graphql", json=body, headers=bearer(token())).status_code
                     for _ in range(LIMIT + 1)]
        calls = asyncio.run(_calls(store))[0]
    finally:
        asyncio.run(store.close())
    # What they get is what their membership allows, as before: not a 429.
    assert {a.status_code for a in answers} == {200}
    assert all((a.json()["data"] or {}).get("members") is None for a in answers)
    assert {e["extensions"]["code"] for a in answers for e in a.json()["errors"]} == {
        "FORBIDDEN"}
    # The admin still has the whole quota.
    assert admin == [200] * LIMIT + [429]
    assert calls == LIMIT


def test_each_operation_of_a_batch_counts_and_a_batch_that_does_not_fit_runs_none(
        tmp_path: Path) -> None:
    store, settings = _served_with_limit(tmp_path)
    rename = {"query": 'mutation { updateMyPreferences(input: {language: "de"}) '
                       '{ __typename } }'}
    viewer = {"query": "{ viewer { name } }"}
    try:
        with serving(settings, store) as served, httpx.Client(base_url=served.url) as client:
            three = client.post("/graphql", json=[viewer] * 3, headers=bearer(token()))
            refused = client.post("/graphql", json=[viewer, rename, viewer],
                                  headers=bearer(token()))
            two = client.post("/graphql", json=[viewer] * 2, headers=bearer(token()))
            after = client.post("/graphql", json=viewer, headers=bearer(token()))
        calls = asyncio.run(_calls(store))[0]
        language = asyncio.run(store.get(keys.member(demo.DEMO_ORG, demo.DEMO_ADMIN)))
    finally:
        asyncio.run(store.close())
    assert three.status_code == 200
    assert len(three.json()) == 3
    assert refused.status_code == 429
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "QUOTA_EXCEEDED"
    assert "this request counts 3 API calls and the organization has 2" in error["message"]
    assert language is not None
    assert language["preferences"].get("language") != "de"
    assert two.status_code == 200
    assert after.status_code == 429
    assert calls == LIMIT
