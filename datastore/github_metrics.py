"""GitHub analytics of one person from their activity history: deterministic formulas, no I/O.

``compute(history, timezone=..., now=...)`` returns the ``data`` document of a GITHUB_DATA
item (``codeQuality``, ``metrics``, ``burnoutRisk``) in the shape
``schema.types.GitHubData.from_record`` reads. docs/analytics.md writes every formula out; in
brief, over the activity in ``[now - window_days, now]``:

- metrics: counts; ``averageCommitSize`` = lines (additions + deletions) per commit;
  ``largeCommitPercentage`` = % of commits touching more than 50 files;
  ``averagePRMergeTime`` = mean days from opened to merged; ``issueResolutionRate`` = % of
  issues closed; ``languages`` = % of bytes of the repositories worked in (largest remainder,
  so they sum to 100); ``commitFrequency`` = commits per day, 7 days and 30 days of the window.
- burnoutRisk, in the organization's time zone: late night is 22:00-05:59, weekend is
  Saturday and Sunday, a work day runs 06:00-05:59 (so a night session is one day);
  ``riskScore`` = 4.0 night + 2.5 weekend + 2.0 streak + 1.5 hours, each signal scaled to 0..1.
- codeQuality: ``overallScore`` = 10 x the weighted mean of size 2.5, large commits 2.0,
  reviews 2.0, merge time 2.0, issue resolution 1.5, over the components that have data.

Percentages and sizes are rounded half up to integers, days and hours to one decimal. A value
with nothing to average over is None, never a division by zero.

Where the history comes from: datastore/github_api.py fetches it from GitHub's REST API and
datastore/github_history.py reads it (docs/analytics.md lists the requests).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from datastore.analytics import (
    BURNOUT_RISK_SCORE,
    CRITICAL_RISK_SCORE,
    NEEDS_SUPPORT_SCORE,
    OUTSTANDING_SCORE,
)

WINDOW_DAYS = 365
LARGE_COMMIT_FILES = 50  # a commit touching more files than this is large
LATE_NIGHT_FROM, LATE_NIGHT_UNTIL = 22, 6  # local hours: 22:00-05:59
WORK_DAY_STARTS = 6  # local hour: a commit at 01:00 belongs to the day before
CONFIDENT_ACTIVE_DAYS = 60
MEDIUM_RISK_SCORE = 4.0
FAIR_SCORE = 5.0

# Burnout: each signal rises linearly from 0 at `zero` to 1 at `full`, then stays at 1.
RISK_SIGNALS = {  # name: (weight, zero, full); the weights sum to 10
    "lateNightCommits": (4.0, 0.0, 30.0),  # % of commits
    "weekendWork": (2.5, 0.0, 30.0),  # % of commits; working every day is 2/7 = 29%
    "consecutiveWorkDays": (2.0, 5.0, 14.0),  # days: a working week is no risk
    "averageWorkHours": (1.5, 8.0, 12.0),  # hours per work day
}
# Code quality: each component falls linearly from 1 at `best` to 0 at `worst`.
QUALITY_COMPONENTS = {  # name: (weight, best, worst); the weights sum to 10
    "averageCommitSize": (2.5, 100.0, 500.0),  # lines per commit
    "largeCommitPercentage": (2.0, 0.0, 20.0),  # % of commits
    "reviewParticipation": (2.0, 1.0, 0.0),  # reviews given per pull request opened
    "averagePRMergeTime": (2.0, 1.0, 7.0),  # days
    "issueResolutionRate": (1.5, 100.0, 0.0),  # % closed
}
HEALTH = {"LOW": "HEALTHY", "MEDIUM": "MONITOR", "HIGH": "AT_RISK", "CRITICAL": "CRITICAL"}
NO_ACTIVITY = "NO_RECENT_ACTIVITY"
ANALYSIS = {
    "Excellent": "Consistently high-quality code with excellent practices.",
    "Good": "Solid practices with some room to improve.",
    "Fair": "Mixed practices: see the issues and recommendations.",
    "Needs Improvement": "Work that is hard to review: see the recommendations.",
}


def _aware(value: dt.datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (give it a tzinfo, e.g. UTC)")


def _counts(name: str, *values: int) -> None:
    if any(v < 0 for v in values):
        raise ValueError(f"{name} counts must not be negative")


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit; its size is None when it was not fetched (one API call per commit, so the
    client fetches the sizes of the newest commits only: the sizes are a sample)."""

    at: dt.datetime
    repo: str
    additions: int | None = None
    deletions: int | None = None
    files_changed: int | None = None

    def __post_init__(self) -> None:
        _aware(self.at, "Commit.at")
        sizes = (self.additions, self.deletions, self.files_changed)
        if None in sizes and sizes != (None, None, None):
            raise ValueError("Commit: additions, deletions and files_changed come together")
        _counts("Commit", *(v for v in sizes if v is not None))

    @property
    def sized(self) -> bool:
        return self.files_changed is not None


