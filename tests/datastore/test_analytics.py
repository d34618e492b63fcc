"""The team report computed from members and their analytics: its steps, and its size."""

from __future__ import annotations

from typing import Any

import pytest

from datastore import activity, keys, members
from datastore import analytics as report_steps
from datastore.actors import acting
from datastore.analytics import (
    LISTED_PEOPLE,
    Analyzed,
    GroupSizes,
    NoDataReason,
    Ranked,
    Scores,
    WithoutData,
    compute_report,
    generate_team_report,
    group,
    record_github_data,
    scores_of,
)
from datastore.records import GitHubData, Member, MemberStatus, Role, TeamReport
from datastore.store import MAX_ITEM_BYTES, Store, item_size
from tests.conftest import Clock
from tests.datastore import conftest as store_org
from tests.datastore.conftest import open_org

ORG = "org-report"
# A report item of any team stays well under this (DynamoDB's limit is 400 KB).
REPORT_BOUND = 16 * 1024


def person(i: int, *, status: MemberStatus = MemberStatus.ACTIVE) -> Member:
    return Member(org_id=ORG, user_id=f"user-{i:05d}", email=f"p{i}@report.example",
                  name=f"Person Number {i:05d}", role=Role.MEMBER, status=status,
                  github_username=f"gh-{i:05d}")


def analytics(i: int, quality: float | None, risk: float | None, commits: int = 10
              ) -> GitHubData:
    data: dict[str, Any] = {"metrics": {"totalCommits": commits, "totalPullRequests": 2,
                                        "totalIssues": 1}}
    if quality is not None:
        data["codeQuality"] = {"overallScore": quality}
    if risk is not None:
        data["burnoutRisk"] = {"riskScore": risk}
    return GitHubData(org_id=ORG, github_username=f"gh-{i:05d}", user_id=f"user-{i:05d}",
                      data=data, cached_at=0, expires_at=0, data_source="test")


def report_of(scores: list[tuple[float | None, float | None]]) -> dict[str, Any]:
    people = [person(i) for i in range(len(scores))]
    found = {f"gh-{i:05d}": analytics(i, q, k) for i, (q, k) in enumerate(scores)}
    return compute_report(people, found)


@pytest.mark.parametrize(("scores", "health", "avg_quality", "avg_risk"), [
    ([], None, None, None),
    ([(None, None)], None, None, None),
    ([(8.0, 2.0)], 8.0, 8.0, 2.0),
    ([(9.0, 2.0), (5.0, 8.0)], 6.2, 7.0, 5.0),
    ([(6.0, None)], 7.6, 6.0, None),  # no risk known: counted as none
])
def test_team_health_weighs_quality_and_risk(scores: list[tuple[float | None, float | None]],
                                             health: float | None, avg_quality: float | None,
                                             avg_risk: float | None) -> None:
    report = report_of(scores)

    assert report["teamHealth"] == health
    assert report["summary"]["averageCodeQuality"] == avg_quality
    assert report["summary"]["averageBurnoutRisk"] == avg_risk


@pytest.mark.parametrize(("quality", "listed_in"), [
    (9.0, "topPerformers"), (8.0, "topPerformers"), (7.9, None), (7.0, None),
    (6.9, "needsSupport"), (1.0, "needsSupport"),
])
def test_quality_thresholds_decide_the_lists(quality: float, listed_in: str | None) -> None:
    report = report_of([(quality, 1.0)])

    for name in ("topPerformers", "needsSupport"):
        assert len(report[name]) == (1 if name == listed_in else 0), name


@pytest.mark.parametrize(("risk", "severity", "priority"), [
    (5.9, None, None), (6.0, "HIGH", "HIGH"), (7.9, "HIGH", "HIGH"),
    (8.0, "CRITICAL", "URGENT"), (10.0, "CRITICAL", "URGENT"),
])
def test_risk_thresholds_decide_severity_and_the_burnout_recommendation(
        risk: float, severity: str | None, priority: str | None) -> None:
    report = report_of([(7.5, risk)])

    assert [p["severity"] for p in report["burnoutRisks"]] == ([severity] if severity else [])
    burnout = [r for r in report["recommendations"] if r["category"] == "Burnout Prevention"]
    assert [r["priority"] for r in burnout] == ([priority] if priority else [])


