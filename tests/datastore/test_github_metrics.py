"""The GitHub analytics formulas on hand-made histories: people, time zones, each formula."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from datastore import github_metrics as gm
from datastore.github_metrics import (
    Commit,
    History,
    Issue,
    PullRequest,
    Repository,
    Review,
    compute,
)
from datastore.records import GitHubData
from schema import types

UTC = dt.UTC
NOW = dt.datetime(2025, 1, 24, 12, 0, tzinfo=UTC)  # a Friday
NEW_YORK = "America/New_York"


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0
          ) -> dt.datetime:
    """A moment given as a wall-clock time in ``zone``."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def commit(at: dt.datetime, *, lines: int = 30, files: int = 3, repo: str = "acme/api"
           ) -> Commit:
    return Commit(at=at, repo=repo, additions=lines, deletions=0, files_changed=files)


def days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def at_hours(zone: str, dates: list[dt.date], *hours: float) -> list[dt.datetime]:
    return [local(zone, d.year, d.month, d.day) + dt.timedelta(hours=h)
            for d in dates for h in hours]


def run(history: History, zone: str = NEW_YORK, **kw: Any) -> dict[str, Any]:
    return compute(history, timezone=zone, now=NOW, **kw)


# People


def test_a_night_owl_commits_mostly_late_at_night_and_is_at_critical_risk() -> None:
    # Every night of 1-21 January 2025: 23:00, 00:30 and 02:00 New York time.
    nights = days(dt.date(2025, 1, 1), 21)
    history = History("owl", commits=tuple(
        commit(t) for t in at_hours(NEW_YORK, nights, 23, 24.5, 26)))
    risk = run(history)["burnoutRisk"]
    # A night session is one work day (06:00-05:59): 21 of them, 3 hours each. Weekend
    # commits: 6 nights start on a Saturday or Sunday (1 commit each) and 6 end on one (2).
    assert risk["patterns"] == {"lateNightCommits": 100, "weekendWork": 29,
                                "consecutiveWorkDays": 21, "averageWorkHours": 3.0}
    # 4.0 x 1 + 2.5 x 29/30 + 2.0 x 1 + 1.5 x 0 = 8.42
    assert (risk["riskScore"], risk["riskLevel"], risk["healthStatus"]) == (
        8.4, "CRITICAL", "CRITICAL")
    assert risk["confidence"] == 35  # 21 of 60 active days


def test_a_weekend_worker_who_never_takes_a_day_off_needs_monitoring() -> None:
    every_day = days(dt.date(2024, 12, 2), 28)  # four whole weeks, Monday to Sunday
    history = History("weekender", commits=tuple(
        commit(t) for t in at_hours(NEW_YORK, every_day, 9, 13, 17)))
    risk = run(history)["burnoutRisk"]
    assert risk["patterns"] == {"lateNightCommits": 0, "weekendWork": 29,
                                "consecutiveWorkDays": 28, "averageWorkHours": 8.0}
    # 2.5 x 29/30 + 2.0 x 1 = 4.42
    assert (risk["riskScore"], risk["riskLevel"], risk["healthStatus"]) == (
        4.4, "MEDIUM", "MONITOR")


def steady_history() -> History:
    weekdays = [d for d in days(dt.date(2024, 12, 2), 28) if d.weekday() < 5]
    opened = at_hours(NEW_YORK, weekdays[::2], 10)
    return History(
        "steady",
        commits=tuple(commit(t, lines=40) for t in at_hours(NEW_YORK, weekdays, 10, 14, 17)),
        pull_requests=tuple(PullRequest(created_at=t, repo="acme/api",
                                        merged_at=t + dt.timedelta(hours=12),
                                        closed_at=t + dt.timedelta(hours=12)) for t in opened),
        reviews=tuple(Review(at=t + dt.timedelta(hours=h), repo="acme/web")
                      for t in opened for h in (1, 2)),
        issues=tuple(Issue(created_at=t, repo="acme/api", closed_at=t + dt.timedelta(days=1))
                     for t in opened[:4]),
        repositories=(Repository("acme/api", {"Python": 3000, "TypeScript": 1000}),
                      Repository("acme/web", {"TypeScript": 9000})),
    )


