"""The team dashboard costs the same number of store calls at any team size (no N+1)."""

from __future__ import annotations

import pytest

from datastore import demo
from resolvers.context import Caller
from tests.api.conftest import Api

DASHBOARD = """
query Dashboard {
  organization { name currentMembers maxMembers owner { name } }
  members(first: 100) {
    edges { node { id name role invitedBy { name }
      githubData { codeQuality { overallScore } burnoutRisk { riskScore riskLevel }
                   metrics { totalCommits languages { name percent } } } } }
    pageInfo { hasNextPage endCursor }
  }
  teamReport { reportDate teamHealth summary { averageCodeQuality }
               topPerformers { name member { id } } }
}
"""


async def _dashboard_calls(api: Api, size: int) -> dict[str, int]:
    org = await demo.load_team(api.store, f"org-team-{size}", size)
    api.settle()
    admin = Caller(f"{org}-u0000", org, f"u0000@{org}.example", "Member 0")
    outcome = await api.run(DASHBOARD, admin)
    assert not outcome.errors, outcome.errors
    assert outcome.data is not None
    edges = outcome.data["members"]["edges"]
    assert len(edges) == size
    assert all(e["node"]["githubData"] is not None for e in edges)
    assert all(e["node"]["invitedBy"] == {"name": "Member 0"} for e in edges[1:])
    return outcome.calls.calls


@pytest.mark.parametrize("size", [10, 100])
async def test_dashboard_makes_four_store_calls_at_any_team_size(api: Api, size: int) -> None:
    calls = await _dashboard_calls(api, size)
    # membership+organization (1 batch), members (1 query), their GitHub data (1 query of
    # the prefix: the page is the whole team, cheaper than a batch of 4 KB-rounded items),
    # the latest report (1 query).
    assert calls == {"batch_get": 1, "query": 3}


async def test_dashboard_calls_do_not_grow_from_10_to_100_members(api: Api) -> None:
    assert await _dashboard_calls(api, 10) == await _dashboard_calls(api, 100)