def test_suspended_people_count_in_the_team_but_not_in_the_analysis() -> None:
    people = [person(0), person(1, status=MemberStatus.SUSPENDED)]
    found = {"gh-00000": analytics(0, 9.0, 1.0), "gh-00001": analytics(1, 1.0, 9.0)}

    report = compute_report(people, found)

    assert report["summary"]["totalMembers"] == 2
    assert report["summary"]["activeMembers"] == 1
    assert report["burnoutRisks"] == []
    assert report["needsSupport"] == []


def test_members_without_analytics_get_a_coverage_recommendation() -> None:
    report = report_of([(8.0, 1.0), (None, None), (None, None)])

    assert {"priority": "MEDIUM", "category": "Data Coverage",
            "action": "Record GitHub data for 2 member(s) without analytics", "userIds": []} \
        in report["recommendations"]


def test_long_lists_keep_the_most_urgent_people_and_count_everyone() -> None:
    # 50 people in trouble: quality 1.0..5.9, risk rising with them.
    scores: list[tuple[float | None, float | None]] = [
        (1.0 + i / 10, 6.0 + i / 25) for i in range(50)]

    report = report_of(scores)

    assert len(report["needsSupport"]) == LISTED_PEOPLE
    assert report["summary"]["needsSupportCount"] == 50
    assert [p["codeQuality"] for p in report["needsSupport"][:2]] == [1.0, 1.1]
    assert len(report["burnoutRisks"]) == LISTED_PEOPLE
    assert report["summary"]["burnoutRiskCount"] == 50
    assert report["burnoutRisks"][0]["riskScore"] == max(k for _, k in scores if k)


def test_an_urgent_recommendation_names_three_people_and_counts_the_rest() -> None:
    report = report_of([(7.5, 9.0 - i / 100) for i in range(7)])

    urgent = [r for r in report["recommendations"] if r["priority"] == "URGENT"]
    assert urgent == [{"priority": "URGENT", "category": "Burnout Prevention",
                       "action": "Talk with Person Number 00000, Person Number 00001, "
                                 "Person Number 00002 and 4 more about workload this week",
                       "userIds": ["user-00000", "user-00001", "user-00002"]}]


@pytest.mark.parametrize("size", [10, 100, 1000, 5000])
def test_a_report_item_stays_under_a_fixed_bound_whatever_the_team_size(size: int) -> None:
    # Everyone in trouble is the worst case for the lists.
    scores: list[tuple[float | None, float | None]] = [(3.0, 9.5)] * size
    report = TeamReport(org_id=ORG, report_date="2026-12-01", report_id="report-x",
                        report_type="daily", generated_by="user-00000",
                        generated_by_name="Person Number 00000", data=report_of(scores),
                        generated_at=0, expires_at=0)

    size_bytes = item_size(report.to_item())

    assert size_bytes < REPORT_BOUND < MAX_ITEM_BYTES
    assert report.data["summary"]["needsSupportCount"] == size


# The steps, each on its own: scoring


def cached(data: dict[str, Any], username: str = "gh-00000") -> GitHubData:
    return GitHubData(org_id=ORG, github_username=username, user_id=None, data=data,
                      cached_at=0, expires_at=0, data_source="test")


def test_the_scores_are_read_from_their_places_in_the_github_data() -> None:
    data = cached({"codeQuality": {"overallScore": 8.5}, "burnoutRisk": {"riskScore": 4},
                   "metrics": {"totalCommits": 1234, "totalPullRequests": 67,
                               "totalIssues": 23}})

    assert scores_of(data) == Scores(quality=8.5, risk=4.0, commits=1234, pull_requests=67,
                                     issues=23)