def test_a_steady_developer_is_at_low_risk_with_excellent_code_quality() -> None:
    data = run(steady_history())
    risk, quality, metrics = data["burnoutRisk"], data["codeQuality"], data["metrics"]
    assert risk["patterns"] == {"lateNightCommits": 0, "weekendWork": 0,
                                "consecutiveWorkDays": 5, "averageWorkHours": 7.0}
    assert (risk["riskScore"], risk["riskLevel"], risk["healthStatus"]) == (
        0.0, "LOW", "HEALTHY")
    assert (quality["overallScore"], quality["rating"]) == (10.0, "Excellent")
    assert quality["issues"] == []
    assert quality["recommendations"] == ["Continue current practices"]
    assert quality["strengths"] == [
        "Small, focused commits (avg 40 lines changed)",
        "High code review participation (20 reviews given)",
        "Fast pull request merges (avg 0.5 days)",
        "High issue resolution (100% closed)",
    ]
    # Only the repository committed to counts; acme/web was only reviewed in.
    assert (metrics["totalRepositories"], metrics["languages"]) == (
        1, {"Python": 75, "TypeScript": 25})
    assert metrics["activityPeriod"] == {"start": "2024-12-02", "end": "2024-12-27"}


def test_an_account_without_activity_has_zero_counts_null_averages_and_no_risk() -> None:
    data = run(History("ghost"))
    assert data["metrics"] == {
        "totalCommits": 0, "totalRepositories": 0, "totalPullRequests": 0, "totalIssues": 0,
        "averageCommitSize": None, "largeCommitPercentage": None, "averagePRMergeTime": None,
        "issueResolutionRate": None, "languages": {}, "activityPeriod": None,
        "commitFrequency": {"daily": 0.0, "weekly": 0.0, "monthly": 0.0},
    }
    assert data["burnoutRisk"] == {
        "riskScore": 0.0, "riskLevel": "LOW", "confidence": 0,
        "healthStatus": "NO_RECENT_ACTIVITY",
        "patterns": {"lateNightCommits": None, "weekendWork": None, "consecutiveWorkDays": 0,
                     "averageWorkHours": None},
    }
    quality = data["codeQuality"]
    assert (quality["overallScore"], quality["rating"], quality["issues"],
            quality["strengths"]) == (None, None, [], [])


def test_activity_only_older_than_the_window_counts_as_no_activity() -> None:
    old = NOW - dt.timedelta(days=400)
    history = History("gone", commits=(commit(old),), reviews=(Review(old, "acme/api"),),
                      pull_requests=(PullRequest(old, "acme/api", merged_at=NOW),),
                      issues=(Issue(old, "acme/api"),),
                      repositories=(Repository("acme/api", {"Go": 10}),))
    assert run(history) == run(History("gone"))


# Time zones


@pytest.mark.parametrize(("zone", "late", "weekend"), [
    (NEW_YORK, 100, 0),  # Friday 00:30 and Friday 22:00
    ("Europe/Berlin", 50, 50),  # Friday 06:30 and Saturday 04:00
    ("Asia/Tokyo", 0, 50),  # Friday 13:30 and Saturday 11:00
])
def test_the_same_utc_commits_are_late_night_or_weekend_in_one_zone_and_not_another(
        zone: str, late: int, weekend: int) -> None:
    history = History("dev", commits=(commit(dt.datetime(2024, 7, 12, 4, 30, tzinfo=UTC)),
                                      commit(dt.datetime(2024, 7, 13, 2, 0, tzinfo=UTC))))
    patterns = run(history, zone)["burnoutRisk"]["patterns"]
    assert (patterns["lateNightCommits"], patterns["weekendWork"]) == (late, weekend)


def test_late_night_follows_the_local_clock_across_a_dst_change() -> None:
    # 02:30 UTC is 21:30 EST on 9 March 2024, then 22:30 EDT once clocks go forward.
    before = commit(dt.datetime(2024, 3, 10, 2, 30, tzinfo=UTC))
    after = commit(dt.datetime(2024, 3, 11, 2, 30, tzinfo=UTC))
    zone = ZoneInfo(NEW_YORK)
    assert (gm.is_late_night(before.at, zone), gm.is_late_night(after.at, zone)) == (
        False, True)


def test_work_hours_are_elapsed_time_across_the_night_clocks_go_back() -> None:
    # 00:30 EDT to 03:30 EST on 3 November 2024: 3 hours on the clock, 4 elapsed.
    history = History("dev", commits=(commit(dt.datetime(2024, 11, 3, 4, 30, tzinfo=UTC)),
                                      commit(dt.datetime(2024, 11, 3, 8, 30, tzinfo=UTC))))
    patterns = run(history)["burnoutRisk"]["patterns"]
    assert (patterns["averageWorkHours"], patterns["consecutiveWorkDays"]) == (4.0, 1)


