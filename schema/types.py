"""Object types. Fields that only read a value are plain attributes (no resolver function);
fields that need I/O resolve through the request's loaders."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Optional, TypeVar, Union

import strawberry

from datastore import analytics, records
from resolvers import membership, team
from resolvers.paging import Slice, Window
from schema import permissions as access
from schema.node import Node, global_id
from schema.scalars import from_ms, from_seconds, maybe_ms
from schema.selection import selects

T = TypeVar("T")
R = TypeVar("R")

PAGED = ("At most 100 per page: pass first (with after) or last (with before), 1-100; "
         "the default is 20.")


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
class InvitationStatus(enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


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


@strawberry.enum(description="How urgently a person at risk of burnout needs attention.")
class Severity(enum.Enum):
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


# The domain's own enum, not a copy: one vocabulary for the stored report and the schema.
strawberry.enum(
    analytics.NoDataReason,
    description="Why a report has no current GitHub data of an active member: "
                "`NO_GITHUB_USERNAME`, their membership has no `githubUsername`; `NO_DATA`, "
                "none is recorded (or it expired and was deleted); `EXPIRED`, it is past its "
                "`expiresAt`, so no longer used.")


@strawberry.enum
class Priority(enum.Enum):
    URGENT = "URGENT"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


E = TypeVar("E", bound=enum.Enum)


def _enum(kind: type[E], value: Any) -> E | None:
    """A stored value as its enum; a value outside the set (old or partner data) is null."""
    try:
        return kind(value)
    except ValueError:
        return None


def _get(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# Nested people and analytics resolve synchronously when this request already loaded them
# (a members page primes its people and prefetches their analytics), and through the loaders
# otherwise. Sync fields skip a coroutine and a task per list item in the executor.

Maybe = Union[T, None, Awaitable[T | None]]  # noqa: UP007 (a TypeVar alias needs Union)


def member_of(info: strawberry.Info, user_id: str | None) -> Maybe[Member]:
    # A suspended person still reads their own membership (`viewer`), never anyone else.
    if not user_id or info.context.active_member is None:
        return None
    found, record = info.context.loaders.peek_member(user_id)
    if found:
        return _member_view(info, record) if record else None
    return _load_member(info, user_id)


async def _load_member(info: strawberry.Info, user_id: str) -> Member | None:
    record = await info.context.loaders.member_by_id.load(user_id)
    return _member_view(info, record) if record else None


def _member_view(info: strawberry.Info, record: records.Member) -> Member:
    """One object per person per request: a page of 100 whose inviter is the same admin
    builds that admin once, not a hundred times."""
    views: dict[int, Any] = info.context.views
    key = id(record)  # the loaders keep the record, so its id names it for the request
    view = views.get(key)
    if view is None or view[0] is not record:
        view = views[key] = (record, Member.from_record(record))
    member: Member = view[1]
    return member


def github_data_of(info: strawberry.Info, username: str | None) -> Maybe[GitHubData]:
    if not username:
        return None
    found, record = info.context.loaders.peek_github_data(username)
    if found:
        return GitHubData.from_record(record) if record else None
    return _load_github_data(info, username)


async def _load_github_data(info: strawberry.Info, username: str) -> GitHubData | None:
    record = await info.context.loaders.github_data_by_username.load(username)
    return GitHubData.from_record(record) if record else None


# Organization


@strawberry.type
class Features:
    code_quality: bool | None
    burnout_detection: bool | None
    team_analytics: bool | None
    ai_reports: bool | None


@strawberry.type
class EmailNotifications:
    burnout_alerts: bool | None
    weekly_reports: bool | None
    critical_alerts: bool | None


@strawberry.type
class OrganizationSettings:
    allow_members_view_others: bool
    privacy_mode: str | None
    timezone: str | None
    features: Features
    email_notifications: EmailNotifications

    @classmethod
    def from_dict(cls, s: dict[str, Any]) -> OrganizationSettings:
        return cls(
            allow_members_view_others=s.get("allowMembersViewOthers", True) is not False,
            privacy_mode=s.get("privacyMode"), timezone=s.get("timezone"),
            features=Features(
                code_quality=_bool(_get(s, "features", "codeQuality")),
                burnout_detection=_bool(_get(s, "features", "burnoutDetection")),
                team_analytics=_bool(_get(s, "features", "teamAnalytics")),
                ai_reports=_bool(_get(s, "features", "aiReports"))),
            email_notifications=EmailNotifications(
                burnout_alerts=_bool(_get(s, "emailNotifications", "burnoutAlerts")),
                weekly_reports=_bool(_get(s, "emailNotifications", "weeklyReports")),
                critical_alerts=_bool(_get(s, "emailNotifications", "criticalAlerts"))),
        )


@strawberry.type
class Quota:
    current: int
    limit: int | None


@strawberry.type
class Usage:
    api_calls: Quota
    api_calls_period: str | None
    storage_bytes: Quota | None


@strawberry.type
class Organization(Node):
    organization_id: strawberry.ID
    name: str
    plan: Plan | None
    max_members: int
    current_members: int
    settings: OrganizationSettings
    usage: Usage = strawberry.field(permission_classes=[access.IsAdmin])
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int
    owner_id: strawberry.Private[str]

    @strawberry.field(graphql_type=Optional["Member"])
    def owner(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, self.owner_id)

    @strawberry.field(description="The organization's people, oldest user id first. " + PAGED,
                      graphql_type="MemberConnection")
    async def members(self, info: strawberry.Info, role: Role | None = None,
                      status: MemberStatus | None = None, first: int | None = None,
                      after: str | None = None, last: int | None = None,
                      before: str | None = None) -> MemberConnection:
        return await member_page(info, role, status, Window(first, after, last, before))

    @classmethod
    def from_record(cls, o: records.Organization) -> Organization:
        calls = _get(o.usage, "apiCalls") or {}
        storage = _get(o.usage, "storage")
        return cls(
            id=global_id("Organization", o.org_id), organization_id=strawberry.ID(o.org_id),
            name=o.name, plan=_enum(Plan, o.plan), max_members=o.max_members,
            current_members=o.current_members,
            settings=OrganizationSettings.from_dict(o.settings),
            usage=Usage(
                api_calls=Quota(current=_int(calls.get("current")) or 0,
                                limit=_int(calls.get("limit"))),
                api_calls_period=calls.get("period") or None,
                storage_bytes=Quota(current=_int(storage.get("current")) or 0,
                                    limit=_int(storage.get("limit")))
                if isinstance(storage, dict) else None),
            created_at=from_ms(o.created_at), updated_at=from_ms(o.updated_at),
            version=o.version, owner_id=o.owner_id,
        )


# Member


@strawberry.type
class Preferences:
    email_notifications: bool | None
    weekly_reports: bool | None
    burnout_alerts: bool | None
    language: str | None
    date_format: str | None

    @classmethod
    def from_dict(cls, p: dict[str, Any]) -> Preferences:
        return cls(email_notifications=_bool(p.get("emailNotifications")),
                   weekly_reports=_bool(p.get("weeklyReports")),
                   burnout_alerts=_bool(p.get("burnoutAlerts")),
                   language=p.get("language"), date_format=p.get("dateFormat"))


@strawberry.type(description="One organization you belong to, and your role in it.")
class OrganizationMembership:
    organization_id: strawberry.ID
    id: strawberry.ID = strawberry.field(description="The organization's global id.")
    name: str
    role: Role
    joined_at: datetime.datetime


@strawberry.type(description="One person's membership of one organization.")
class Member(Node):
    user_id: strawberry.ID
    email: str
    name: str
    role: Role
    status: MemberStatus
    github_username: str | None
    permissions: list[str]
    preferences: Preferences
    joined_at: datetime.datetime
    last_login_at: datetime.datetime | None
    version: int
    invited_by_id: strawberry.Private[str | None]

    @strawberry.field(graphql_type=Optional["Member"])
    def invited_by(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, self.invited_by_id)

    @strawberry.field(
        description="This person's cached GitHub analytics; null when absent, expired, or "
                    "when the caller may not see per-person analytics.",
        extensions=[access.silent(access.CanSeeAnalyticsOf)],
        graphql_type=Optional["GitHubData"],
    )
    def github_data(self, info: strawberry.Info) -> Maybe[GitHubData]:
        return github_data_of(info, self.github_username)

    @strawberry.field(
        description="Every organization this person is an active member of (GSI2, so a "
                    "membership of the last second may be missing). Only on your own "
                    "active membership (`viewer`); null on anyone else's.")
    async def organizations(self, info: strawberry.Info
                            ) -> list[OrganizationMembership] | None:
        ctx = info.context
        me = ctx.active_member
        if me is None or me.user_id != str(self.user_id):
            return None
        return [OrganizationMembership(
            organization_id=strawberry.ID(m.org_id), id=global_id("Organization", m.org_id),
            name=m.org_name, role=Role(m.role.value), joined_at=from_ms(m.joined_at))
            for m in await membership.my_organizations(ctx)]

    @classmethod
    def from_record(cls, m: records.Member) -> Member:
        return cls(
            id=global_id("Member", m.org_id, m.user_id), user_id=strawberry.ID(m.user_id),
            email=m.email, name=m.name, role=Role(m.role.value),
            status=MemberStatus(m.status.value), github_username=m.github_username,
            permissions=list(m.permissions), preferences=Preferences.from_dict(m.preferences),
            joined_at=from_ms(m.joined_at), last_login_at=maybe_ms(m.last_login_at),
            version=m.version,
            invited_by_id=m.invited_by,
        )


# Invitation


@strawberry.type(description="A pending or past invitation; its token is never shown again.")
class Invitation(Node):
    invitation_id: strawberry.ID
    email: str
    name: str | None
    role: Role
    status: InvitationStatus
    github_username: str | None
    invited_by_name: str | None
    created_at: datetime.datetime
    expires_at: datetime.datetime
    accepted_at: datetime.datetime | None
    invited_by_id: strawberry.Private[str]

    @strawberry.field(graphql_type=Optional["Member"])
    def invited_by(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, self.invited_by_id)

    @classmethod
    def from_record(cls, i: records.Invitation) -> Invitation:
        return cls(
            id=global_id("Invitation", i.org_id, i.invite_id),
            invitation_id=strawberry.ID(i.invite_id), email=i.email, name=i.name,
            role=Role(i.role.value),
            status=InvitationStatus(i.status.value), github_username=i.github_username,
            invited_by_name=i.invited_by_name, created_at=from_ms(i.created_at),
            expires_at=from_seconds(i.expires_at), accepted_at=maybe_ms(i.accepted_at),
            invited_by_id=i.invited_by,
        )


@strawberry.enum
class InvitationState(enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


@strawberry.type(description="What an invitation's token opens, shown to its holder before "
                             "accepting; nothing about anyone else.")
class InvitationPreview:
    organization_name: str
    inviter_name: str | None
    role: Role
    expires_at: datetime.datetime
    status: InvitationState


# GitHub analytics


@strawberry.type
class CodeQuality:
    overall_score: float | None
    rating: str | None
    analysis: str | None
    issues: list[str]
    recommendations: list[str]
    strengths: list[str]


@strawberry.type
class LanguageShare:
    name: str
    percent: float


@strawberry.type
class CommitFrequency:
    daily: float | None
    weekly: float | None
    monthly: float | None


@strawberry.type
class Metrics:
    total_commits: int | None
    total_repositories: int | None
    total_pull_requests: int | None
    total_issues: int | None
    average_commit_size: float | None
    large_commit_percentage: float | None
    average_pr_merge_time: float | None
    issue_resolution_rate: float | None
    languages: list[LanguageShare]
    commit_frequency: CommitFrequency | None


@strawberry.type
class BurnoutPatterns:
    late_night_commits: int | None
    weekend_work: int | None
    consecutive_work_days: int | None
    average_work_hours: float | None


@strawberry.type
class BurnoutRisk:
    risk_score: float | None
    risk_level: RiskLevel | None
    confidence: float | None
    health_status: str | None
    patterns: BurnoutPatterns


@strawberry.type
class GitHubData(Node):
    github_username: str
    code_quality: CodeQuality
    metrics: Metrics
    burnout_risk: BurnoutRisk
    cached_at: datetime.datetime
    expires_at: datetime.datetime
    data_source: str
    generation_time: str | None = strawberry.field(
        description="How long computing this entry took, e.g. \"850ms\".")
    api_calls_made: int | None = strawberry.field(
        description="GitHub API requests this entry cost (conditional ones answered 304 "
                    "included); null for entries recorded by a partner.")
    user_id: strawberry.Private[str | None]

    @strawberry.field(graphql_type=Optional["Member"])
    def member(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, self.user_id)

    @classmethod
    def from_record(cls, g: records.GitHubData) -> GitHubData:
        d = g.data
        cq = _get(d, "codeQuality") or {}
        mt = _get(d, "metrics") or {}
        br = _get(d, "burnoutRisk") or {}
        pt = _get(br, "patterns") or {}
        freq = _get(mt, "commitFrequency")
        langs = _get(mt, "languages") or {}
        return cls(
            id=global_id("GitHubData", g.org_id, g.github_username),
            github_username=g.github_username,
            code_quality=CodeQuality(
                overall_score=_float(cq.get("overallScore")), rating=cq.get("rating"),
                analysis=cq.get("analysis"), issues=_strs(cq.get("issues")),
                recommendations=_strs(cq.get("recommendations")),
                strengths=_strs(cq.get("strengths"))),
            metrics=Metrics(
                total_commits=_int(mt.get("totalCommits")),
                total_repositories=_int(mt.get("totalRepositories")),
                total_pull_requests=_int(mt.get("totalPullRequests")),
                total_issues=_int(mt.get("totalIssues")),
                average_commit_size=_float(mt.get("averageCommitSize")),
                large_commit_percentage=_float(mt.get("largeCommitPercentage")),
                average_pr_merge_time=_float(mt.get("averagePRMergeTime")),
                issue_resolution_rate=_float(mt.get("issueResolutionRate")),
                languages=[LanguageShare(name=k, percent=float(v))
                           for k, v in langs.items() if _float(v) is not None]
                if isinstance(langs, dict) else [],
                commit_frequency=CommitFrequency(
                    daily=_float(freq.get("daily")), weekly=_float(freq.get("weekly")),
                    monthly=_float(freq.get("monthly"))) if isinstance(freq, dict) else None),
            burnout_risk=BurnoutRisk(
                risk_score=_float(br.get("riskScore")),
                risk_level=_enum(RiskLevel, br.get("riskLevel")),
                confidence=_float(br.get("confidence")), health_status=br.get("healthStatus"),
                patterns=BurnoutPatterns(
                    late_night_commits=_int(pt.get("lateNightCommits")),
                    weekend_work=_int(pt.get("weekendWork")),
                    consecutive_work_days=_int(pt.get("consecutiveWorkDays")),
                    average_work_hours=_float(pt.get("averageWorkHours")))),
            cached_at=from_ms(g.cached_at), expires_at=from_seconds(g.expires_at),
            data_source=g.data_source, generation_time=g.generation_time,
            api_calls_made=g.api_calls_made, user_id=g.user_id,
        )


# Team report


# What those who may not see per-person analytics (viewers; members while
# allowMembersViewOthers is off) get of a report: schema/permissions.AnalyticsView.
WITHHELD = ("Withheld (null) from viewers, and from members while `allowMembersViewOthers` "
            "is off, when fewer people than the minimum group size (3 by default) are "
            "analyzed: over so few it is a person's own figure.")
ONLY_VISIBLE = ("Viewers get none, and members while `allowMembersViewOthers` is off only "
                "their own: an entry names a person and labels them.")


def _aggregate(description: str) -> Any:
    return strawberry.field(description=f"{description} {WITHHELD}",
                            extensions=[access.Aggregate()])


@strawberry.type(description="The team in numbers. `totalMembers`, `activeMembers`, "
                             "`analyzedMembers` and `withoutDataCount` count people and are "
                             "always shown; every other field is an aggregate of the analyzed "
                             "people's analytics.")
class ReportSummary:
    total_members: int
    active_members: int
    analyzed_members: int = strawberry.field(
        description="The active members with a code-quality score; with fewer than the "
                    "minimum group size, the aggregates are withheld from some callers.")
    without_data_count: int | None = strawberry.field(
        description="The active members with no current GitHub data; `withoutData` lists at "
                    "most 20 of them. Null for a report made before it was counted.")
    average_code_quality: float | None = _aggregate("Mean code-quality score.")
    average_burnout_risk: float | None = _aggregate("Mean burnout-risk score.")
    total_commits: int | None = _aggregate("Commits of everyone analyzed.")
    total_pull_requests: int | None = _aggregate("Pull requests of everyone analyzed.")
    total_issues: int | None = _aggregate("Issues of everyone analyzed.")
    needs_support_count: int | None = _aggregate(
        "Everyone who needs support; `needsSupport` lists at most 20 of them.")
    burnout_risk_count: int | None = _aggregate(
        "Everyone at risk of burnout; `burnoutRisks` lists at most 20, the most at risk "
        "first.")
    group_size: strawberry.Private[int]


@strawberry.type(description="A person a report lists. " + ONLY_VISIBLE)
class ReportPerson:
    user_id: strawberry.ID
    name: str
    code_quality: float | None
    commits: int | None
    contributions: str | None
    recommendation: str | None
    risk_score: float | None
    severity: Severity | None
    urgency: str | None

    @strawberry.field(graphql_type=Optional["Member"])
    def member(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, str(self.user_id))

    @classmethod
    def from_dict(cls, p: dict[str, Any]) -> ReportPerson:
        return cls(user_id=strawberry.ID(str(p.get("userId", ""))), name=str(p.get("name", "")),
                   code_quality=_float(p.get("codeQuality")), commits=_int(p.get("commits")),
                   contributions=p.get("contributions"),
                   recommendation=p.get("recommendation"),
                   risk_score=_float(p.get("riskScore")),
                   severity=_enum(Severity, p.get("severity")),
                   urgency=p.get("urgency"))


@strawberry.type(description="An active member a report has no current GitHub data of, so in "
                             "none of its scores. " + ONLY_VISIBLE)
class ReportPersonWithoutData:
    user_id: strawberry.ID
    name: str
    reason: analytics.NoDataReason

    @strawberry.field(graphql_type=Optional["Member"])
    def member(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, str(self.user_id))

    @classmethod
    def from_dict(cls, p: dict[str, Any]) -> ReportPersonWithoutData | None:
        """None for an entry whose reason this version does not know."""
        reason = _enum(analytics.NoDataReason, p.get("reason"))
        if reason is None:
            return None
        return cls(user_id=strawberry.ID(str(p.get("userId", ""))),
                   name=str(p.get("name", "")), reason=reason)


@strawberry.type
class Recommendation:
    priority: Priority
    category: str
    action: str
    # Whom it names (empty: the team), None when it names someone unknown (an old report).
    subjects: strawberry.Private[tuple[str, ...] | None]
    group_size: strawberry.Private[int]


def _people(description: str) -> Any:
    return strawberry.field(description=f"{description} {ONLY_VISIBLE}",
                            extensions=[access.OnlyVisiblePeople()])


@strawberry.type
class TeamReport(Node):
    report_date: str = strawberry.field(description="The day it reports on, YYYY-MM-DD.")
    report_type: str
    team_health: float | None = _aggregate(
        "0-10, from the mean code quality and burnout risk.")
    summary: ReportSummary
    top_performers: list[ReportPerson] = _people(
        "Code quality of 8 or more, the best first, at most 5.")
    needs_support: list[ReportPerson] = _people(
        "Code quality under 7, the lowest first, at most 20 (`summary.needsSupportCount` "
        "counts them all).")
    burnout_risks: list[ReportPerson] = _people(
        "Burnout risk of 6 or more, the highest first, at most 20 "
        "(`summary.burnoutRiskCount` counts them all).")
    without_data: list[ReportPersonWithoutData] = _people(
        "The active members with no current GitHub data, so in none of the scores: by "
        "reason (no GitHub username, none recorded, expired), at most 20 "
        "(`summary.withoutDataCount` counts them all). Empty for a report made before it "
        "listed them.")
    recommendations: list[Recommendation] = strawberry.field(
        description="What to do next. Viewers, and members while `allowMembersViewOthers` "
                    "is off, get only the team-wide ones and those naming only themselves, "
                    "and none when fewer people than the minimum group size (3 by default) "
                    "are analyzed: drawn from so few scores, a recommendation reveals them.",
        extensions=[access.OnlyVisibleRecommendations()])
    generated_by_name: str | None
    generated_at: datetime.datetime
    expires_at: datetime.datetime
    generated_by_id: strawberry.Private[str]
    group_size: strawberry.Private[int]

    @strawberry.field(graphql_type=Optional["Member"])
    def generated_by(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, self.generated_by_id)

    @classmethod
    def from_record(cls, r: records.TeamReport) -> TeamReport:
        d = r.data
        s = _get(d, "summary") or {}
        # Reports made before aggregateGroupSize existed (kept 24 h) count analyzed people.
        group = _int(s.get("aggregateGroupSize", s.get("analyzedMembers"))) or 0

        def people(name: str) -> list[ReportPerson]:
            return [ReportPerson.from_dict(p) for p in d.get(name) or []
                    if isinstance(p, dict)]
        return cls(
            id=global_id("TeamReport", r.org_id, r.report_date),
            report_date=r.report_date, report_type=r.report_type,
            team_health=_float(d.get("teamHealth")),
            summary=ReportSummary(
                total_members=_int(s.get("totalMembers")) or 0,
                active_members=_int(s.get("activeMembers")) or 0,
                analyzed_members=_int(s.get("analyzedMembers")) or 0,
                without_data_count=_int(s.get("withoutDataCount")),
                average_code_quality=_float(s.get("averageCodeQuality")),
                average_burnout_risk=_float(s.get("averageBurnoutRisk")),
                total_commits=_int(s.get("totalCommits")) or 0,
                total_pull_requests=_int(s.get("totalPullRequests")) or 0,
                total_issues=_int(s.get("totalIssues")) or 0,
                needs_support_count=_int(s.get("needsSupportCount"))
                or len(d.get("needsSupport") or []),
                burnout_risk_count=_int(s.get("burnoutRiskCount"))
                or len(d.get("burnoutRisks") or []),
                group_size=group),
            top_performers=people("topPerformers"), needs_support=people("needsSupport"),
            burnout_risks=people("burnoutRisks"),
            without_data=[w for p in d.get("withoutData") or [] if isinstance(p, dict)
                          and (w := ReportPersonWithoutData.from_dict(p)) is not None],
            recommendations=[Recommendation(
                priority=_enum(Priority, x.get("priority")) or Priority.MEDIUM,
                category=str(x.get("category", "")), action=str(x.get("action", "")),
                subjects=analytics.recommendation_subjects(x, d), group_size=group)
                             for x in d.get("recommendations") or [] if isinstance(x, dict)],
            generated_by_name=r.generated_by_name, generated_at=from_ms(r.generated_at),
            expires_at=from_seconds(r.expires_at), generated_by_id=r.generated_by,
            group_size=group,
        )


@strawberry.type
class ActivityEvent(Node):
    event_id: strawberry.ID
    at: datetime.datetime
    action: str = strawberry.field(description="What happened, as `entity.verb` (for "
                                               "example `member.removed`); new kinds may "
                                               "appear.")
    target: str | None
    actor_id: strawberry.ID

    @strawberry.field(graphql_type=Optional["Member"])
    def actor(self, info: strawberry.Info) -> Maybe[Member]:
        return member_of(info, str(self.actor_id))

    @classmethod
    def from_record(cls, e: records.ActivityEvent) -> ActivityEvent:
        return cls(id=global_id("ActivityEvent", e.org_id, str(e.at), e.event_id),
                   event_id=strawberry.ID(e.event_id), at=from_ms(e.at), action=e.action,
                   target=e.target, actor_id=strawberry.ID(e.actor_id))


# Connections


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


Count = Callable[[], Awaitable[int]]


def page_of(result: Slice[R], wrap: Callable[[R], T]) -> tuple[list[Edge[T]], PageInfo]:
    edges = [Edge(cursor=c, node=wrap(n)) for n, c in zip(result.nodes, result.cursors,
                                                            strict=True)]
    return edges, PageInfo(
        has_next_page=result.has_next, has_previous_page=result.has_previous,
        start_cursor=result.cursors[0] if result.cursors else None,
        end_cursor=result.cursors[-1] if result.cursors else None)


@strawberry.type
class MemberConnection(Connection[Member]):
    count: strawberry.Private[Count]

    @strawberry.field(description="Everyone the filters match, from the counters the "
                                  "organization keeps (no extra read).")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type
class InvitationConnection(Connection[Invitation]):
    count: strawberry.Private[Count]

    @strawberry.field(description="Every invitation the filter matches, counted when asked "
                                  "(one COUNT query of the invitations).")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type
class GitHubDataConnection(Connection[GitHubData]):
    count: strawberry.Private[Count]

    @strawberry.field(description="Every current cache entry of the organization, counted "
                                  "when asked (one COUNT query of the entries).")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type
class ActivityEventConnection(Connection[ActivityEvent]):
    """No totalCount: the feed keeps 90 days and only DynamoDB's TTL trims it, so no counter
    stays true, and counting it would read the whole feed."""


async def member_page(info: strawberry.Info, role: Role | None, status: MemberStatus | None,
                      window: Window) -> MemberConnection:
    """The people of the caller's org (``Query.members`` and ``Organization.members``)."""
    ctx = info.context
    # Only for a caller who may see everyone's: anyone else sees at most their own, which
    # the loader fetches if the page has it.
    prefetch = (selects(info.selected_fields, "edges", "node", "githubData")
                and access.analytics_view(info).everyone)
    store_role = records.Role(role.value) if role else None
    store_status = records.MemberStatus(status.value) if status else None
    result = await team.member_slice(ctx, store_role, store_status, window,
                                     prefetch_github_data=prefetch)
    edges, page_info = page_of(result, Member.from_record)

    async def count() -> int:
        return await membership.member_count(ctx, store_role, store_status)
    return MemberConnection(edges=edges, page_info=page_info, count=count)