@pytest.mark.parametrize("code_quality", [
    None, 8.5, "8.5", {"overallScore": "8.5"}, {"overallScore": True}, {"overallScore": None},
    {"overallScore": [8.5]}, {},
], ids=["absent", "a-bare-number", "a-string", "a-numeric-string", "a-boolean", "null",
        "a-list", "no-score"])
def test_a_score_that_is_absent_or_not_a_number_reads_as_none(code_quality: Any) -> None:
    data = {} if code_quality is None else {"codeQuality": code_quality}

    assert scores_of(cached(data)).quality is None


def test_counts_not_recorded_read_as_zero_and_fractions_are_cut() -> None:
    data = cached({"metrics": {"totalCommits": 12.9, "totalIssues": False}})

    assert scores_of(data) == Scores(quality=None, risk=None, commits=12, pull_requests=0,
                                     issues=0)


def test_only_active_members_with_data_are_analyzed_in_the_members_order() -> None:
    people = [person(2), person(0), person(1)]
    found = {"gh-00000": cached({}, "gh-00000"), "gh-00002": cached({}, "gh-00002")}

    analyzed = report_steps.analyzed_members(people, found)

    assert [a.member.user_id for a in analyzed] == ["user-00002", "user-00000"]


# Grouping


def scored(i: int, quality: float | None = None, risk: float | None = None,
           commits: int = 0) -> Analyzed:
    return Analyzed(person(i), Scores(quality=quality, risk=risk, commits=commits,
                                      pull_requests=0, issues=0))


def placed(ranked: list[Ranked]) -> list[tuple[str, float]]:
    return [(r.person.member.user_id, r.score) for r in ranked]


def test_top_performers_are_those_of_8_or_more_the_best_first_ties_by_user_id() -> None:
    team = [scored(3, 8.0), scored(1, 9.5), scored(2, 7.99), scored(0, 8.0), scored(4)]

    assert placed(report_steps.top_performers(team)) == [
        ("user-00001", 9.5), ("user-00000", 8.0), ("user-00003", 8.0)]


def test_those_who_need_support_are_those_under_7_the_lowest_first() -> None:
    team = [scored(0, 6.9), scored(1, 7.0), scored(2, 2.0), scored(3), scored(4, 6.9)]

    assert placed(report_steps.needs_support(team)) == [
        ("user-00002", 2.0), ("user-00000", 6.9), ("user-00004", 6.9)]


def test_burnout_risks_are_those_of_6_or_more_the_highest_first() -> None:
    team = [scored(0, risk=6.0), scored(1, risk=5.99), scored(2, risk=9.0), scored(3, 9.0)]

    assert placed(report_steps.burnout_risks(team)) == [("user-00002", 9.0), ("user-00000", 6.0)]


@pytest.mark.parametrize(("team", "sizes", "smallest"), [
    ([], GroupSizes(quality=0, risk=0, data=0), 0),
    ([scored(0)], GroupSizes(quality=0, risk=0, data=1), 1),
    ([scored(0, 8.0, 2.0), scored(1, 7.0), scored(2)], GroupSizes(quality=2, risk=1, data=3),
     1),
    ([scored(0, 8.0, 2.0), scored(1, 7.0, 3.0)], GroupSizes(quality=2, risk=2, data=2), 2),
], ids=["no-one", "data-without-scores", "one-with-risk", "everyone-scored"])
def test_each_aggregate_is_taken_over_its_own_group_and_the_smallest_nonempty_one_counts(
        team: list[Analyzed], sizes: GroupSizes, smallest: int) -> None:
    assert report_steps.group_sizes(team) == sizes
    assert sizes.smallest == smallest


def test_one_person_can_be_in_several_groups_and_each_group_is_kept_whole() -> None:
    team = [scored(i, 1.0, 9.0) for i in range(LISTED_PEOPLE + 5)]

    groups = group(team)

    assert len(groups.needs_support) == len(groups.burnout_risks) == LISTED_PEOPLE + 5
    assert groups.top_performers == []


# Summary


