"""GitHub analytics cache and team reports, both kept for a limited time (TTL).

A team report is one item, so its size must not grow with the team: DynamoDB refuses items
over 400 KB (about 4,500 people listed in full), and every read of the latest report pays
for its whole size. The people lists are therefore capped (the most urgent first) and the
summary counts everyone: ``needsSupportCount``, ``burnoutRiskCount`` and ``withoutDataCount``
say how many the capped lists stand for.

A report says whom it could not analyze (``withoutData``, each with a NoDataReason) rather than
silently leaving them out. GitHub data past its ``expiresAt`` is one of those reasons, never a
source of scores: DynamoDB may still return such an item until its TTL deletes it.

Each recommendation records whom it names (``userIds``, empty for a team-wide one), so the API
can tell a per-person recommendation from a team-wide one without reading its text.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import statistics
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
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
LISTED_PEOPLE = 20  # per list: needsSupport, burnoutRisks, withoutData
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


# The team report, in steps: score each analyzed person, say who has no current data and
# why, group the analyzed, sum the team up, recommend. Each step is pure, so each is tested on
# its own (tests/datastore/test_analytics.py).


@dataclass(frozen=True, slots=True)
class Scores:
    """What a report reads of one person's GitHubData; a score not recorded is None, a
    count not recorded is 0."""

    quality: float | None
    risk: float | None
    commits: int
    pull_requests: int
    issues: int


def _number(tree: Any, *path: str) -> float | None:
    """The number at ``path`` in ``tree``; None when absent or not a number (a boolean is
    not one)."""
    for part in path:
        tree = tree.get(part) if isinstance(tree, dict) else None
    return float(tree) if isinstance(tree, int | float) and not isinstance(tree, bool) else None


def scores_of(data: GitHubData) -> Scores:
    d = data.data
    return Scores(quality=_number(d, "codeQuality", "overallScore"),
                  risk=_number(d, "burnoutRisk", "riskScore"),
                  commits=int(_number(d, "metrics", "totalCommits") or 0),
                  pull_requests=int(_number(d, "metrics", "totalPullRequests") or 0),
                  issues=int(_number(d, "metrics", "totalIssues") or 0))


@dataclass(frozen=True, slots=True)
class Analyzed:
    """An active member with current GitHub data, and its scores."""

    member: Member
    scores: Scores


def analyzed_members(active: Iterable[Member], analytics: Mapping[str, GitHubData]
                     ) -> list[Analyzed]:
    """The members with GitHub data (``analytics`` by username), in the members' order."""
    return [Analyzed(m, scores_of(analytics[m.github_username])) for m in active
            if m.github_username and m.github_username in analytics]


# Who has no current data, and why


def current_data(found: Iterable[GitHubData], now: int
                 ) -> tuple[dict[str, GitHubData], frozenset[str]]:
    """The data still current at ``now`` (epoch seconds) by username, and the usernames
    whose data has expired: at its ``expiresAt`` it is gone, by the store's rule, although
    DynamoDB may return it until TTL deletes it."""
    found = list(found)
    return ({d.github_username: d for d in found if d.expires_at > now},
            frozenset(d.github_username for d in found if d.expires_at <= now))


class NoDataReason(enum.StrEnum):
    """Why a report has no current GitHub data of an active member; in this order in the
    report, the one only a person can fix first."""

    NO_GITHUB_USERNAME = "NO_GITHUB_USERNAME"
    NO_DATA = "NO_DATA"  # never recorded, or deleted by TTL
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class WithoutData:
    member: Member
    reason: NoDataReason


def reason_without_data(member: Member, analytics: Mapping[str, GitHubData],
                        expired: Collection[str]) -> NoDataReason | None:
    """Why ``member`` has no current data (None: they have)."""
    username = member.github_username
    if not username:
        return NoDataReason.NO_GITHUB_USERNAME
    if username in analytics:
        return None
    return NoDataReason.EXPIRED if username in expired else NoDataReason.NO_DATA


def without_data(active: Iterable[Member], analytics: Mapping[str, GitHubData],
                 expired: Collection[str]) -> list[WithoutData]:
    """The members with no current data, by reason (NoDataReason's order), then user id."""
    found = [WithoutData(m, r) for m in active
             if (r := reason_without_data(m, analytics, expired)) is not None]
    order = list(NoDataReason)
    return sorted(found, key=lambda w: (order.index(w.reason), w.member.user_id))


# Grouping


@dataclass(frozen=True, slots=True)
class Ranked:
    """A person placed in a list by one of their scores."""

    person: Analyzed
    score: float


