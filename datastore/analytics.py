"""GitHub analytics cache and team reports, both kept for a limited time (TTL)."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from datastore import activity, keys, members
from datastore.records import DAY_SECONDS, GitHubData, Member, TeamReport, now_ms
from datastore.store import Put, Query, Store

TOP_PERFORMER_SCORE = 8.0
NEEDS_SUPPORT_SCORE = 7.0
BURNOUT_RISK_SCORE = 6.0
CRITICAL_RISK_SCORE = 8.0


async def get_github_data(store: Store, org_id: str, username: str) -> GitHubData | None:
    item = await store.get(keys.github_data(org_id, username))
    return GitHubData.from_item(item) if item else None


def team_github_query(org_id: str) -> Query:
    return Query(partition=keys.org_pk(org_id), prefix=keys.GITHUB_DATA)


async def record_github_data(store: Store, org_id: str, username: str, actor_id: str,
                             data: Mapping[str, Any], *, user_id: str | None,
                             data_source: str, ttl_seconds: int = DAY_SECONDS,
                             generation_time: str | None = None) -> GitHubData:
    record = GitHubData(org_id=org_id, github_username=username, user_id=user_id,
                        data=dict(data), cached_at=now_ms(),
                        expires_at=store.now_seconds() + ttl_seconds, data_source=data_source,
                        generation_time=generation_time)
    e = activity.event(store, org_id, actor_id, "github_data.recorded", username)
    await store.transact([Put(record.to_item()), activity.put_event(e)])
    return record


async def get_team_report(store: Store, org_id: str, report_date: str) -> TeamReport | None:
    item = await store.get(keys.team_report(org_id, report_date))
    return TeamReport.from_item(item) if item else None


async def latest_team_report(store: Store, org_id: str) -> TeamReport | None:
    page = await store.query(Query(partition=keys.org_pk(org_id), prefix=keys.TEAM_REPORT,
                                   forward=False, limit=1))
    return TeamReport.from_item(page.items[0]) if page.items else None


def _score(data: GitHubData | None, *path: str) -> float | None:
    node: Any = data.data if data else None
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


@dataclass(frozen=True, slots=True)
class _Row:
    member: Member
    quality: float | None
    risk: float | None
    commits: int
    pull_requests: int
    issues: int


def _row(member: Member, data: GitHubData | None) -> _Row:
    return _Row(member, _score(data, "codeQuality", "overallScore"),
                _score(data, "burnoutRisk", "riskScore"),
                int(_score(data, "metrics", "totalCommits") or 0),
                int(_score(data, "metrics", "totalPullRequests") or 0),
                int(_score(data, "metrics", "totalIssues") or 0))


def compute_report(people: Iterable[Member], analytics: Mapping[str, GitHubData],
                   ) -> dict[str, Any]:
    """The team report from the members' cached GitHub data; pure, so it is easy to test."""
    people = list(people)
    active = [m for m in people if m.status.value == "active"]
    rows = [_row(m, analytics.get(m.github_username or "")) for m in active]
    quality = [(r, r.quality) for r in rows if r.quality is not None]
    risk = [(r, r.risk) for r in rows if r.risk is not None]
    avg_quality = round(statistics.fmean(q for _, q in quality), 1) if quality else None
    avg_risk = round(statistics.fmean(k for _, k in risk), 1) if risk else None
    health = None
    if avg_quality is not None:
        health = round(avg_quality * 0.6 + (10 - (avg_risk or 0.0)) * 0.4, 1)
    top = sorted((p for p in quality if p[1] >= TOP_PERFORMER_SCORE),
                 key=lambda p: (-p[1], p[0].member.user_id))[:5]
    support = sorted((p for p in quality if p[1] < NEEDS_SUPPORT_SCORE),
                     key=lambda p: (p[1], p[0].member.user_id))
    burnout = sorted((p for p in risk if p[1] >= BURNOUT_RISK_SCORE),
                     key=lambda p: (-p[1], p[0].member.user_id))
    critical = [p for p in burnout if p[1] >= CRITICAL_RISK_SCORE]
    recommendations = []
    if critical:
        names = ", ".join(p[0].member.name for p in critical)
        recommendations.append({"priority": "URGENT", "category": "Burnout Prevention",
                                "action": f"Talk with {names} about workload this week"})
    elif burnout:
        recommendations.append({"priority": "HIGH", "category": "Burnout Prevention",
                                "action": "Rebalance work for members with rising risk"})
    if support:
        recommendations.append({"priority": "HIGH", "category": "Team Development",
                                "action": "Pair members who need support with senior engineers"})
    if missing := len(rows) - len(quality):
        recommendations.append({"priority": "MEDIUM", "category": "Data Coverage",
                                "action": f"Record GitHub data for {missing} member(s) "
                                          "without analytics"})
    return {
        "teamHealth": health,
        "summary": {
            "totalMembers": len(people), "activeMembers": len(active),
            "analyzedMembers": len(quality), "averageCodeQuality": avg_quality,
            "averageBurnoutRisk": avg_risk,
            "totalCommits": sum(r.commits for r in rows),
            "totalPullRequests": sum(r.pull_requests for r in rows),
            "totalIssues": sum(r.issues for r in rows),
        },
        "topPerformers": [{"userId": r.member.user_id, "name": r.member.name,
                           "codeQuality": q, "commits": r.commits,
                           "contributions": "Outstanding" if q >= 8.5 else "Strong"}
                          for r, q in top],
        "needsSupport": [{"userId": r.member.user_id, "name": r.member.name, "codeQuality": q,
                          "recommendation": "Pair programming with a senior engineer"}
                         for r, q in support],
        "burnoutRisks": [{"userId": r.member.user_id, "name": r.member.name, "riskScore": k,
                          "severity": "CRITICAL" if k >= CRITICAL_RISK_SCORE else "HIGH",
                          "urgency": "Immediate action required" if k >= CRITICAL_RISK_SCORE
                          else "Check in this week"}
                         for r, k in burnout],
        "recommendations": recommendations,
    }


async def generate_team_report(store: Store, org_id: str, report_date: str, actor: Member,
                               *, ttl_seconds: int = DAY_SECONDS) -> TeamReport:
    people = [Member.from_item(i) for i in await store.query_all(
        members.list_query(org_id))]
    usernames = {m.github_username for m in people if m.github_username}
    found = await store.batch_get([keys.github_data(org_id, u) for u in sorted(usernames)])
    analytics = {d.github_username: d for d in map(GitHubData.from_item, found.values())}
    report = TeamReport(
        org_id=org_id, report_date=report_date, report_id="report-" + uuid.uuid4().hex[:12],
        report_type="daily", generated_by=actor.user_id, generated_by_name=actor.name,
        data=compute_report(people, analytics), generated_at=now_ms(),
        expires_at=store.now_seconds() + ttl_seconds,
    )
    e = activity.event(store, org_id, actor.user_id, "team_report.generated", report_date)
    await store.transact([Put(report.to_item()), activity.put_event(e)])
    return report