def test_the_activity_period_is_in_local_dates() -> None:
    history = History("dev", commits=(commit(dt.datetime(2024, 12, 31, 23, 30, tzinfo=UTC)),))
    assert run(history, "Asia/Tokyo")["metrics"]["activityPeriod"] == {
        "start": "2025-01-01", "end": "2025-01-01"}


# Each formula on tiny exact cases


def test_a_commit_with_more_than_50_files_is_large() -> None:
    history = History("dev", commits=(commit(NOW, files=51), commit(NOW, files=50),
                                      commit(NOW, files=1)))
    assert run(history)["metrics"]["largeCommitPercentage"] == 33


@pytest.mark.parametrize(("sizes", "average"), [
    ([(10, 5), (20, 0), (1, 0)], 12),  # 36 lines / 3
    ([(1, 0), (1, 1)], 2),  # 1.5 rounds half up
])
def test_the_average_commit_size_is_lines_added_and_deleted_per_commit(
        sizes: list[tuple[int, int]], average: int) -> None:
    history = History("dev", commits=tuple(Commit(NOW, "acme/api", a, d, 1) for a, d in sizes))
    assert run(history)["metrics"]["averageCommitSize"] == average


def test_the_average_merge_time_counts_merged_pull_requests_only() -> None:
    opened = NOW - dt.timedelta(days=10)
    history = History("dev", pull_requests=(
        PullRequest(opened, "acme/api", merged_at=opened + dt.timedelta(days=1)),
        PullRequest(opened, "acme/api", merged_at=opened + dt.timedelta(days=2, hours=6)),
        PullRequest(opened, "acme/api", closed_at=opened + dt.timedelta(days=1)),  # rejected
        PullRequest(opened, "acme/api"),  # open
        PullRequest(opened, "acme/api", merged_at=NOW + dt.timedelta(days=1)),  # not yet
    ))
    metrics = run(history)["metrics"]
    assert (metrics["averagePRMergeTime"], metrics["totalPullRequests"]) == (1.6, 5)


def test_the_issue_resolution_rate_is_the_share_closed() -> None:
    opened = NOW - dt.timedelta(days=3)
    history = History("dev", issues=(Issue(opened, "a/b", closed_at=NOW), Issue(opened, "a/b"),
                                     Issue(opened, "a/b", closed_at=NOW)))
    metrics = run(history)["metrics"]
    assert (metrics["issueResolutionRate"], metrics["totalIssues"]) == (67, 3)


@pytest.mark.parametrize(("languages", "shares"), [
    ([{"Python": 600, "Go": 200}, {"Python": 100, "TypeScript": 100}],
     {"Python": 70, "Go": 20, "TypeScript": 10}),
    ([{"C": 1, "B": 1, "A": 1}], {"A": 34, "B": 33, "C": 33}),  # largest remainder, by name
    ([{"Go": 999, "Perl": 1}], {"Go": 100}),  # 0.1% rounds away
    ([{}], {}),
])
def test_languages_are_whole_percentages_of_bytes_summing_to_100(
        languages: list[dict[str, int]], shares: dict[str, int]) -> None:
    repos = [Repository(f"acme/r{i}", langs) for i, langs in enumerate(languages)]
    assert gm.language_shares(repos) == shares
    assert list(gm.language_shares(repos).items()) == list(shares.items())


def test_languages_and_repositories_count_only_repositories_worked_in() -> None:
    history = History("dev", commits=(commit(NOW, repo="acme/api"),),
                      pull_requests=(PullRequest(NOW, "acme/docs"),),
                      repositories=(Repository("acme/api", {"Python": 10}),
                                    Repository("acme/old", {"Perl": 90})))
    metrics = run(history)["metrics"]
    assert (metrics["totalRepositories"], metrics["languages"]) == (2, {"Python": 100})


def test_commit_frequency_is_averaged_over_the_whole_window() -> None:
    history = History("dev", commits=tuple(commit(NOW - dt.timedelta(days=i)) for i in range(73)))
    assert run(history)["metrics"]["commitFrequency"] == {
        "daily": 0.2, "weekly": 1.4, "monthly": 6.0}


def test_the_longest_run_counts_consecutive_days() -> None:
    run_of = [dt.date(2024, 5, d) for d in (1, 2, 3, 5, 6, 3)]
    assert (gm.longest_run(run_of), gm.longest_run([])) == (3, 0)