def _ranked(analyzed: Iterable[Analyzed], score: Callable[[Scores], float | None],
            keep: Callable[[float], bool], *, highest_first: bool) -> list[Ranked]:
    """The people whose score passes ``keep``, highest or lowest score first; ties by user
    id, so a report never depends on the order the members were read in."""
    found = [Ranked(a, s) for a in analyzed if (s := score(a.scores)) is not None and keep(s)]
    sign = -1 if highest_first else 1
    return sorted(found, key=lambda r: (sign * r.score, r.person.member.user_id))


def _quality(s: Scores) -> float | None:
    return s.quality


def _risk(s: Scores) -> float | None:
    return s.risk


def top_performers(analyzed: Iterable[Analyzed]) -> list[Ranked]:
    """Code quality of TOP_PERFORMER_SCORE or more, the best first."""
    return _ranked(analyzed, _quality, lambda q: q >= TOP_PERFORMER_SCORE, highest_first=True)


def needs_support(analyzed: Iterable[Analyzed]) -> list[Ranked]:
    """Code quality under NEEDS_SUPPORT_SCORE, the lowest first."""
    return _ranked(analyzed, _quality, lambda q: q < NEEDS_SUPPORT_SCORE, highest_first=False)


def burnout_risks(analyzed: Iterable[Analyzed]) -> list[Ranked]:
    """Burnout risk of BURNOUT_RISK_SCORE or more, the highest first."""
    return _ranked(analyzed, _risk, lambda k: k >= BURNOUT_RISK_SCORE, highest_first=True)


@dataclass(frozen=True, slots=True)
class GroupSizes:
    """How many people each aggregate is taken over: the averages over those with that
    score, the totals over everyone with data."""

    quality: int
    risk: int
    data: int

    @property
    def smallest(self) -> int:
        """The fewest people any aggregate is taken over (0: no aggregate at all); privacy
        withholds the aggregates below a minimum of it."""
        return min((n for n in (self.quality, self.risk, self.data) if n), default=0)


def group_sizes(analyzed: Sequence[Analyzed]) -> GroupSizes:
    return GroupSizes(quality=sum(a.scores.quality is not None for a in analyzed),
                      risk=sum(a.scores.risk is not None for a in analyzed),
                      data=len(analyzed))


@dataclass(frozen=True, slots=True)
class Groups:
    """Who the report lists, each group whole and in list order (the document caps them),
    and the sizes of the groups its aggregates are taken over."""

    top_performers: list[Ranked]
    needs_support: list[Ranked]
    burnout_risks: list[Ranked]
    sizes: GroupSizes


def group(analyzed: Sequence[Analyzed]) -> Groups:
    return Groups(top_performers=top_performers(analyzed),
                  needs_support=needs_support(analyzed),
                  burnout_risks=burnout_risks(analyzed), sizes=group_sizes(analyzed))


# Summary


def _mean(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.fmean(found), 1) if found else None


def summary(people: Sequence[Member], active: Sequence[Member], analyzed: Sequence[Analyzed],
            groups: Groups, missing: Sequence[WithoutData]) -> dict[str, Any]:
    """The team in numbers: how many people, and the aggregates of the analyzed ones."""
    return {
        "totalMembers": len(people), "activeMembers": len(active),
        "analyzedMembers": groups.sizes.quality,
        "averageCodeQuality": _mean(a.scores.quality for a in analyzed),
        "averageBurnoutRisk": _mean(a.scores.risk for a in analyzed),
        "totalCommits": sum(a.scores.commits for a in analyzed),
        "totalPullRequests": sum(a.scores.pull_requests for a in analyzed),
        "totalIssues": sum(a.scores.issues for a in analyzed),
        "needsSupportCount": len(groups.needs_support),
        "burnoutRiskCount": len(groups.burnout_risks),
        "aggregateGroupSize": groups.sizes.smallest,
        "withoutDataCount": len(missing),
    }


def team_health(average_quality: float | None, average_risk: float | None) -> float | None:
    """0-10 from the mean code quality (60%) and the mean burnout risk (40%, inverted); no
    known risk counts as none."""
    if average_quality is None:
        return None
    return round(average_quality * 0.6 + (10 - (average_risk or 0.0)) * 0.4, 1)


# The people lists' entries


def _top_performer(r: Ranked) -> dict[str, Any]:
    m = r.person.member
    return {"userId": m.user_id, "name": m.name, "codeQuality": r.score,
            "commits": r.person.scores.commits,
            "contributions": "Outstanding" if r.score >= OUTSTANDING_SCORE else "Strong"}


def _needs_support(r: Ranked) -> dict[str, Any]:
    m = r.person.member
    return {"userId": m.user_id, "name": m.name, "codeQuality": r.score,
            "recommendation": "Pair programming with a senior engineer"}


