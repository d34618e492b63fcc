"""The peer: a plain Strawberry app with default settings, for comparison.

strawberry.asgi.GraphQL on Starlette, no parser or validation cache, the stdlib json encoder,
resolver functions where a typical app has them, and its own aiodataloader loaders built per
request in ``get_context``. It serves the same field names as our schema (a subset of it) from
in-memory dicts loaded at startup from a snapshot of the bench's demo organizations, so the
same query text runs against both.

It does none of our server's real work: the token's payload is read without verifying it
(only to pick the organization and the caller), and nothing is checked or stored.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import enum
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import strawberry
from aiodataloader import DataLoader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.relay.utils import to_base64

ORGS: dict[str, dict[str, Any]] = {}  # org id -> {"members": {id: dict}, "order": [...], ...}


@strawberry.enum
class Role(enum.Enum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


@strawberry.enum
class MemberStatus(enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@strawberry.enum
class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


@strawberry.enum
class RiskLevel(enum.Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@strawberry.enum
class ErrorCode(enum.Enum):
    NOT_FOUND = "NOT_FOUND"


def from_ms(ms: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


def from_seconds(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def enum_or_none(kind: type[enum.Enum], value: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return None


@strawberry.type
class Preferences:
    email_notifications: bool | None = None
    weekly_reports: bool | None = None
    burnout_alerts: bool | None = None
    language: str | None = None
    date_format: str | None = None


@strawberry.type
class LanguageShare:
    name: str
    percent: float


@strawberry.type
class CodeQuality:
    overall_score: float | None
    rating: str | None
    analysis: str | None
    issues: list[str]
    recommendations: list[str]
    strengths: list[str]


@strawberry.type
class Metrics:
    total_commits: int | None
    total_repositories: int | None
    total_pull_requests: int | None
    total_issues: int | None
    average_commit_size: float | None
    languages: list[LanguageShare]


@strawberry.type
class BurnoutPatterns:
    late_night_commits: int | None
    weekend_work: int | None


@strawberry.type
class BurnoutRisk:
    risk_score: float | None
    risk_level: RiskLevel | None
    patterns: BurnoutPatterns


# Instants are DateTime, as in our schema; converted only when selected (no bench
# operation selects one).
@strawberry.type
class GitHubData:
    github_username: str
    code_quality: CodeQuality
    metrics: Metrics
    burnout_risk: BurnoutRisk
    cached_at_ms: strawberry.Private[float]
    expires_at_seconds: strawberry.Private[int]
    data_source: str

    @strawberry.field
    def cached_at(self) -> datetime.datetime:
        return from_ms(self.cached_at_ms)

    @strawberry.field
    def expires_at(self) -> datetime.datetime:
        return from_seconds(self.expires_at_seconds)


@strawberry.type
class Member:
    id: strawberry.ID  # global, as ours: base64 of "Member:<org>#<user>"
    user_id: strawberry.ID
    email: str
    name: str
    role: Role
    status: MemberStatus
    github_username: str | None
    permissions: list[str]
    preferences: Preferences
    joined_at_ms: strawberry.Private[float]
    last_login_at_ms: strawberry.Private[float | None]
    version: int
    invited_by_id: strawberry.Private[str | None]

    @strawberry.field
    def joined_at(self) -> datetime.datetime:
        return from_ms(self.joined_at_ms)

    @strawberry.field
    def last_login_at(self) -> datetime.datetime | None:
        return None if self.last_login_at_ms is None else from_ms(self.last_login_at_ms)

    @strawberry.field
    async def invited_by(self, info: strawberry.Info) -> Member | None:
        if not self.invited_by_id:
            return None
        return await info.context["member_by_id"].load(self.invited_by_id)  # type: ignore[no-any-return]

    @strawberry.field
    async def github_data(self, info: strawberry.Info) -> GitHubData | None:
        if not self.github_username:
            return None
        return await info.context["github_data_by_username"].load(  # type: ignore[no-any-return]
            self.github_username)


@strawberry.type
class Organization:
    id: strawberry.ID
    organization_id: strawberry.ID
    name: str
    plan: Plan | None
    max_members: int
    current_members: int
    created_at_ms: strawberry.Private[float]
    updated_at_ms: strawberry.Private[float]
    version: int
    owner_id: strawberry.Private[str]

    @strawberry.field
    def created_at(self) -> datetime.datetime:
        return from_ms(self.created_at_ms)

    @strawberry.field
    def updated_at(self) -> datetime.datetime:
        return from_ms(self.updated_at_ms)

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> Member | None:
        return await info.context["member_by_id"].load(self.owner_id)  # type: ignore[no-any-return]


@strawberry.type
class ReportSummary:
    total_members: int
    active_members: int
    analyzed_members: int
    average_code_quality: float | None
    average_burnout_risk: float | None
    total_commits: int


@strawberry.type
class ReportPerson:
    user_id: strawberry.ID
    name: str
    code_quality: float | None
    commits: int | None
    risk_score: float | None

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member | None:
        return await info.context["member_by_id"].load(str(self.user_id))  # type: ignore[no-any-return]


@strawberry.type
class TeamReport:
    report_date: str
    report_type: str
    team_health: float | None
    summary: ReportSummary
    top_performers: list[ReportPerson]
    needs_support: list[ReportPerson]
    burnout_risks: list[ReportPerson]
    generated_by_name: str | None
    generated_at_ms: strawberry.Private[float]
    expires_at_seconds: strawberry.Private[int]

    @strawberry.field
    def generated_at(self) -> datetime.datetime:
        return from_ms(self.generated_at_ms)

    @strawberry.field
    def expires_at(self) -> datetime.datetime:
        return from_seconds(self.expires_at_seconds)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class MemberEdge:
    cursor: str
    node: Member


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo


@strawberry.interface
class MutationError:
    message: str
    code: ErrorCode


@strawberry.type
class NotFound(MutationError):
    pass


@strawberry.type
class UpdateMyPreferencesSuccess:
    member: Member


UpdateMyPreferencesResult = Annotated[UpdateMyPreferencesSuccess | NotFound,
                                      strawberry.union("UpdateMyPreferencesResult")]


@strawberry.input
class UpdateMyPreferencesInput:
    expected_version: int | None = None
    email_notifications: bool | None = None
    weekly_reports: bool | None = None
    burnout_alerts: bool | None = None
    language: str | None = None
    date_format: str | None = None


# From the dicts to the types


def member_from(d: dict[str, Any]) -> Member:
    p = d["preferences"]
    return Member(id=strawberry.ID(to_base64("Member", f"{d['orgId']}#{d['id']}")),
                  user_id=strawberry.ID(d["id"]), email=d["email"], name=d["name"],
                  role=Role(d["role"]), status=MemberStatus(d["status"]),
                  github_username=d["githubUsername"], permissions=d["permissions"],
                  preferences=Preferences(email_notifications=p.get("emailNotifications"),
                                          weekly_reports=p.get("weeklyReports"),
                                          burnout_alerts=p.get("burnoutAlerts"),
                                          language=p.get("language"),
                                          date_format=p.get("dateFormat")),
                  joined_at_ms=d["joinedAt"], last_login_at_ms=d["lastLoginAt"],
                  version=d["version"], invited_by_id=d["invitedBy"])


def github_data_from(d: dict[str, Any]) -> GitHubData:
    data = d["data"]
    cq, mt, br = data["codeQuality"], data["metrics"], data["burnoutRisk"]
    pt = br.get("patterns", {})
    return GitHubData(
        github_username=d["githubUsername"],
        code_quality=CodeQuality(overall_score=cq.get("overallScore"), rating=cq.get("rating"),
                                 analysis=cq.get("analysis"), issues=cq.get("issues", []),
                                 recommendations=cq.get("recommendations", []),
                                 strengths=cq.get("strengths", [])),
        metrics=Metrics(total_commits=mt.get("totalCommits"),
                        total_repositories=mt.get("totalRepositories"),
                        total_pull_requests=mt.get("totalPullRequests"),
                        total_issues=mt.get("totalIssues"),
                        average_commit_size=mt.get("averageCommitSize"),
                        languages=[LanguageShare(name=k, percent=v)
                                   for k, v in mt.get("languages", {}).items()]),
        burnout_risk=BurnoutRisk(risk_score=br.get("riskScore"),
                                 risk_level=enum_or_none(RiskLevel, br.get("riskLevel")),
                                 patterns=BurnoutPatterns(
                                     late_night_commits=pt.get("lateNightCommits"),
                                     weekend_work=pt.get("weekendWork"))),
        cached_at_ms=d["cachedAt"], expires_at_seconds=d["expiresAt"],
        data_source=d["dataSource"])


def person_from(d: dict[str, Any]) -> ReportPerson:
    return ReportPerson(user_id=strawberry.ID(d["userId"]), name=d["name"],
                        code_quality=d.get("codeQuality"), commits=d.get("commits"),
                        risk_score=d.get("riskScore"))


def team_report_from(d: dict[str, Any]) -> TeamReport:
    data, s = d["data"], d["data"]["summary"]
    return TeamReport(
        report_date=d["reportDate"], report_type=d["reportType"],
        team_health=data.get("teamHealth"),
        summary=ReportSummary(total_members=s["totalMembers"], active_members=s["activeMembers"],
                              analyzed_members=s["analyzedMembers"],
                              average_code_quality=s.get("averageCodeQuality"),
                              average_burnout_risk=s.get("averageBurnoutRisk"),
                              total_commits=s["totalCommits"]),
        top_performers=[person_from(p) for p in data["topPerformers"]],
        needs_support=[person_from(p) for p in data["needsSupport"]],
        burnout_risks=[person_from(p) for p in data["burnoutRisks"]],
        generated_by_name=d["generatedByName"], generated_at_ms=d["generatedAt"],
        expires_at_seconds=d["expiresAt"])


# Roots


def _org(info: strawberry.Info) -> dict[str, Any] | None:
    return ORGS.get(info.context["org_id"])


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self, info: strawberry.Info) -> Member | None:
        org = _org(info)
        me = org["members"].get(info.context["user_id"]) if org else None
        return member_from(me) if me else None

    @strawberry.field
    def organization(self, info: strawberry.Info) -> Organization | None:
        org = _org(info)
        if org is None:
            return None
        o = org["organization"]
        return Organization(id=strawberry.ID(to_base64("Organization", o["id"])),
                            organization_id=strawberry.ID(o["id"]), name=o["name"],
                            plan=enum_or_none(Plan, o["plan"]),
                            max_members=o["maxMembers"], current_members=o["currentMembers"],
                            created_at_ms=o["createdAt"], updated_at_ms=o["updatedAt"],
                            version=o["version"], owner_id=o["ownerId"])

    @strawberry.field
    async def member(self, info: strawberry.Info, user_id: strawberry.ID) -> Member | None:
        return await info.context["member_by_id"].load(str(user_id))  # type: ignore[no-any-return]

    @strawberry.field
    def members(self, info: strawberry.Info, first: int | None = None,
                after: str | None = None) -> MemberConnection:
        org = _org(info)
        order: list[str] = org["order"] if org else []
        start = int(base64.b64decode(after)) + 1 if after else 0
        ids = order[start:start + (first or 20)]
        cursors = [base64.b64encode(str(start + i).encode()).decode() for i in range(len(ids))]
        edges = [MemberEdge(cursor=c, node=member_from(org["members"][i]))  # type: ignore[index]
                 for c, i in zip(cursors, ids, strict=True)]
        return MemberConnection(edges=edges, page_info=PageInfo(
            has_next_page=start + len(ids) < len(order), has_previous_page=start > 0,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None))

    @strawberry.field
    def team_report(self, info: strawberry.Info, date: str | None = None) -> TeamReport | None:
        org = _org(info)
        report = org["teamReport"] if org else None
        if report is None or (date is not None and report["reportDate"] != date):
            return None
        return team_report_from(report)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def update_my_preferences(self, info: strawberry.Info,
                              input: UpdateMyPreferencesInput) -> UpdateMyPreferencesResult:
        org = _org(info)
        me = org["members"].get(info.context["user_id"]) if org else None
        if me is None:
            return NotFound(message="you are not a member of this organization",
                            code=ErrorCode.NOT_FOUND)
        changes = {"emailNotifications": input.email_notifications,
                   "weeklyReports": input.weekly_reports, "burnoutAlerts": input.burnout_alerts,
                   "language": input.language, "dateFormat": input.date_format}
        me["preferences"] = {**me["preferences"],
                             **{k: v for k, v in changes.items() if v is not None}}
        me["version"] += 1
        return UpdateMyPreferencesSuccess(member=member_from(me))


schema = strawberry.Schema(query=Query, mutation=Mutation, types=[NotFound])


# Loaders and context


def member_by_id(org: dict[str, Any] | None) -> DataLoader[str, Member | None]:
    async def load(ids: Sequence[str]) -> list[Member | None]:
        people = org["members"] if org else {}
        return [member_from(people[i]) if i in people else None for i in ids]
    return DataLoader(load)


def github_data_by_username(org: dict[str, Any] | None) -> DataLoader[str, GitHubData | None]:
    async def load(names: Sequence[str]) -> list[GitHubData | None]:
        found = org["githubData"] if org else {}
        return [github_data_from(found[n]) if n in found else None for n in names]
    return DataLoader(load)


def claims(authorization: str | None) -> dict[str, Any]:
    """The token's payload, NOT verified: the peer only needs to know whose org to serve."""
    try:
        payload = (authorization or "").split(" ", 1)[1].split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return decoded if isinstance(decoded, dict) else {}