def test_a_commit_after_midnight_belongs_to_the_work_day_before() -> None:
    zone = ZoneInfo(NEW_YORK)
    assert [gm.work_day(local(NEW_YORK, 2025, 1, 2, h), zone) for h in (5, 6)] == [
        dt.date(2025, 1, 1), dt.date(2025, 1, 2)]


def test_average_work_hours_are_the_mean_span_of_work_days_rounded_half_up() -> None:
    history = History("dev", commits=tuple(commit(t) for t in (
        local(NEW_YORK, 2025, 1, 6, 9), local(NEW_YORK, 2025, 1, 6, 17, 30),  # 8.5 hours
        local(NEW_YORK, 2025, 1, 7, 12))))  # one commit: 0
    assert run(history)["burnoutRisk"]["patterns"]["averageWorkHours"] == 4.3  # 4.25


@pytest.mark.parametrize(("late", "weekend", "streak", "hours", "score"), [
    (0, 0, 0, 0, 0.0),
    (15, 0, 5, 8, 2.0),  # half the night signal; a working week and day are no risk
    (0, 0, 14, 10, 2.8),  # 2.0 + 1.5 x 0.5 = 2.75
    (30, 30, 14, 12, 10.0),
    (100, 100, 300, 24, 10.0),  # each signal saturates
])
def test_the_risk_score_weighs_each_signal(late: int, weekend: int, streak: int,
                                           hours: float, score: float) -> None:
    assert gm.risk_score({"lateNightCommits": late, "weekendWork": weekend,
                          "consecutiveWorkDays": streak, "averageWorkHours": hours}) == score


@pytest.mark.parametrize(("score", "level"), [
    (0.0, "LOW"), (3.9, "LOW"), (4.0, "MEDIUM"), (5.9, "MEDIUM"), (6.0, "HIGH"),
    (7.9, "HIGH"), (8.0, "CRITICAL"), (10.0, "CRITICAL"),
])
def test_the_risk_level_uses_the_team_report_thresholds(score: float, level: str) -> None:
    assert gm.risk_level(score) == level
    assert types.RiskLevel(level)


@pytest.mark.parametrize(("active_days", "confidence"), [(1, 2), (30, 50), (60, 100), (90, 100)])
def test_confidence_grows_with_active_days_up_to_60(active_days: int, confidence: int) -> None:
    history = History("dev", commits=tuple(
        commit(NOW - dt.timedelta(days=i)) for i in range(active_days)))
    assert run(history)["burnoutRisk"]["confidence"] == confidence


@pytest.mark.parametrize(("components", "score"), [
    ({}, None),
    ({name: 1.0 for name in gm.QUALITY_COMPONENTS}, 10.0),
    ({"averageCommitSize": 1.0, "largeCommitPercentage": 1.0, "reviewParticipation": 0.0},
     6.9),  # 4.5 of 6.5: missing components do not count
    ({"averageCommitSize": 0.5, "largeCommitPercentage": 0.5, "reviewParticipation": 0.5,
      "averagePRMergeTime": 0.5, "issueResolutionRate": 0.5}, 5.0),
])
def test_the_overall_score_is_the_weighted_mean_of_the_components_present(
        components: dict[str, float], score: float | None) -> None:
    assert gm.overall_score(components) == score


@pytest.mark.parametrize(("score", "rating"), [
    (10.0, "Excellent"), (8.5, "Excellent"), (8.4, "Good"), (7.0, "Good"), (6.9, "Fair"),
    (5.0, "Fair"), (4.9, "Needs Improvement"),
])
def test_the_rating_names_the_score(score: float, rating: str) -> None:
    assert gm.rating(score) == rating


def test_big_slow_unreviewed_work_lists_issues_and_recommendations() -> None:
    opened = NOW - dt.timedelta(days=20)
    history = History(
        "rushed",
        commits=(commit(NOW, lines=900, files=60), commit(NOW, lines=300, files=2)),
        pull_requests=(PullRequest(opened, "acme/api", merged_at=opened + dt.timedelta(days=9)),
                       PullRequest(opened, "acme/api")),
        issues=(Issue(opened, "acme/api"),),
    )
    quality = run(history)["codeQuality"]
    assert quality["issues"] == [
        "Frequent large commits (>50 files) - 50% of total",
        "Large average commit size (600 lines changed)",
        "Low code review participation (0 reviews given for 2 pull requests)",
        "Slow pull request merges (avg 9.0 days)",
        "Low issue resolution (0% closed)",
    ]
    assert len(quality["recommendations"]) == 5
    assert (quality["overallScore"], quality["rating"]) == (0.0, "Needs Improvement")