def _burnout_risk(r: Ranked) -> dict[str, Any]:
    m = r.person.member
    critical = r.score >= CRITICAL_RISK_SCORE
    return {"userId": m.user_id, "name": m.name, "riskScore": r.score,
            "severity": "CRITICAL" if critical else "HIGH",
            "urgency": "Immediate action required" if critical else "Check in this week"}


def _without_data(w: WithoutData) -> dict[str, Any]:
    return {"userId": w.member.user_id, "name": w.member.name, "reason": str(w.reason)}


# Recommendations


def _names(people: Sequence[Ranked]) -> str:
    named = ", ".join(r.person.member.name for r in people[:NAMED_IN_ACTION])
    more = len(people) - NAMED_IN_ACTION
    return f"{named} and {more} more" if more > 0 else named


def burnout_recommendation(burnout: Sequence[Ranked]) -> dict[str, Any] | None:
    """Name those at critical risk (the first NAMED_IN_ACTION); else, with anyone at risk,
    a team-wide one."""
    critical = [r for r in burnout if r.score >= CRITICAL_RISK_SCORE]
    if critical:
        return {"priority": "URGENT", "category": "Burnout Prevention",
                "action": f"Talk with {_names(critical)} about workload this week",
                "userIds": [r.person.member.user_id for r in critical[:NAMED_IN_ACTION]]}
    if burnout:
        return {"priority": "HIGH", "category": "Burnout Prevention",
                "action": "Rebalance work for members with rising risk", "userIds": []}
    return None


def support_recommendation(support: Sequence[Ranked]) -> dict[str, Any] | None:
    if not support:
        return None
    return {"priority": "HIGH", "category": "Team Development",
            "action": "Pair members who need support with senior engineers", "userIds": []}


def coverage_recommendation(unanalyzed: int) -> dict[str, Any] | None:
    """For the active members without a code-quality score."""
    if not unanalyzed:
        return None
    return {"priority": "MEDIUM", "category": "Data Coverage",
            "action": f"Record GitHub data for {unanalyzed} member(s) without analytics",
            "userIds": []}


def recommendations(groups: Groups, unanalyzed: int) -> list[dict[str, Any]]:
    """The most urgent first; ``unanalyzed`` active members have no code-quality score."""
    found = (burnout_recommendation(groups.burnout_risks),
             support_recommendation(groups.needs_support), coverage_recommendation(unanalyzed))
    return [r for r in found if r is not None]


def compute_report(people: Iterable[Member], analytics: Mapping[str, GitHubData], *,
                   expired: Collection[str] = frozenset()) -> dict[str, Any]:
    """The team report document from the members and their current GitHub data by username;
    ``expired`` names the usernames whose data has expired (see current_data)."""
    people = list(people)
    active = [m for m in people if m.status is MemberStatus.ACTIVE]
    analyzed = analyzed_members(active, analytics)
    missing = without_data(active, analytics, expired)
    groups = group(analyzed)
    totals = summary(people, active, analyzed, groups, missing)
    return {
        "teamHealth": team_health(totals["averageCodeQuality"], totals["averageBurnoutRisk"]),
        "summary": totals,
        "topPerformers": [_top_performer(r) for r in groups.top_performers[:TOP_PERFORMERS]],
        "needsSupport": [_needs_support(r) for r in groups.needs_support[:LISTED_PEOPLE]],
        "burnoutRisks": [_burnout_risk(r) for r in groups.burnout_risks[:LISTED_PEOPLE]],
        "recommendations": recommendations(groups, len(active) - groups.sizes.quality),
        "withoutData": [_without_data(w) for w in missing[:LISTED_PEOPLE]],
    }


PEOPLE_LISTS = ("topPerformers", "needsSupport", "burnoutRisks", "withoutData")


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
    # Expired items too (as DynamoDB returns them until TTL deletes them): to say "expired".
    found = await store.batch_get([keys.github_data(org_id, u) for u in sorted(usernames)],
                                  consistent=True, include_expired=True)
    now = store.now_seconds()
    analytics, expired = current_data(map(GitHubData.from_item, found.values()), now)
    report = TeamReport(
        org_id=org_id, report_date=report_date, report_id="report-" + uuid.uuid4().hex[:12],
        report_type="daily", generated_by=actor.user_id, generated_by_name=actor.member.name,
        data=compute_report(people, analytics, expired=expired), generated_at=now_ms(),
        expires_at=now + ttl_seconds,
    )
    e = activity.event(store, org_id, actor.user_id, "team_report.generated", report_date)
    await actor.transact(store, [Put(report.to_item()), activity.put_event(e)])
    return report