class PeerGraphQL(GraphQL[dict[str, Any], None]):
    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket) -> dict[str, Any]:
        c = claims(request.headers.get("authorization"))
        org = ORGS.get(str(c.get("org")))
        return {"request": request, "response": response, "org_id": c.get("org"),
                "user_id": c.get("sub"), "member_by_id": member_by_id(org),
                "github_data_by_username": github_data_by_username(org)}


def load(snapshot: dict[str, Any]) -> None:
    ORGS.clear()
    for org_id, org in snapshot["orgs"].items():
        ORGS[org_id] = {
            "organization": org["organization"],
            "members": {m["id"]: {**m, "orgId": org_id} for m in org["members"]},
            "order": [m["id"] for m in org["members"]],
            "githubData": {g["githubUsername"]: g for g in org["githubData"]},
            "teamReport": org["teamReport"],
        }


def create_app() -> Starlette:
    graphql = PeerGraphQL(schema)
    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the benchmark's peer on 127.0.0.1.")
    parser.add_argument("--data", type=Path, required=True, help="snapshot JSON from the bench")
    parser.add_argument("--port-file", type=Path, required=True,
                        help="where to write the port once listening")
    args = parser.parse_args(argv)
    load(json.loads(args.data.read_text(encoding="utf-8")))
    from bench.serve import serve  # the same uvicorn setup as ours: uvloop, httptools
    serve(create_app(), args.port_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
