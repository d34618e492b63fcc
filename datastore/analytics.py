"""GitHub analytics cache and team reports, both kept for a limited time (TTL).

A team report is one item, so its size must not grow with the team: DynamoDB refuses items
over 400 KB (about 4,500 people listed in full), and every read of the latest report pays
for its whole size. The people lists are therefore capped (the most urgent first) and the
summary counts everyone: ``needsSupportCount`` and ``burnoutRiskCount`` say how many the
capped lists stand for.

Each recommendation records whom it names (``userIds``, empty for a team-wide one), so the API
can tell a per-person recommendation from a team-wide one without reading its text.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from datastore import activity, keys, members
from datastore.actors import Actor
from datastore.records import DAY_SECONDS, GitHubData, Member, MemberStatus, TeamReport, now_ms
from datastore.store import Put, Query, Store

TOP_PERFORMER_SCORE = 8.0
OUTSTANDING_SCORE = 8.5
NEEDS_SUPPORT_SCORE = 7.0
BURNOUT_RISK_SCORE = 6.0
CRITICAL_RISK_SCORE = 8.0
TOP_PERFORMERS = 5
LISTED_PEOPLE = 20  # per list: needsSupport, burnoutRisks
NAMED_IN_ACTION = 3  # people a recommendation names before "and N more"


async def get_github_data(store: Store, org_id: str, username: str) -> GitHubData | None:
    item = await store.get(keys.github_data(org_id, username))
    return GitHubData.from_item(item) if item else None


def team_github_query(org_id: str) -> Query:
    return Query(partition=keys.org_pk(org_id), prefix=keys.GITHUB_DATA)


async def record_github_data(store: Store, actor: Actor, username: str,
                             data: Mapping[str, Any], *, user_id: str | None,
                             data_source: str, ttl_seconds: int = DAY_SECONDS,
                             generation_time: str | None = None) -> GitHubData:
    org_id = actor.org_id
    record = GitHubData(org_id=org_id, github_username=username, user_id=user_id,
                        data=dict(data), cached_at=now_ms(),
                        expires_at=store.now_seconds() + ttl_seconds, data_source=data_source,
                        generation_time=generation_time)
    e = activity.event(store, org_id, actor.user_id, "github_data.recorded", username)
    await actor.transact(store, [Put(record.to_item()), activity.put_event(e)])
    return record


async def get_team_report(store: Store, org_id: str, report_date: str) -> TeamReport | None:
    item = await store.get(keys.team_report(org_id, report_date))
    return TeamReport.from_item(item) if item else None


async def latest_team_report(store: Store, org_id: str) -> TeamReport | None:
    """The newest report, reading no other (a page of one would read a second to know
    whether more follow)."""
    item = await store.first(Query(partition=keys.org_pk(org_id), prefix=keys.TEAM_REPORT,
                                   forward=False))
    return TeamReport.from_item(item) if item else None


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
    active = [m for m in people if m.status is MemberStatus.ACTIVE]
    rows = [_row(m, analytics.get(m.github_username or "")) for m in active]
    quality = [(r, r.quality) for r in rows if r.quality is not None]
    risk = [(r, r.risk) for r in rows if r.risk is not None]
    support = _ranked(quality, lambda q: q < NEEDS_SUPPORT_SCORE, worst_first=False)
    burnout = _ranked(risk, lambda k: k >= BURNOUT_RISK_SCORE, worst_first=True)
    avg_quality = _mean(q for _, q in quality)
    avg_risk = _mean(k for _, k in risk)
    analyzed = [r for m, r in zip(active, rows, strict=True)
                if analytics.get(m.github_username or "") is not None]
    # The fewest people any aggregate is taken over (averages over those with that score,
    # totals over those with data): privacy withholds aggregates below a minimum of it.
    groups = [n for n in (len(quality), len(risk), len(analyzed)) if n]
    return {
        "teamHealth": _team_health(avg_quality, avg_risk),
        "summary": {
            "totalMembers": len(people), "activeMembers": len(active),
            "analyzedMembers": len(quality), "averageCodeQuality": avg_quality,
            "averageBurnoutRisk": avg_risk,
            "totalCommits": sum(r.commits for r in rows),
            "totalPullRequests": sum(r.pull_requests for r in rows),
            "totalIssues": sum(r.issues for r in rows),
            "needsSupportCount": len(support), "burnoutRiskCount": len(burnout),
            "aggregateGroupSize": min(groups, default=0),
        },
        "topPerformers": [_top_performer(r, q) for r, q in _ranked(
            quality, lambda q: q >= TOP_PERFORMER_SCORE, worst_first=True)[:TOP_PERFORMERS]],
        "needsSupport": [_needs_support(r, q) for r, q in support[:LISTED_PEOPLE]],
        "burnoutRisks": [_burnout_risk(r, k) for r, k in burnout[:LISTED_PEOPLE]],
        "recommendations": _recommendations(burnout, support, len(rows) - len(quality)),
    }


Scored = tuple[_Row, float]


def _ranked(scored: list[Scored], keep: Callable[[float], bool], *, worst_first: bool
            ) -> list[Scored]:
    """The rows whose score passes ``keep``, highest score first when ``worst_first``
    (risk, and the best performers), else lowest first; ties by user id."""
    sign = -1 if worst_first else 1
    return sorted((p for p in scored if keep(p[1])),
                  key=lambda p: (sign * p[1], p[0].member.user_id))


def _mean(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(statistics.fmean(found), 1) if found else None


def _team_health(avg_quality: float | None, avg_risk: float | None) -> float | None:
    if avg_quality is None:
        return None
    return round(avg_quality * 0.6 + (10 - (avg_risk or 0.0)) * 0.4, 1)


def _top_performer(r: _Row, q: float) -> dict[str, Any]:
    return {"userId": r.member.user_id, "name": r.member.name, "codeQuality": q,
            "commits": r.commits,
            "contributions": "Outstanding" if q >= OUTSTANDING_SCORE else "Strong"}


def _needs_support(r: _Row, q: float) -> dict[str, Any]:
    return {"userId": r.member.user_id, "name": r.member.name, "codeQuality": q,
            "recommendation": "Pair programming with a senior engineer"}


def _burnout_risk(r: _Row, k: float) -> dict[str, Any]:
    critical = k >= CRITICAL_RISK_SCORE
    return {"userId": r.member.user_id, "name": r.member.name, "riskScore": k,
            "severity": "CRITICAL" if critical else "HIGH",
            "urgency": "Immediate action required" if critical else "Check in this week"}


def _names(rows: list[Scored]) -> str:
    named = ", ".join(r.member.name for r, _ in rows[:NAMED_IN_ACTION])
    more = len(rows) - NAMED_IN_ACTION
    return f"{named} and {more} more" if more > 0 else named


def _recommendations(burnout: list[Scored], support: list[Scored], unanalyzed: int
                     ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    critical = [p for p in burnout if p[1] >= CRITICAL_RISK_SCORE]
    if critical:
        out.append({"priority": "URGENT", "category": "Burnout Prevention",
                    "action": f"Talk with {_names(critical)} about workload this week",
                    "userIds": [r.member.user_id for r, _ in critical[:NAMED_IN_ACTION]]})
    elif burnout:
        out.append({"priority": "HIGH", "category": "Burnout Prevention",
                    "action": "Rebalance work for members with rising risk", "userIds": []})
    if support:
        out.append({"priority": "HIGH", "category": "Team Development",
                    "action": "Pair members who need support with senior engineers",
                    "userIds": []})
    if unanalyzed:
        out.append({"priority": "MEDIUM", "category": "Data Coverage",
                    "action": f"Record GitHub data for {unanalyzed} member(s) "
                              "without analytics", "userIds": []})
    return out


PEOPLE_LISTS = ("topPerformers", "needsSupport", "burnoutRisks")


def recommendation_subjects(recommendation: Mapping[str, Any], report: Mapping[str, Any]
                            ) -> tuple[str, ...] | None:
    """The user ids a stored recommendation names (none: team-wide), or None when it names
    someone but the report does not say whom.

    Reports made before recommendations recorded ``userIds`` only have the text: one that
    mentions a person the report lists counts as naming someone unknown.
    """
    ids = recommendation.get("userIds")
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        return tuple(ids)
    action = str(recommendation.get("action", ""))
    names = {str(p.get("name", "")) for listed in PEOPLE_LISTS
             for p in report.get(listed) or [] if isinstance(p, dict)}
    return None if any(_mentions(action, n) for n in names) else ()


def _mentions(text: str, name: str) -> bool:
    """Whether ``text`` has a word of ``name`` (one with a letter) as a whole word: "Address
    Alice's burnout" mentions "Alice Dev"; case counts, so "members" is not "Member 7"."""
    words = [w for w in name.split() if any(c.isalpha() for c in w)]
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text) for w in words)


async def generate_team_report(store: Store, actor: Actor, report_date: str, *,
                               ttl_seconds: int = DAY_SECONDS) -> TeamReport:
    org_id = actor.org_id
    # Strongly consistent: the report is kept for a day, and must not miss analytics
    # recorded a moment ago.
    people = [Member.from_item(i) for i in await store.query_all(
        dataclasses.replace(members.list_query(org_id), consistent=True))]
    usernames = {m.github_username for m in people if m.github_username}
    found = await store.batch_get([keys.github_data(org_id, u) for u in sorted(usernames)],
                                  consistent=True)
    analytics = {d.github_username: d for d in map(GitHubData.from_item, found.values())}
    report = TeamReport(
        org_id=org_id, report_date=report_date, report_id="report-" + uuid.uuid4().hex[:12],
        report_type="daily", generated_by=actor.user_id, generated_by_name=actor.member.name,
        data=compute_report(people, analytics), generated_at=now_ms(),
        expires_at=store.now_seconds() + ttl_seconds,
    )
    e = activity.event(store, org_id, actor.user_id, "team_report.generated", report_date)
    await actor.transact(store, [Put(report.to_item()), activity.put_event(e)])
    return report