@dataclass(frozen=True, slots=True)
class PullRequest:
    created_at: dt.datetime
    repo: str
    merged_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "merged_at", "closed_at"):
            _aware(getattr(self, name), f"PullRequest.{name}")
        if self.merged_at is not None and self.merged_at < self.created_at:
            raise ValueError("PullRequest.merged_at must not be before its created_at")


@dataclass(frozen=True, slots=True)
class Issue:
    created_at: dt.datetime
    repo: str
    closed_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.created_at, "Issue.created_at")
        _aware(self.closed_at, "Issue.closed_at")


@dataclass(frozen=True, slots=True)
class Review:
    """A review the person gave on someone's pull request."""

    at: dt.datetime
    repo: str

    def __post_init__(self) -> None:
        _aware(self.at, "Review.at")


@dataclass(frozen=True, slots=True)
class Repository:
    name: str
    languages: Mapping[str, int] = field(default_factory=dict)  # bytes per language

    def __post_init__(self) -> None:
        _counts("Repository.languages", *self.languages.values())


@dataclass(frozen=True, slots=True)
class History:
    username: str
    commits: tuple[Commit, ...] = ()
    pull_requests: tuple[PullRequest, ...] = ()
    issues: tuple[Issue, ...] = ()
    reviews: tuple[Review, ...] = ()
    repositories: tuple[Repository, ...] = ()


def compute(history: History, *, timezone: str, now: dt.datetime,
            window_days: int = WINDOW_DAYS) -> dict[str, Any]:
    """The analytics document of ``history`` over the ``window_days`` ending at ``now``,
    with times of day read in the organization's IANA ``timezone``."""
    _aware(now, "now")
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    zone = _zone(timezone)
    seen = _within(history, now - dt.timedelta(days=window_days), now)
    metrics = _metrics(seen, zone, now, window_days)
    return {"codeQuality": _code_quality(seen, metrics, window_days),
            "metrics": metrics, "burnoutRisk": _burnout_risk(seen.commits, zone)}


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as "
                         "Europe/Berlin") from None


def _within(history: History, start: dt.datetime, end: dt.datetime) -> History:
    """The activity that happened in ``[start, end]``, and the repositories it was in."""
    def inside(at: dt.datetime) -> bool:
        return start <= at <= end

    commits = tuple(c for c in history.commits if inside(c.at))
    pulls = tuple(p for p in history.pull_requests if inside(p.created_at))
    worked_in = sorted({c.repo for c in commits} | {p.repo for p in pulls})
    known = {r.name: r for r in history.repositories}
    return History(
        username=history.username, commits=commits, pull_requests=pulls,
        issues=tuple(i for i in history.issues if inside(i.created_at)),
        reviews=tuple(r for r in history.reviews if inside(r.at)),
        # A repository without its languages still counts.
        repositories=tuple(known.get(name) or Repository(name) for name in worked_in))


# Rounding: half up, as people expect (12.5% is 13%), exact on integers.

def _ratio(part: int, whole: int) -> int | None:
    return (2 * part + whole) // (2 * whole) if whole else None


def _percent(part: int, whole: int) -> int | None:
    return _ratio(100 * part, whole)