def test_the_summary_counts_people_and_sums_up_those_analyzed() -> None:
    people = [person(0), person(1), person(2), person(3, status=MemberStatus.SUSPENDED)]
    analyzed = [scored(0, 9.0, 7.0, commits=10), scored(1, 6.0, commits=5)]

    missing = [WithoutData(person(2), NoDataReason.NO_DATA)]

    totals = report_steps.summary(people, people[:3], analyzed, group(analyzed), missing)

    assert totals == {"totalMembers": 4, "activeMembers": 3, "analyzedMembers": 2,
                      "averageCodeQuality": 7.5, "averageBurnoutRisk": 7.0,
                      "totalCommits": 15, "totalPullRequests": 0, "totalIssues": 0,
                      "needsSupportCount": 1, "burnoutRiskCount": 1, "aggregateGroupSize": 1,
                      "withoutDataCount": 1}


@pytest.mark.parametrize(("quality", "risk", "health"), [
    (None, None, None), (None, 9.0, None), (8.0, 2.0, 8.0), (7.0, 5.0, 6.2), (6.0, None, 7.6),
    (10.0, 0.0, 10.0), (0.0, 10.0, 0.0),
])
def test_team_health_weighs_mean_quality_and_inverted_mean_risk_six_to_four(
        quality: float | None, risk: float | None, health: float | None) -> None:
    assert report_steps.team_health(quality, risk) == health


# Recommendations


def ranked(i: int, risk: float) -> Ranked:
    return Ranked(scored(i, risk=risk), risk)


@pytest.mark.parametrize(("risks", "expected"), [
    ([], None),
    ([7.9, 6.0], {"priority": "HIGH", "category": "Burnout Prevention",
                  "action": "Rebalance work for members with rising risk", "userIds": []}),
    ([9.0, 8.0, 7.0], {"priority": "URGENT", "category": "Burnout Prevention",
                       "action": "Talk with Person Number 00000, Person Number 00001 about "
                                 "workload this week",
                       "userIds": ["user-00000", "user-00001"]}),
], ids=["no-one-at-risk", "rising-risk", "critical-risk"])
def test_the_burnout_recommendation_names_only_those_at_critical_risk(
        risks: list[float], expected: dict[str, Any] | None) -> None:
    burnout = [ranked(i, k) for i, k in enumerate(risks)]

    assert report_steps.burnout_recommendation(burnout) == expected


def test_recommendations_come_most_urgent_first_and_only_when_there_is_cause() -> None:
    some = group([scored(0, 5.0, 9.0)])
    none = group([scored(0, 7.5, 1.0)])

    assert [r["category"] for r in report_steps.recommendations(some, 2)] == [
        "Burnout Prevention", "Team Development", "Data Coverage"]
    assert report_steps.recommendations(none, 0) == []
    assert [r["userIds"] for r in report_steps.recommendations(some, 2)] == [
        ["user-00000"], [], []]


# Who has no current data, and why


def expiring(username: str, expires_at: int) -> GitHubData:
    return GitHubData(org_id=ORG, github_username=username, user_id=None, data={},
                      cached_at=0, expires_at=expires_at, data_source="test")


def test_data_is_current_until_its_expires_at_and_expired_from_then_on() -> None:
    found = [expiring("before", 1001), expiring("at", 1000), expiring("after", 999)]

    current, expired = report_steps.current_data(found, 1000)

    assert list(current) == ["before"]
    assert expired == {"at", "after"}


@pytest.mark.parametrize(("username", "reason"), [
    (None, NoDataReason.NO_GITHUB_USERNAME), ("", NoDataReason.NO_GITHUB_USERNAME),
    ("gh-current", None), ("gh-expired", NoDataReason.EXPIRED),
    ("gh-never", NoDataReason.NO_DATA),
])
def test_the_reason_a_member_has_no_current_data(username: str | None,
                                                 reason: NoDataReason | None) -> None:
    someone = member("user-x", "X", username)
    current = {"gh-current": expiring("gh-current", 2000)}

    assert report_steps.reason_without_data(someone, current, {"gh-expired"}) is reason


