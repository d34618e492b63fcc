"""Input types of mutations."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import validation
from schema.types import RiskLevel, Role

EXPECTED_VERSION = ("The version you read. When given and the object changed since, the "
                    "mutation returns VersionConflict and changes nothing; omit it to apply "
                    "the change to whatever is current.")


def expected_version() -> Any:
    return strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input
class FeaturesInput:
    code_quality: bool | None = strawberry.UNSET
    burnout_detection: bool | None = strawberry.UNSET
    team_analytics: bool | None = strawberry.UNSET
    ai_reports: bool | None = strawberry.UNSET


@strawberry.input
class EmailNotificationsInput:
    burnout_alerts: bool | None = strawberry.UNSET
    weekly_reports: bool | None = strawberry.UNSET
    critical_alerts: bool | None = strawberry.UNSET


@strawberry.input
class CreateOrganizationInput:
    name: str
    github_username: str | None = None


@strawberry.input
class UpdateOrganizationSettingsInput:
    expected_version: int | None = expected_version()
    name: str | None = strawberry.UNSET
    allow_members_view_others: bool | None = strawberry.UNSET
    privacy_mode: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    features: FeaturesInput | None = strawberry.UNSET
    email_notifications: EmailNotificationsInput | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        """Dotted settings paths to set; only fields the caller sent (null is not a value)."""
        out: dict[str, Any] = {}
        for attr, path in (("allow_members_view_others", "allowMembersViewOthers"),
                           ("privacy_mode", "privacyMode"), ("timezone", "timezone")):
            value = getattr(self, attr)
            if value is not strawberry.UNSET and value is not None:
                out[path] = value
        for group, path in ((self.features, "features"),
                            (self.email_notifications, "emailNotifications")):
            if group is strawberry.UNSET or group is None:
                continue
            values = {_camel(k): v for k, v in vars(group).items()
                      if v is not strawberry.UNSET and v is not None}
            for key, value in values.items():
                out[f"{path}.{key}"] = value
        return out


@strawberry.input
class InviteMemberInput:
    email: str
    role: Role = Role.MEMBER
    name: str | None = None
    github_username: str | None = None


@strawberry.input
class AcceptInvitationInput:
    token: str


@strawberry.input
class RevokeInvitationInput:
    invitation_id: strawberry.ID


@strawberry.input
class ChangeMemberRoleInput:
    user_id: strawberry.ID
    role: Role
    expected_version: int | None = expected_version()


@strawberry.input
class RemoveMemberInput:
    user_id: strawberry.ID
    expected_version: int | None = expected_version()


@strawberry.input
class ResendInvitationInput:
    invitation_id: strawberry.ID


@strawberry.input
class SuspendMemberInput:
    user_id: strawberry.ID
    expected_version: int | None = expected_version()


@strawberry.input
class ReactivateMemberInput:
    user_id: strawberry.ID
    expected_version: int | None = expected_version()


@strawberry.input
class UpdateMemberInput:
    user_id: strawberry.ID
    name: str | None = None
    github_username: str | None = None
    expected_version: int | None = expected_version()


@strawberry.input
class UpdateMyProfileInput:
    name: str | None = None
    github_username: str | None = None
    expected_version: int | None = expected_version()


@strawberry.input
class TransferOwnershipInput:
    user_id: strawberry.ID = strawberry.field(
        description="The new owner: an active member, made an admin if not one already.")
    expected_version: int | None = strawberry.field(
        default=None, description="The organization's version. " + EXPECTED_VERSION)


@strawberry.input
class DeleteOrganizationInput:
    confirm_name: str = strawberry.field(
        description="The organization's name, typed exactly: the confirmation that this is "
                    "the organization to delete.")


@strawberry.input
class RefreshGitHubDataInput:
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Whose analytics to fetch again from GitHub; default "
                                  "yourself. Someone else's needs the write_team_data "
                                  "permission (admins).")


@strawberry.input
class GenerateTeamReportInput:
    date: str | None = strawberry.field(
        default=None, description="The day to report on, YYYY-MM-DD; default today (UTC).")


@strawberry.input
class UpdateMyPreferencesInput:
    expected_version: int | None = expected_version()
    email_notifications: bool | None = strawberry.UNSET
    weekly_reports: bool | None = strawberry.UNSET
    burnout_alerts: bool | None = strawberry.UNSET
    language: str | None = strawberry.UNSET
    date_format: str | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in vars(self).items()
                if k != "expected_version" and v is not strawberry.UNSET and v is not None}


@strawberry.input
class CodeQualityInput:
    overall_score: float | None = None
    rating: str | None = None
    analysis: str | None = None
    issues: list[str] = strawberry.field(default_factory=list)
    recommendations: list[str] = strawberry.field(default_factory=list)
    strengths: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class LanguageShareInput:
    name: str
    percent: float


@strawberry.input
class MetricsInput:
    total_commits: int | None = None
    total_repositories: int | None = None
    total_pull_requests: int | None = None
    total_issues: int | None = None
    average_commit_size: float | None = None
    languages: list[LanguageShareInput] = strawberry.field(default_factory=list)


@strawberry.input
class BurnoutPatternsInput:
    late_night_commits: int | None = None
    weekend_work: int | None = None
    consecutive_work_days: int | None = None
    average_work_hours: float | None = None


@strawberry.input
class BurnoutRiskInput:
    risk_score: float | None = None
    risk_level: RiskLevel | None = None
    confidence: float | None = None
    health_status: str | None = None
    patterns: BurnoutPatternsInput | None = None


@strawberry.input
class RecordGitHubDataInput:
    github_username: str
    code_quality: CodeQualityInput
    metrics: MetricsInput
    burnout_risk: BurnoutRiskInput
    data_source: str = "partner"

    def data(self) -> dict[str, Any]:
        """The stored analytics document, validated; raises InputInvalid naming the field."""
        v = validation
        cq, mt, br = self.code_quality, self.metrics, self.burnout_risk
        if len(mt.languages) > validation.MAX_LIST:
            raise v.InputInvalid("metrics.languages", "must have at most 50 entries")
        patterns = br.patterns or BurnoutPatternsInput()
        return {
            "codeQuality": {
                "overallScore": v.score(cq.overall_score, "codeQuality.overallScore"),
                "rating": v.text(cq.rating, "codeQuality.rating", 50) if cq.rating else None,
                "analysis": v.text(cq.analysis, "codeQuality.analysis") if cq.analysis
                else None,
                "issues": v.texts(cq.issues, "codeQuality.issues"),
                "recommendations": v.texts(cq.recommendations, "codeQuality.recommendations"),
                "strengths": v.texts(cq.strengths, "codeQuality.strengths"),
            },
            "metrics": {
                "totalCommits": v.count(mt.total_commits, "metrics.totalCommits"),
                "totalRepositories": v.count(mt.total_repositories, "metrics.totalRepositories"),
                "totalPullRequests": v.count(mt.total_pull_requests,
                                             "metrics.totalPullRequests"),
                "totalIssues": v.count(mt.total_issues, "metrics.totalIssues"),
                "averageCommitSize": v.score(mt.average_commit_size,
                                             "metrics.averageCommitSize", 0, 10**9),
                "languages": {v.text(lang.name, "metrics.languages.name", 50):
                              v.score(lang.percent, "metrics.languages.percent", 0, 100)
                              for lang in mt.languages},
            },
            "burnoutRisk": {
                "riskScore": v.score(br.risk_score, "burnoutRisk.riskScore"),
                "riskLevel": br.risk_level.value if br.risk_level else None,
                "confidence": v.score(br.confidence, "burnoutRisk.confidence", 0, 100),
                "healthStatus": v.text(br.health_status, "burnoutRisk.healthStatus", 20)
                if br.health_status else None,
                "patterns": {
                    "lateNightCommits": v.count(patterns.late_night_commits,
                                                "burnoutRisk.patterns.lateNightCommits"),
                    "weekendWork": v.count(patterns.weekend_work,
                                           "burnoutRisk.patterns.weekendWork"),
                    "consecutiveWorkDays": v.count(patterns.consecutive_work_days,
                                                   "burnoutRisk.patterns.consecutiveWorkDays"),
                    "averageWorkHours": v.score(patterns.average_work_hours,
                                                "burnoutRisk.patterns.averageWorkHours", 0, 24),
                },
            },
        }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