# Window and input


def test_the_window_includes_its_first_moment_and_excludes_older_and_future_work() -> None:
    start = NOW - dt.timedelta(days=30)
    history = History("dev", commits=(commit(start), commit(start - dt.timedelta(seconds=1)),
                                      commit(NOW), commit(NOW + dt.timedelta(seconds=1))))
    assert run(history, window_days=30)["metrics"]["totalCommits"] == 2


def test_a_pull_request_opened_before_the_window_is_excluded_though_merged_in_it() -> None:
    history = History("dev", pull_requests=(PullRequest(
        NOW - dt.timedelta(days=40), "acme/api", merged_at=NOW - dt.timedelta(days=1)),))
    metrics = run(history, window_days=30)["metrics"]
    assert (metrics["totalPullRequests"], metrics["averagePRMergeTime"]) == (0, None)


@pytest.mark.parametrize("build", [
    lambda: Commit(dt.datetime(2025, 1, 1), "a/b", 1, 1, 1),
    lambda: Commit(NOW, "a/b", -1, 0, 1),
    lambda: PullRequest(NOW, "a/b", merged_at=NOW - dt.timedelta(days=1)),
    lambda: Repository("a/b", {"Go": -5}),
])
def test_a_malformed_record_is_refused(build: Any) -> None:
    with pytest.raises(ValueError, match="must"):
        build()


def test_an_unknown_time_zone_or_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        compute(History("dev"), timezone="Mars/Olympus", now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute(History("dev"), timezone="UTC", now=dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="window_days"):
        compute(History("dev"), timezone="UTC", now=NOW, window_days=0)


# The document the rest of the code reads

READ_BY_SCHEMA = {
    "codeQuality": {"overallScore", "rating", "analysis", "issues", "recommendations",
                    "strengths"},
    "metrics": {"totalCommits", "totalRepositories", "totalPullRequests", "totalIssues",
                "averageCommitSize", "largeCommitPercentage", "averagePRMergeTime",
                "issueResolutionRate", "languages", "commitFrequency"},
    "burnoutRisk": {"riskScore", "riskLevel", "confidence", "healthStatus", "patterns"},
}


def test_the_document_has_the_keys_the_schema_reads_and_the_design_adds_only_the_period(
        ) -> None:
    data = run(steady_history())
    assert {section: set(data[section]) for section in READ_BY_SCHEMA} == {
        **READ_BY_SCHEMA, "metrics": READ_BY_SCHEMA["metrics"] | {"activityPeriod"}}
    assert set(data["burnoutRisk"]["patterns"]) == {
        "lateNightCommits", "weekendWork", "consecutiveWorkDays", "averageWorkHours"}


def test_the_schema_reads_every_computed_figure_through_from_record() -> None:
    record = GitHubData(org_id="org-1", github_username="steady", user_id="user-1",
                        data=run(steady_history()), cached_at=1_706_088_000_000,
                        expires_at=1_706_174_400, data_source="GitHub REST API")
    node = types.GitHubData.from_record(record)
    cq, mt, br = node.code_quality, node.metrics, node.burnout_risk
    assert (cq.overall_score, cq.rating) == (10.0, "Excellent")
    assert cq.analysis
    assert (len(cq.strengths), cq.recommendations) == (4, ["Continue current practices"])
    assert (mt.total_commits, mt.total_repositories, mt.total_pull_requests,
            mt.total_issues) == (60, 1, 10, 4)
    assert None not in (mt.average_commit_size, mt.large_commit_percentage,
                        mt.average_pr_merge_time, mt.issue_resolution_rate)
    assert [(lang.name, lang.percent) for lang in mt.languages] == [
        ("Python", 75.0), ("TypeScript", 25.0)]
    assert mt.commit_frequency is not None
    assert (mt.commit_frequency.daily, mt.commit_frequency.monthly) == (0.2, 4.9)
    assert (br.risk_score, br.risk_level, br.confidence, br.health_status) == (
        0.0, types.RiskLevel.LOW, 33.0, "HEALTHY")
    p = br.patterns
    assert (p.late_night_commits, p.weekend_work, p.consecutive_work_days,
            p.average_work_hours) == (0, 0, 5, 7.0)


def test_every_health_status_fits_what_record_github_data_accepts() -> None:
    assert all(len(s) <= 20 for s in [*gm.HEALTH.values(), gm.NO_ACTIVITY])
