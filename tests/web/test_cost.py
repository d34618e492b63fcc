"""What a request cost the store: every call in its log line, and in ``extensions.cost`` for a
client that asks with ``X-DevInsights-Cost: 1``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.servers import Served, bearer, serving, settings_for, token

DASHBOARD = """{ organization { name owner { name } }
  members(first: 10) { edges { node { name githubData { codeQuality { overallScore } } } } }
  teamReport { reportDate } }"""
TAKEN = """mutation { inviteMember(input: {email: "bob@startup.com"}) { __typename } }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server of its own: the quota counted in the store, flushed on every request."""
    tmp: Path = tmp_path_factory.mktemp("cost")
    with serving(settings_for(tmp, quota_flush_calls=1)) as s:
        yield s


def post(served: Served, body: Any, *, cost: bool) -> httpx.Response:
    headers = {**bearer(token()), "Content-Type": "application/json"}
    if cost:
        headers["X-DevInsights-Cost"] = "1"
    return httpx.post(served.graphql_url, json=body, headers=headers, timeout=10)


def test_a_client_that_asks_gets_the_cost_of_its_operation(served: Served) -> None:
    response = post(served, {"query": DASHBOARD}, cost=True)

    assert response.status_code == 200
    cost = response.json()["extensions"]["cost"]
    line = served.logs.request(response.headers["X-Request-Id"])
    assert cost == {"storeCalls": line["storeCalls"],
                    "storeCallsByOperation": line["storeCallsByOp"],
                    "failedStoreCalls": line["failedStoreCalls"], "readCapacityUnits": 0.0,
                    "writeCapacityUnits": 0.0}  # the embedded store consumes no capacity
    # membership and organization, members, their analytics, the report, and the quota
    # flush: one update, or two the first time (a new month's count is a failed condition)
    by_op = cost["storeCallsByOperation"]
    assert (by_op["batch_get"], by_op["query"]) == (1, 3)
    assert by_op["update"] == 1 + cost["failedStoreCalls"]


def test_a_client_that_does_not_ask_gets_no_cost(served: Served) -> None:
    response = post(served, {"query": DASHBOARD}, cost=False)

    assert response.status_code == 200
    assert "extensions" not in response.json()


def test_the_quota_flush_is_one_of_the_request_s_logged_calls(served: Served) -> None:
    response = post(served, {"query": "{ __typename }"}, cost=False)

    line = served.logs.request(response.headers["X-Request-Id"])
    assert line["storeCallsByOp"] == {"update": 1, "batch_get": 1}
    assert line["storeCalls"] == 2


def test_a_failed_store_call_is_counted_and_marked_failed(served: Served) -> None:
    response = post(served, {"query": TAKEN}, cost=True)

    data = response.json()
    assert data["data"] == {"inviteMember": {"__typename": "EmailTaken"}}
    line = served.logs.request(response.headers["X-Request-Id"])
    assert line["storeCallsByOp"]["transact"] == 1  # canceled: Bob's email is claimed
    assert line["failedStoreCalls"] == 1
    assert data["extensions"]["cost"]["failedStoreCalls"] == 1
    assert data["extensions"]["cost"]["storeCalls"] == line["storeCalls"]


def test_each_operation_of_a_batch_reports_its_own_cost_and_the_first_the_request_s(
        served: Served) -> None:
    response = post(served, [{"query": DASHBOARD}, {"query": "{ __typename }"}], cost=True)

    first, second = (r["extensions"]["cost"] for r in response.json())
    line = served.logs.request(response.headers["X-Request-Id"])
    assert second["storeCallsByOperation"] == {"batch_get": 1}
    assert first["storeCalls"] + second["storeCalls"] == line["storeCalls"]
    assert first["storeCallsByOperation"]["update"] == 1  # the quota flush, before both