def test_those_without_data_come_by_reason_then_user_id() -> None:
    people = [member("user-b", "B", "gh-b"), member("user-d", "D", None),
              member("user-a", "A", "gh-a"), member("user-c", "C", None),
              member("user-e", "E", "gh-e")]

    found = report_steps.without_data(people, {"gh-e": expiring("gh-e", 2000)}, {"gh-b"})

    assert [(w.member.user_id, w.reason) for w in found] == [
        ("user-c", NoDataReason.NO_GITHUB_USERNAME), ("user-d", NoDataReason.NO_GITHUB_USERNAME),
        ("user-a", NoDataReason.NO_DATA), ("user-b", NoDataReason.EXPIRED)]


def test_expired_data_is_not_scored_and_its_member_is_listed_as_expired() -> None:
    people = [member("user-ann", "Ann Expired", "ann"), member("user-bo", "Bo Current", "bo")]
    current = {"bo": data_of("bo", 5.0, 2.0, 3, 0, 0)}

    report = compute_report(people, current, expired={"ann"})

    assert report["withoutData"] == [
        {"userId": "user-ann", "name": "Ann Expired", "reason": "EXPIRED"}]
    assert report["summary"]["withoutDataCount"] == 1
    assert (report["summary"]["analyzedMembers"], report["summary"]["averageCodeQuality"],
            report["topPerformers"]) == (1, 5.0, [])


def test_suspended_members_are_not_listed_without_data() -> None:
    people = [member("user-s", "Sus Pended", None, MemberStatus.SUSPENDED)]

    report = compute_report(people, {})

    assert (report["withoutData"], report["summary"]["withoutDataCount"]) == ([], 0)


def test_the_list_of_those_without_data_is_capped_and_the_count_says_how_many() -> None:
    people = [person(i) for i in range(LISTED_PEOPLE + 7)]

    report = compute_report(people, {})

    assert len(report["withoutData"]) == LISTED_PEOPLE
    assert report["withoutData"][0] == {"userId": "user-00000", "name": "Person Number 00000",
                                        "reason": "NO_DATA"}
    assert report["summary"]["withoutDataCount"] == LISTED_PEOPLE + 7


# generate_team_report reads the store: expired data is read, said, and not scored


async def join_as(store: Store, user_id: str, username: str | None) -> None:
    someone = Member(org_id=store_org.ORG, user_id=user_id, email=f"{user_id}@acme.example",
                     name=user_id, role=Role.MEMBER, status=MemberStatus.ACTIVE, joined_at=1,
                     github_username=username)
    await members.add(store, someone, activity.event(store, store_org.ORG, store_org.OWNER,
                                                     "member.added", user_id))


def quality_data(quality: float, commits: int) -> dict[str, Any]:
    return {"codeQuality": {"overallScore": quality}, "metrics": {"totalCommits": commits}}


async def test_a_generated_report_scores_current_data_only_and_names_who_has_none(
        store: Store, clock: Clock) -> None:
    admin = acting(await open_org(store))  # the owner has no GitHub username
    for user_id, username in (("user-ann", "ann"), ("user-bo", "bo"), ("user-cy", None)):
        await join_as(store, user_id, username)
    await record_github_data(store, admin, "ann", quality_data(9.5, 500), user_id="user-ann",
                             data_source="test", ttl_seconds=60)
    clock.advance(60)  # at its expiresAt: expired, though no TTL has deleted it yet
    await record_github_data(store, admin, "bo", quality_data(5.0, 7), user_id="user-bo",
                             data_source="test")
    assert await store.get(keys.github_data(store_org.ORG, "ann"), consistent=True,
                           include_expired=True) is not None

    report = (await generate_team_report(store, admin, "2030-01-01")).data

    assert report["withoutData"] == [
        {"userId": "user-cy", "name": "user-cy", "reason": "NO_GITHUB_USERNAME"},
        {"userId": store_org.OWNER, "name": "Olive Owner", "reason": "NO_GITHUB_USERNAME"},
        {"userId": "user-ann", "name": "user-ann", "reason": "EXPIRED"}]
    summary = report["summary"]
    assert (summary["analyzedMembers"], summary["averageCodeQuality"],
            summary["totalCommits"], summary["withoutDataCount"]) == (1, 5.0, 7, 3)
    assert report["topPerformers"] == []


