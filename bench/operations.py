"""The operations the benchmark drives, as request bodies both servers answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ORG_SIZES = (10, 100, 1000)
# The org that the operations other than the dashboard run against.
DEFAULT_SIZE = 100
# Our server caps `members(first:)` at 100 (resolvers.context.ApiSettings.max_page_size), so
# the dashboard at 1,000 members is its first page of 100, for ours and the peer alike.
PAGE_SIZE = 100

TYPENAME = "{ __typename }"

MEMBER = """
query Member($userId: ID!) {
  member(userId: $userId) { id userId name email role status githubUsername version
    preferences { emailNotifications weeklyReports language } invitedBy { name } }
}
"""

# The shape of tests/api/test_batching.py's DASHBOARD.
DASHBOARD = """
query Dashboard {
  organization { name currentMembers maxMembers owner { name } }
  members(first: {page}) {
    edges { node { id name role invitedBy { name }
      githubData { codeQuality { overallScore } burnoutRisk { riskScore riskLevel }
                   metrics { totalCommits languages { name percent } } } } }
    pageInfo { hasNextPage endCursor }
  }
  teamReport { reportDate teamHealth summary { averageCodeQuality }
               topPerformers { name member { id } } }
}
""".replace("{page}", str(PAGE_SIZE))

UPDATE_PREFERENCES = """
mutation UpdatePreferences($input: UpdateMyPreferencesInput!) {
  updateMyPreferences(input: $input) {
    __typename
    ... on UpdateMyPreferencesSuccess {
      member { id version preferences { weeklyReports language } } }
    ... on MutationError { code message }
  }
}
"""


def org_id(size: int) -> str:
    return f"bench-{size}"


def person_id(org: str, i: int) -> str:
    return f"{org}-u{i:04d}"  # datastore.demo.load_team's people; number 0 is the admin


def admin_id(org: str) -> str:
    return person_id(org, 0)


@dataclass(frozen=True)
class Operation:
    name: str
    query: str
    org_size: int = DEFAULT_SIZE
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    # How many member edges a correct answer has; None when there is no members list.
    edges: int | None = None
    mutation: bool = field(default=False)
    # How many of the org's members send it in turn (the admin first). The mutation
    # rotates: 20 connections updating one person would mostly measure VersionConflict,
    # since a write expects the version the request read.
    callers: int = 1

    @property
    def org(self) -> str:
        return org_id(self.org_size)

    def body(self) -> bytes:
        payload: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            payload["variables"] = self.variables
        if self.operation_name is not None:
            payload["operationName"] = self.operation_name
        return json.dumps(payload, separators=(",", ":")).encode()


def dashboard(size: int) -> Operation:
    return Operation(f"dashboard-{size}", DASHBOARD, org_size=size, operation_name="Dashboard",
                     edges=min(size, PAGE_SIZE))


OPERATIONS: tuple[Operation, ...] = (
    Operation("typename", TYPENAME),
    Operation("member", MEMBER, variables={"userId": f"{org_id(DEFAULT_SIZE)}-u0042"},
              operation_name="Member"),
    *(dashboard(size) for size in ORG_SIZES),
    Operation("updateMyPreferences", UPDATE_PREFERENCES,
              variables={"input": {"weeklyReports": True, "language": "en"}},
              operation_name="UpdatePreferences", mutation=True, callers=DEFAULT_SIZE),
)
BY_NAME = {op.name: op for op in OPERATIONS}


def check_answer(op: Operation, payload: Any) -> str | None:
    """Why ``payload`` is not a correct answer to ``op``, or None when it is."""
    if not isinstance(payload, dict):
        return "the response is not a JSON object"
    if payload.get("errors"):
        return f"errors: {json.dumps(payload['errors'])[:300]}"
    data = payload.get("data")
    if not isinstance(data, dict):
        return "the response has no data"
    if op.edges is not None:
        got = len(((data.get("members") or {}).get("edges")) or [])
        if got != op.edges:
            return f"{got} member edges, expected {op.edges}"
        if data.get("teamReport") is None:
            return "teamReport is null"
    if op.name == "member" and data.get("member") is None:
        return "member is null"
    if op.mutation:
        result = data.get("updateMyPreferences") or {}
        if result.get("__typename") != "UpdateMyPreferencesSuccess":
            return f"the mutation answered {result.get('__typename')}: {result}"
    return None
