"""What queries cost the store: DynamoDB read capacity near the floor of the bytes the
answer needs, and no item read that the answer does not need.

The floor of an answer: the bytes of the items it needs, rounded up to 4 KB once, at 0.5 RCU
per unit for eventually consistent reads and 1.0 for the caller's membership and
organization, which are read strongly consistently.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from datastore import demo
from resolvers.context import Caller
from tests.api.conftest import Api
from tests.api.test_batching import DASHBOARD
from tests.conftest import TABLE
from tests.dynamo_proxy import item_size

TEAM_ANALYTICS = ("{ teamGitHubData(first: 100) { edges { node { githubUsername "
                  "codeQuality { overallScore } } } } }")
TEAM_ANALYTICS_WITH_PEOPLE = ("{ teamGitHubData(first: 100) { edges { node { githubUsername "
                              "member { name } } } } }")


def units(size: int) -> int:
    return math.ceil(size / 4096)


def partition(moto_client: Any, org: str) -> dict[str, dict[str, Any]]:
    """Every item of the org as stored, by sort key, read straight from moto."""
    items: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": TABLE, "KeyConditionExpression": "PK = :p",
                              "ExpressionAttributeValues": {":p": {"S": f"ORG#{org}"}},
                              "ConsistentRead": True}
    while True:
        page = moto_client.query(**kwargs)
        items.update({i["SK"]["S"]: i for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def team_of(api: Api, size: int) -> Caller:
    org = await demo.load_team(api.store, f"org-cost-{size}", size)
    api.settle()
    return Caller(f"{org}-u0000", org, f"u0000@{org}.example", "Member 0")


@pytest.mark.dynamodb_only
async def test_the_dashboard_of_100_members_reads_at_most_1_5_times_its_floor(
        api: Api, moto_client: Any) -> None:
    admin = await team_of(api, 100)
    stored = partition(moto_client, admin.org_id)

    outcome = await api.run(DASHBOARD, admin)

    assert outcome.errors == []
    edge = f"ORG#{admin.org_id}"
    needed = [k for k in stored if k.startswith(("MEMBER#", "GITHUB_DATA#"))]
    report = max(k for k in stored if k.startswith("TEAM_REPORT#"))
    eventual = sum(item_size(stored[k]) for k in [*needed, report])
    consistent = item_size(stored[edge]) + item_size(stored[f"MEMBER#{admin.user_id}"])
    floor = units(consistent) * 1.0 + units(eventual) * 0.5
    assert outcome.calls.read_units <= 1.5 * floor, (outcome.calls.read_units, floor)


@pytest.mark.dynamodb_only
async def test_the_latest_report_is_read_without_a_second_report(
        api: Api, moto_client: Any) -> None:
    for date in ("2020-01-01", "2020-01-02"):
        data = await api.ok(f'mutation {{ generateTeamReport(input: {{date: "{date}"}}) '
                            "{ __typename } }")
        assert data["generateTeamReport"]["__typename"] == "GenerateTeamReportSuccess"
    api.settle()
    stored = partition(moto_client, demo.DEMO_ORG)
    latest = max(k for k in stored if k.startswith("TEAM_REPORT#"))
    context = await api.run("{ __typename }")

    outcome = await api.run("{ teamReport { reportDate } }")

    assert outcome.calls.calls == {"batch_get": 1, "query": 1}
    report_units = outcome.calls.read_units - context.calls.read_units
    assert report_units == units(item_size(stored[latest])) * 0.5


@pytest.mark.parametrize("size", [10, 100])
async def test_team_analytics_read_no_member_item_unless_people_are_asked_for(
        api: Api, size: int) -> None:
    admin = await team_of(api, size)

    plain = await api.run(TEAM_ANALYTICS, admin)
    with_people = await api.run(TEAM_ANALYTICS_WITH_PEOPLE, admin)

    assert plain.errors == with_people.errors == []
    assert plain.calls.calls == {"batch_get": 1, "query": 1}  # the caller, the analytics
    # every analysed person is wanted: one Query of the people, not a BatchGetItem each
    assert with_people.calls.calls == {"batch_get": 1, "query": 2}
    assert plain.data is not None
    assert with_people.data is not None
    assert len(plain.data["teamGitHubData"]["edges"]) == size
    people = [e["node"]["member"] for e in with_people.data["teamGitHubData"]["edges"]]
    assert len(people) == size
    assert all(p is not None for p in people)


@pytest.mark.parametrize("store", ["embedded"], indirect=True)
async def test_a_few_people_wanted_of_a_big_team_are_fetched_by_key(api: Api) -> None:
    admin = await team_of(api, 100)
    wanted = [f"{admin.org_id}-u{i:04d}" for i in (3, 50, 97)]
    document = "{ " + " ".join(f'm{i}: member(userId: "{u}") {{ name }}'
                               for i, u in enumerate(wanted)) + " }"

    outcome = await api.run(document, admin)

    assert outcome.errors == []
    assert outcome.calls.calls == {"batch_get": 2}  # the caller, then the three by key