# The whole stored document, pinned: a change to its keys or values must be deliberate.


def member(user_id: str, name: str, username: str | None,
           status: MemberStatus = MemberStatus.ACTIVE) -> Member:
    return Member(org_id=ORG, user_id=user_id, email=f"{user_id}@report.example", name=name,
                  role=Role.MEMBER, status=status, github_username=username)


def data_of(username: str, quality: float | None, risk: float | None, commits: int,
            pull_requests: int, issues: int) -> GitHubData:
    data: dict[str, Any] = {"metrics": {"totalCommits": commits,
                                        "totalPullRequests": pull_requests,
                                        "totalIssues": issues}}
    if quality is not None:
        data["codeQuality"] = {"overallScore": quality}
    if risk is not None:
        data["burnoutRisk"] = {"riskScore": risk}
    return GitHubData(org_id=ORG, github_username=username, user_id=None, data=data,
                      cached_at=0, expires_at=0, data_source="test")


# Two top performers (one outstanding), two who need support and are at critical risk, one
# at high risk, one with data but no scores, one without data, one without a username, and
# one suspended person whose data must count for nothing.
MIXED_TEAM = [
    member("user-ada", "Ada Lovelace", "ada"), member("user-ben", "Ben Okafor", "ben"),
    member("user-cleo", "Cleo Park", "cleo"), member("user-dev", "Dev Patel", "dev"),
    member("user-eve", "Eve Moreau", "eve"), member("user-finn", "Finn Berg", None),
    member("user-gus", "Gus Silva", "gus", MemberStatus.SUSPENDED),
    member("user-hal", "Hal Jordan", "hal"),
]
MIXED_DATA = {
    "ada": data_of("ada", 9.0, 2.0, 120, 14, 3), "ben": data_of("ben", 8.2, 6.5, 80, 9, 4),
    "cleo": data_of("cleo", 6.1, 8.4, 30, 2, 7), "dev": data_of("dev", 5.0, 9.1, 12, 1, 0),
    "gus": data_of("gus", 1.0, 10.0, 500, 50, 50),
    "hal": GitHubData(org_id=ORG, github_username="hal", user_id=None,
                      data={"metrics": {"totalCommits": 7}}, cached_at=0, expires_at=0,
                      data_source="test"),
}
MIXED_REPORT: dict[str, Any] = {
    "teamHealth": 5.7,
    "summary": {"totalMembers": 8, "activeMembers": 7, "analyzedMembers": 4,
                "averageCodeQuality": 7.1, "averageBurnoutRisk": 6.5, "totalCommits": 249,
                "totalPullRequests": 26, "totalIssues": 14, "needsSupportCount": 2,
                "burnoutRiskCount": 3, "aggregateGroupSize": 4, "withoutDataCount": 2},
    "topPerformers": [
        {"userId": "user-ada", "name": "Ada Lovelace", "codeQuality": 9.0, "commits": 120,
         "contributions": "Outstanding"},
        {"userId": "user-ben", "name": "Ben Okafor", "codeQuality": 8.2, "commits": 80,
         "contributions": "Strong"}],
    "needsSupport": [
        {"userId": "user-dev", "name": "Dev Patel", "codeQuality": 5.0,
         "recommendation": "Pair programming with a senior engineer"},
        {"userId": "user-cleo", "name": "Cleo Park", "codeQuality": 6.1,
         "recommendation": "Pair programming with a senior engineer"}],
    "burnoutRisks": [
        {"userId": "user-dev", "name": "Dev Patel", "riskScore": 9.1, "severity": "CRITICAL",
         "urgency": "Immediate action required"},
        {"userId": "user-cleo", "name": "Cleo Park", "riskScore": 8.4, "severity": "CRITICAL",
         "urgency": "Immediate action required"},
        {"userId": "user-ben", "name": "Ben Okafor", "riskScore": 6.5, "severity": "HIGH",
         "urgency": "Check in this week"}],
    "recommendations": [
        {"priority": "URGENT", "category": "Burnout Prevention",
         "action": "Talk with Dev Patel, Cleo Park about workload this week",
         "userIds": ["user-dev", "user-cleo"]},
        {"priority": "HIGH", "category": "Team Development",
         "action": "Pair members who need support with senior engineers", "userIds": []},
        {"priority": "MEDIUM", "category": "Data Coverage",
         "action": "Record GitHub data for 3 member(s) without analytics", "userIds": []}],
    "withoutData": [
        {"userId": "user-finn", "name": "Finn Berg", "reason": "NO_GITHUB_USERNAME"},
        {"userId": "user-eve", "name": "Eve Moreau", "reason": "NO_DATA"}],
}
EMPTY_REPORT: dict[str, Any] = {
    "teamHealth": None,
    "summary": {"totalMembers": 0, "activeMembers": 0, "analyzedMembers": 0,
                "averageCodeQuality": None, "averageBurnoutRisk": None, "totalCommits": 0,
                "totalPullRequests": 0, "totalIssues": 0, "needsSupportCount": 0,
                "burnoutRiskCount": 0, "aggregateGroupSize": 0, "withoutDataCount": 0},
    "topPerformers": [], "needsSupport": [], "burnoutRisks": [], "recommendations": [],
    "withoutData": [],
}
RISING_TEAM = [member("user-ada", "Ada Lovelace", "ada"), member("user-ben", "Ben Okafor", "ben")]
RISING_DATA = {"ada": data_of("ada", 7.5, 6.0, 10, 1, 1), "ben": data_of("ben", None, 7.9, 5, 0, 2)}
RISING_REPORT: dict[str, Any] = {
    "teamHealth": 5.7,
    "summary": {"totalMembers": 2, "activeMembers": 2, "analyzedMembers": 1,
                "averageCodeQuality": 7.5, "averageBurnoutRisk": 7.0, "totalCommits": 15,
                "totalPullRequests": 1, "totalIssues": 3, "needsSupportCount": 0,
                "burnoutRiskCount": 2, "aggregateGroupSize": 1, "withoutDataCount": 0},
    "topPerformers": [], "needsSupport": [],
    "burnoutRisks": [
        {"userId": "user-ben", "name": "Ben Okafor", "riskScore": 7.9, "severity": "HIGH",
         "urgency": "Check in this week"},
        {"userId": "user-ada", "name": "Ada Lovelace", "riskScore": 6.0, "severity": "HIGH",
         "urgency": "Check in this week"}],
    "recommendations": [
        {"priority": "HIGH", "category": "Burnout Prevention",
         "action": "Rebalance work for members with rising risk", "userIds": []},
        {"priority": "MEDIUM", "category": "Data Coverage",
         "action": "Record GitHub data for 1 member(s) without analytics", "userIds": []}],
    "withoutData": [],
}


@pytest.mark.parametrize(("people", "found", "expected"), [
    pytest.param(MIXED_TEAM, MIXED_DATA, MIXED_REPORT, id="mixed-team"),
    pytest.param([], {}, EMPTY_REPORT, id="no-one"),
    pytest.param(RISING_TEAM, RISING_DATA, RISING_REPORT, id="rising-risk-only"),
])
def test_the_stored_report_document_is_exactly_this_for_a_fixed_team(
        people: list[Member], found: dict[str, GitHubData], expected: dict[str, Any]) -> None:
    report = compute_report(people, found)

    assert report == expected
    # Key order too: it is the stored item's attribute order.
    assert list(report) == list(expected)
    assert list(report["summary"]) == list(expected["summary"])