def _one_decimal(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _mean(values: Iterable[float]) -> float | None:
    found = list(values)
    return _one_decimal(math.fsum(found) / len(found)) if found else None


def _metrics(seen: History, zone: dt.tzinfo, now: dt.datetime, window_days: int
             ) -> dict[str, Any]:
    commits, issues = seen.commits, seen.issues
    n = len(commits)
    sized = [c for c in commits if c.sized]
    lines = sum((c.additions or 0) + (c.deletions or 0) for c in sized)
    merge_days = [(p.merged_at - p.created_at) / dt.timedelta(days=1)
                  for p in seen.pull_requests if p.merged_at is not None and p.merged_at <= now]
    closed = [i for i in issues if i.closed_at is not None and i.closed_at <= now]
    return {
        "totalCommits": n, "totalRepositories": len(seen.repositories),
        "totalPullRequests": len(seen.pull_requests), "totalIssues": len(issues),
        "averageCommitSize": _ratio(lines, len(sized)),
        "largeCommitPercentage": _percent(
            sum((c.files_changed or 0) > LARGE_COMMIT_FILES for c in sized), len(sized)),
        "averagePRMergeTime": _mean(merge_days),
        "issueResolutionRate": _percent(len(closed), len(issues)),
        "languages": language_shares(seen.repositories),
        "activityPeriod": _activity_period(seen, zone),
        "commitFrequency": {"daily": _one_decimal(n / window_days),
                            "weekly": _one_decimal(7 * n / window_days),
                            "monthly": _one_decimal(30 * n / window_days)},
    }


def language_shares(repositories: Iterable[Repository]) -> dict[str, int]:
    """Whole percentages of the bytes of all ``repositories`` by language, summing to 100
    (largest remainder; ties by name); the biggest first, those at 0% left out."""
    totals: Counter[str] = Counter()
    for repo in repositories:
        totals.update(repo.languages)
    whole = sum(totals.values())
    if not whole:
        return {}
    shares = {name: 100 * size // whole for name, size in totals.items()}
    by_remainder = sorted(totals, key=lambda name: (-(100 * totals[name] % whole), name))
    for name in by_remainder[:100 - sum(shares.values())]:
        shares[name] += 1
    return {name: share for name, share in sorted(shares.items(), key=lambda s: (-s[1], s[0]))
            if share}


def _activity_period(seen: History, zone: dt.tzinfo) -> dict[str, str] | None:
    times = [*(c.at for c in seen.commits), *(p.created_at for p in seen.pull_requests),
             *(i.created_at for i in seen.issues), *(r.at for r in seen.reviews)]
    if not times:
        return None
    return {"start": min(times).astimezone(zone).date().isoformat(),
            "end": max(times).astimezone(zone).date().isoformat()}


# Burnout risk

def work_day(at: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The local work day of a moment: days run 06:00-05:59, so 01:00 is the night before."""
    wall = at.astimezone(zone).replace(tzinfo=None)
    return (wall - dt.timedelta(hours=WORK_DAY_STARTS)).date()


def is_late_night(at: dt.datetime, zone: dt.tzinfo) -> bool:
    hour = at.astimezone(zone).hour
    return hour >= LATE_NIGHT_FROM or hour < LATE_NIGHT_UNTIL


def is_weekend(at: dt.datetime, zone: dt.tzinfo) -> bool:
    return at.astimezone(zone).weekday() >= 5  # Saturday, Sunday


def longest_run(days: Iterable[dt.date]) -> int:
    """The most consecutive calendar days in ``days``."""
    best = run = 0
    previous: dt.date | None = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and (day - previous).days == 1 else 1
        best, previous = max(best, run), day
    return best


def _work_hours(commits: Iterable[Commit], zone: dt.tzinfo) -> list[float]:
    """Per work day with commits, hours from its first commit to its last (elapsed time,
    so right across a DST change; a day of one commit is 0: a lower bound)."""
    days: dict[dt.date, list[dt.datetime]] = {}
    for c in commits:
        days.setdefault(work_day(c.at, zone), []).append(c.at)
    return [(max(ts) - min(ts)) / dt.timedelta(hours=1) for ts in days.values()]


def risk_score(patterns: Mapping[str, float]) -> float:
    """0-10: the weighted signals of ``RISK_SIGNALS``, each clamped to 0..1."""
    total = math.fsum(weight * _clamp((patterns[name] - zero) / (full - zero))
                      for name, (weight, zero, full) in RISK_SIGNALS.items())
    return _one_decimal(min(10.0, max(0.0, total)))


def risk_level(score: float) -> str:
    """The datastore.analytics thresholds: HIGH from 6 (listed at risk), CRITICAL from 8."""
    if score >= CRITICAL_RISK_SCORE:
        return "CRITICAL"
    if score >= BURNOUT_RISK_SCORE:
        return "HIGH"
    return "MEDIUM" if score >= MEDIUM_RISK_SCORE else "LOW"


def _burnout_risk(commits: tuple[Commit, ...], zone: dt.tzinfo) -> dict[str, Any]:
    n = len(commits)
    hours = _work_hours(commits, zone)
    patterns = {
        "lateNightCommits": _percent(sum(is_late_night(c.at, zone) for c in commits), n),
        "weekendWork": _percent(sum(is_weekend(c.at, zone) for c in commits), n),
        "consecutiveWorkDays": longest_run(work_day(c.at, zone) for c in commits),
        "averageWorkHours": _mean(hours),
    }
    if not n:
        return {"riskScore": 0.0, "riskLevel": "LOW", "confidence": 0, "patterns": patterns,
                "healthStatus": NO_ACTIVITY}
    score = risk_score({k: float(v or 0) for k, v in patterns.items()})
    level = risk_level(score)
    return {"riskScore": score, "riskLevel": level,
            # A percentage, as the design and recordGitHubData's 0-100 range have it.
            "confidence": _percent(min(len(hours), CONFIDENT_ACTIVE_DAYS),
                                   CONFIDENT_ACTIVE_DAYS),
            "patterns": patterns, "healthStatus": HEALTH[level]}


# Code quality

def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def quality_components(metrics: Mapping[str, Any], reviews: int) -> dict[str, float]:
    """Each ``QUALITY_COMPONENTS`` entry that has data, as 0..1 (1 is best), from the
    rounded metrics; none without a commit or pull request of one's own."""
    commits, pulls = metrics["totalCommits"], metrics["totalPullRequests"]
    if not commits and not pulls:
        return {}
    measured = {k: metrics[k] for k in QUALITY_COMPONENTS if metrics.get(k) is not None}
    measured["reviewParticipation"] = reviews / pulls if pulls else float(reviews > 0)
    return {name: _clamp((measured[name] - worst) / (best - worst))
            for name, (_, best, worst) in QUALITY_COMPONENTS.items() if name in measured}


def overall_score(components: Mapping[str, float]) -> float | None:
    """10 x the weighted mean of the components present (their weights renormalized)."""
    weights = {name: QUALITY_COMPONENTS[name][0] for name in components}
    if not weights:
        return None
    return _one_decimal(10 * math.fsum(weights[n] * c for n, c in components.items())
                        / math.fsum(weights.values()))


def rating(score: float) -> str:
    """Excellent from 8.5 (the team report's "Outstanding"), Good from 7 (below it the team
    report says the person needs support), Fair from 5."""
    if score >= OUTSTANDING_SCORE:
        return "Excellent"
    if score >= NEEDS_SUPPORT_SCORE:
        return "Good"
    return "Fair" if score >= FAIR_SCORE else "Needs Improvement"


def _code_quality(seen: History, metrics: Mapping[str, Any], window_days: int
                  ) -> dict[str, Any]:
    components = quality_components(metrics, len(seen.reviews))
    score = overall_score(components)
    if score is None:
        return {"overallScore": None, "rating": None, "analysis": None, "issues": [],
                "recommendations": [f"No commits or pull requests in the last {window_days} "
                                    "days: check the GitHub username"],
                "strengths": []}
    issues, recommendations, strengths = findings(metrics, components, len(seen.reviews))
    named = rating(score)
    return {"overallScore": score, "rating": named, "analysis": ANALYSIS[named],
            "issues": issues,
            "recommendations": recommendations or ["Continue current practices"],
            "strengths": strengths}


def findings(metrics: Mapping[str, Any], components: Mapping[str, float], reviews: int
             ) -> tuple[list[str], list[str], list[str]]:
    """The issues, recommendations and strengths the metrics show (docs/analytics.md)."""
    issues: list[str] = []
    advice: list[str] = []
    strengths: list[str] = []
    size, large = metrics["averageCommitSize"], metrics["largeCommitPercentage"]
    merge, resolved = metrics["averagePRMergeTime"], metrics["issueResolutionRate"]
    if large:
        often = "Frequent" if large > 10 else "Occasional"
        issues.append(f"{often} large commits (>{LARGE_COMMIT_FILES} files) - {large}% of total")
        if large > 10:
            advice.append("Split large changes into smaller, focused commits")
    if size is not None and size > 300:
        issues.append(f"Large average commit size ({size} lines changed)")
        advice.append("Keep each commit to one logical change")
    elif size is not None and size <= 100 and not large:
        strengths.append(f"Small, focused commits (avg {size} lines changed)")
    if components["reviewParticipation"] < 0.5:
        issues.append(f"Low code review participation ({reviews} reviews given for "
                      f"{metrics['totalPullRequests']} pull requests)")
        advice.append("Review teammates' pull requests regularly")
    elif components["reviewParticipation"] == 1.0 and reviews:
        strengths.append(f"High code review participation ({reviews} reviews given)")
    if merge is not None and merge > 7:
        issues.append(f"Slow pull request merges (avg {merge} days)")
        advice.append("Open smaller pull requests so they are reviewed and merged sooner")
    elif merge is not None and merge <= 2:
        strengths.append(f"Fast pull request merges (avg {merge} days)")
    if resolved is not None and resolved < 50:
        issues.append(f"Low issue resolution ({resolved}% closed)")
        advice.append("Close or triage stale issues")
    elif resolved is not None and resolved >= 80:
        strengths.append(f"High issue resolution ({resolved}% closed)")
    return issues, advice, strengths
