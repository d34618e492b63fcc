#!/usr/bin/env python3
"""Writes datastore/fixtures/github_demo.json: the demo team's GitHub activity, shaped exactly as
GitHub's REST API answers it (datastore/github_history.py names each endpoint).

The demo computes its analytics from this file with the same code as for real accounts, so the
numbers are worked out, never typed. Three people over the 350 days before RECORDED_AT:

- alice-dev: a steady senior. Weekday office hours, small commits, reviews about as much as
  she opens, merges in a few days. Good quality, low burnout risk.
- bob-senior: the team's strongest reviewer, who also works late nights and weekends (and
  every day of the two launch crunches). Excellent quality, critical burnout risk.
- charlie-junior: a junior. Large commits, pull requests that take over a week to merge,
  evenings spent catching up. Needs support.

Deterministic (seeded random, no network): running it again writes the same bytes, and the
tests check that the committed file is this script's output. Run it from the repository root:

    .venv/bin/python scripts/make_github_fixture.py          # write the file, print a summary
    .venv/bin/python scripts/make_github_fixture.py --check  # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sys
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parent.parent / "datastore" / "fixtures" / "github_demo.json"
RECORDED_AT = dt.datetime(2025, 1, 24, 17, 30, tzinfo=dt.UTC)  # a Friday evening
# Shorter than the analytics' 365-day window by more than a week: the demo moves the history
# forward by whole weeks to end in the week before today, and nothing may fall out of it.
RECORDED_DAYS = 350
DETAILED_COMMITS = 30  # the newest commits whose size the client fetches, one call each
ORG = "mystartup"
API = "https://api.github.com"
WEB = "https://github.com"

# Repository -> bytes per language, as GET /repos/{repo}/languages answers.
LANGUAGES: dict[str, dict[str, int]] = {
    "api": {"Python": 1482716, "Shell": 18422, "Dockerfile": 3208, "Mako": 494},
    "web": {"TypeScript": 1893051, "CSS": 142880, "JavaScript": 61340, "HTML": 9721},
    "mobile": {"Kotlin": 702113, "Swift": 655902, "Ruby": 6610},
    "infra": {"HCL": 214385, "Python": 38201, "Shell": 22910},
    "data-pipeline": {"Python": 402877, "Jupyter Notebook": 151203, "PLpgSQL": 20318},
}
FIRST_NUMBER = {"api": 1180, "web": 2311, "mobile": 640, "infra": 212, "data-pipeline": 97}
DIRS = {
    "api": ["api/routes", "api/models", "api/services", "tests/api", "migrations"],
    "web": ["src/components", "src/pages", "src/hooks", "src/lib", "tests"],
    "mobile": ["android/app/src", "ios/App", "shared"],
    "infra": ["terraform/modules", "terraform/envs/prod", "scripts"],
    "data-pipeline": ["pipeline/jobs", "pipeline/transforms", "notebooks", "sql"],
}
EXT = {"api": ".py", "web": ".tsx", "mobile": ".kt", "infra": ".tf", "data-pipeline": ".py"}
SUBJECTS = ["billing", "invoices", "sign-up", "search", "onboarding", "webhooks", "exports",
            "rate limits", "settings", "notifications", "audit log", "SSO", "dashboard",
            "team invites", "payments", "reports", "sessions", "feature flags"]
COMMIT_VERBS = ["Fix", "Add", "Refactor", "Update", "Remove", "Simplify", "Test", "Document",
                "Speed up", "Handle errors in"]
PR_TITLES = ["Add {s} endpoint", "Fix {s} pagination", "Refactor {s} service", "Speed up {s}",
             "{S}: handle retries", "Move {s} to the new client", "Clean up {s} tests",
             "{S}: validate input", "Cache {s} lookups", "Rework {s} page"]
ISSUE_TITLES = ["{S} times out for large teams", "Flaky test in {s}", "{S} shows stale data",
                "Document {s} limits", "{S} fails on empty input", "Slow query in {s}"]


@dataclass(frozen=True)
class Persona:
    login: str
    name: str
    email: str
    user_id: int
    created: str
    location: str
    zone: str  # where they live: their commits carry this offset
    repos: dict[str, int]  # repository -> weight of their work there
    seed: int
    # (day, rng) -> local times of the commits that day
    schedule: Callable[[dt.date, random.Random], list[dt.time]]
    lines_per_file: tuple[int, int]
    files: tuple[int, int]
    large_commits: int  # of the DETAILED_COMMITS, touching more than 50 files
    pull_requests: int
    merge_days: tuple[float, float]
    issues: int
    issues_closed: int
    review_share: float  # of the other people's pull requests


def at(rng: random.Random, start: float, end: float) -> dt.time:
    """A random time of day between two hours (24 and beyond wrap to the next day: the
    caller adds the day)."""
    minutes = int(rng.uniform(start, end) * 60) % (24 * 60)
    return dt.time(minutes // 60, minutes % 60, rng.randrange(60))


def _between(day: dt.date, *spans: tuple[dt.date, dt.date]) -> bool:
    return any(a <= day <= b for a, b in spans)


def alice(day: dt.date, rng: random.Random) -> list[dt.time]:
    if _between(day, (dt.date(2024, 8, 5), dt.date(2024, 8, 18)),
                (dt.date(2024, 12, 23), dt.date(2025, 1, 3))):
        return []
    if day.weekday() >= 5:
        return [at(rng, 10.5, 13)] if rng.random() < 0.04 else []
    if rng.random() > 0.4:
        return []
    times = [at(rng, 9.25, 17.75) for _ in range(rng.choice((1, 1, 1, 2, 2)))]
    if rng.random() < 0.02:
        times.append(at(rng, 22.2, 23))  # a release that ran late
    return times


CRUNCHES = ((dt.date(2024, 10, 21), dt.date(2024, 11, 8)),
            (dt.date(2025, 1, 6), dt.date(2025, 1, 24)))


def bob(day: dt.date, rng: random.Random) -> list[dt.time]:
    crunch = _between(day, *CRUNCHES)
    weekend = day.weekday() >= 5
    if not crunch and rng.random() > (0.5 if weekend else 0.34):
        return []
    times = [at(rng, 14, 20) if weekend else at(rng, 9.5, 12)] if rng.random() < 0.75 else []
    if crunch or not times or rng.random() < 0.7:
        times.append(at(rng, 22.5, 26.5))
    return times


def charlie(day: dt.date, rng: random.Random) -> list[dt.time]:
    if _between(day, (dt.date(2024, 7, 8), dt.date(2024, 7, 19))):
        return []
    crunch = _between(day, (dt.date(2024, 10, 28), dt.date(2024, 11, 7)))
    if day.weekday() >= 5:
        return [at(rng, 15, 21)] if crunch or rng.random() < 0.15 else []
    if not crunch and rng.random() > 0.3:
        return []
    times = [at(rng, 10.5, 18.5)]
    if rng.random() < (0.6 if crunch else 0.35):
        times.append(at(rng, 22, 24.5))
    return times


PEOPLE = (
    Persona("alice-dev", "Alice Developer", "alice@startup.com", 58120934, "2014-03-02T09:12:44Z",
            "Berlin, Germany", "Europe/Berlin", {"api": 5, "infra": 3, "web": 1}, 11, alice,
            lines_per_file=(8, 40), files=(1, 7), large_commits=1, pull_requests=40,
            merge_days=(2, 6), issues=16, issues_closed=13, review_share=0.35),
    Persona("bob-senior", "Bob Senior", "bob@startup.com", 40217755, "2011-09-18T20:03:11Z",
            "London, UK", "Europe/London",
            {"api": 4, "web": 3, "data-pipeline": 2, "mobile": 1}, 22, bob,
            lines_per_file=(8, 40), files=(1, 6), large_commits=0, pull_requests=36,
            merge_days=(0.4, 2.2), issues=12, issues_closed=10, review_share=0.65),
    Persona("charlie-junior", "Charlie Junior", "charlie@startup.com", 131470226,
            "2021-06-07T14:40:09Z", "Lisbon, Portugal", "Europe/Lisbon",
            {"web": 3, "mobile": 2}, 33, charlie,
            lines_per_file=(25, 70), files=(4, 10), large_commits=5, pull_requests=22,
            merge_days=(5, 14), issues=6, issues_closed=4, review_share=0.07),
)
# Everyone else who opens pull requests in the organization's repositories: the demo's
# members review theirs too.
OTHERS = (("priya-platform", 77410352, ["api", "infra", "data-pipeline"], 40),
          ("marco-mobile", 90233118, ["mobile"], 20),
          ("sam-frontend", 68801276, ["web"], 30))


def utc(moment: dt.datetime) -> str:
    """The search API's time format: UTC, whole seconds, a Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def subject(rng: random.Random) -> str:
    return rng.choice(SUBJECTS)


def title(template: str, rng: random.Random) -> str:
    s = subject(rng)
    return template.format(s=s, S=s[0].upper() + s[1:])


@dataclass
class Ticket:
    """A pull request or an issue: they share one number sequence per repository."""

    repo: str
    author: str
    author_id: int
    title: str
    created: dt.datetime
    is_pull: bool
    merged: dt.datetime | None = None
    closed: dt.datetime | None = None
    reviewers: list[str] = field(default_factory=list)
    number: int = 0
    id: int = 0

    @property
    def updated(self) -> dt.datetime:
        last = self.closed or self.created + dt.timedelta(hours=5)
        return max(self.created,
                   min(last + dt.timedelta(minutes=7), RECORDED_AT - dt.timedelta(minutes=1)))

    def document(self) -> dict[str, Any]:
        kind = "pull" if self.is_pull else "issues"
        doc: dict[str, Any] = {
            "repository_url": f"{API}/repos/{ORG}/{self.repo}",
            "html_url": f"{WEB}/{ORG}/{self.repo}/{kind}/{self.number}",
            "id": self.id, "number": self.number, "title": self.title,
            "user": {"login": self.author, "id": self.author_id},
            "state": "closed" if self.closed else "open",
            "comments": (self.id * 7) % 9,
            "created_at": utc(self.created), "updated_at": utc(self.updated),
            "closed_at": self.closed and utc(self.closed),
            "author_association": "MEMBER",
        }
        if self.is_pull:
            doc["draft"] = False
            doc["pull_request"] = {"merged_at": self.merged and utc(self.merged)}
        return doc


@dataclass
class Work:
    person: Persona
    commits: list[tuple[dt.datetime, str]]  # local time, repository
    tickets: list[Ticket] = field(default_factory=list)


def days() -> Iterator[dt.date]:
    first = (RECORDED_AT - dt.timedelta(days=RECORDED_DAYS)).date() + dt.timedelta(days=1)
    for n in range((RECORDED_AT.date() - first).days + 1):
        yield first + dt.timedelta(days=n)


def commit_times(p: Persona, rng: random.Random) -> list[tuple[dt.datetime, str]]:
    zone = zoneinfo.ZoneInfo(p.zone)
    repos, weights = list(p.repos), list(p.repos.values())
    found = []
    for day in days():
        for t in p.schedule(day, rng):
            # Hours past midnight (a night session) belong to the next calendar day.
            local = dt.datetime.combine(day + dt.timedelta(days=t.hour < 6), t, tzinfo=zone)
            if local < RECORDED_AT - dt.timedelta(minutes=5):
                found.append((local, rng.choices(repos, weights)[0]))
    return sorted(found)


def tickets_of(work: Work, rng: random.Random) -> list[Ticket]:
    p = work.person
    # Opened a little after a commit, and before the recording.
    early = [c for c in work.commits if c[0] < RECORDED_AT - dt.timedelta(hours=1)]
    opened_at = rng.sample(early, p.pull_requests + p.issues)
    pulls = sorted(opened_at[:p.pull_requests])
    out: list[Ticket] = []
    for local, repo in pulls:
        created = local + dt.timedelta(minutes=rng.randrange(3, 40))
        merged: dt.datetime | None = created + dt.timedelta(days=rng.uniform(*p.merge_days))
        closed = merged
        if rng.random() < 0.05:
            merged = None  # closed without merging: superseded
        if closed is not None and closed > RECORDED_AT:
            merged = closed = None  # still open when recorded
        out.append(Ticket(repo, p.login, p.user_id, title(rng.choice(PR_TITLES), rng),
                          created, True, merged, closed))
    issues = sorted(opened_at[p.pull_requests:])
    closing = set(rng.sample(range(len(issues)), p.issues_closed))
    for n, (local, repo) in enumerate(issues):
        created = local + dt.timedelta(minutes=rng.randrange(1, 20))
        closed = created + dt.timedelta(days=rng.uniform(0.5, 12)) if n in closing else None
        if closed is not None and closed > RECORDED_AT:
            closed = None  # still open when recorded
        out.append(Ticket(repo, p.login, p.user_id, title(rng.choice(ISSUE_TITLES), rng),
                          created, False, closed=closed))
    return out


def others_pulls(rng: random.Random) -> list[Ticket]:
    out = []
    all_days = [d for d in days() if d.weekday() < 5 and d < RECORDED_AT.date()]
    for login, user_id, repos, count in OTHERS:
        for day in rng.sample(all_days, count):
            created = dt.datetime.combine(day, at(rng, 9, 17.5), tzinfo=dt.UTC)
            done = created + dt.timedelta(days=rng.uniform(0.3, 4))
            closed = done if done < RECORDED_AT else None
            out.append(Ticket(rng.choice(repos), login, user_id,
                              title(rng.choice(PR_TITLES), rng), created, True, closed, closed))
    return out


def number(tickets: list[Ticket]) -> None:
    next_number = dict(FIRST_NUMBER)
    for n, t in enumerate(sorted(tickets, key=lambda t: t.created)):
        t.number = next_number[t.repo]
        next_number[t.repo] += 1 + n % 3  # other people's tickets in between
        t.id = 2104331000 + 9173 * n


def review(tickets: list[Ticket], rng: random.Random) -> None:
    for t in sorted(tickets, key=lambda t: t.created):
        if t.is_pull:
            t.reviewers = [p.login for p in PEOPLE
                           if p.login != t.author and rng.random() < p.review_share]


def commit_document(p: Persona, local: dt.datetime, repo: str, digest: str,
                    message: str) -> dict[str, Any]:
    return {
        "sha": digest, "html_url": f"{WEB}/{ORG}/{repo}/commit/{digest}",
        "commit": {"author": {"name": p.name, "email": p.email, "date": local.isoformat()},
                   "message": message},
        "author": {"login": p.login, "id": p.user_id},
        "repository": {"full_name": f"{ORG}/{repo}", "private": True},
    }


def detail_document(p: Persona, repo: str, digest: str, large: bool, rng: random.Random
                    ) -> dict[str, Any]:
    count = rng.randint(51, 58) if large else rng.randint(*p.files)
    folders = DIRS[repo]
    files: list[dict[str, Any]] = []
    for n in range(count):
        added = rng.randint(*p.lines_per_file) if not large else rng.randint(1, 9)
        removed = rng.randint(0, added // 2 + 1)
        status = "added" if n % 9 == 4 else "modified"
        if status == "added":
            removed = 0
        folder = folders[n % len(folders)]
        files.append({"filename": f"{folder}/{subject(rng).replace(' ', '_')}{EXT[repo]}",
                      "status": status, "additions": added, "deletions": removed,
                      "changes": added + removed})
    additions = sum(f["additions"] for f in files)
    deletions = sum(f["deletions"] for f in files)
    return {"sha": digest, "html_url": f"{WEB}/{ORG}/{repo}/commit/{digest}",
            "stats": {"total": additions + deletions, "additions": additions,
                      "deletions": deletions},
            "files": files}


def user_document(p: Persona, repos: int) -> dict[str, Any]:
    return {"login": p.login, "id": p.user_id, "type": "User", "html_url": f"{WEB}/{p.login}",
            "name": p.name, "company": f"@{ORG}", "location": p.location,
            "public_repos": repos, "followers": p.user_id % 97, "following": p.user_id % 31,
            "created_at": p.created, "updated_at": utc(RECORDED_AT - dt.timedelta(days=3))}


def documents(work: Work, pool: list[Ticket], rng: random.Random) -> dict[str, Any]:
    p = work.person
    commits = []
    newest_first = sorted(work.commits, reverse=True)
    large = set(rng.sample(range(DETAILED_COMMITS), p.large_commits))
    details: dict[str, Any] = {}
    for n, (local, repo) in enumerate(newest_first):
        digest = sha(p.login, local.isoformat(), repo)
        big = n in large
        message = ("Move to the new design system across the app" if big and repo == "web"
                   else "Rename packages for the shared module" if big
                   else f"{rng.choice(COMMIT_VERBS)} {subject(rng)}")
        commits.append(commit_document(p, local, repo, digest, message))
        if n < DETAILED_COMMITS:
            details[digest] = detail_document(p, repo, digest, big, rng)
    pulls = [t for t in work.tickets if t.is_pull]
    worked_in = sorted({r for _, r in work.commits} | {t.repo for t in pulls})
    by_created = sorted(work.tickets, key=lambda t: t.created, reverse=True)
    reviewed = sorted((t for t in pool if p.login in t.reviewers),
                      key=lambda t: t.updated, reverse=True)
    return {
        "user": user_document(p, len(worked_in) + 4),
        "commits": commits,  # the search sorted by author-date, newest first
        "commitDetails": details,
        "pullRequests": [t.document() for t in by_created if t.is_pull],
        "issues": [t.document() for t in by_created if not t.is_pull],
        "reviewed": [t.document() for t in reviewed],
        "languages": {f"{ORG}/{r}": LANGUAGES[r] for r in worked_in},
    }


def build() -> dict[str, Any]:
    work = []
    for p in PEOPLE:
        rng = random.Random(p.seed)
        w = Work(p, commit_times(p, rng))
        w.tickets = tickets_of(w, rng)
        work.append(w)
    rng = random.Random(44)
    pool = [t for w in work for t in w.tickets] + others_pulls(rng)
    number(pool)
    review([t for t in pool if t.is_pull], rng)
    return {"recordedAt": utc(RECORDED_AT),
            "users": {w.person.login: documents(w, pool, random.Random(w.person.seed + 1))
                      for w in work}}


def render(value: Any, depth: int = 0) -> str:
    """JSON with the first four levels on their own lines and each document on one line:
    small, and a change to one commit is a one-line diff."""
    if depth >= 4 or not isinstance(value, dict | list) or not value:
        return json.dumps(value, separators=(",", ":"))
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(value, list):
        parts = [inner + render(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(parts) + f"\n{pad}]"
    parts = [f"{inner}{json.dumps(k)}: {render(v, depth + 1)}" for k, v in value.items()]
    return "{\n" + ",\n".join(parts) + f"\n{pad}}}"


def summary(fixture: dict[str, Any]) -> Iterator[str]:
    """What the demo computes from the fixture, as it does (datastore/demo.py)."""
    from datastore.github_history import read_history
    from datastore.github_metrics import compute

    recorded = dt.datetime.fromisoformat(fixture["recordedAt"])
    for login, docs in fixture["users"].items():
        data = compute(read_history(login, docs), timezone="UTC", now=recorded)
        m, q, r = data["metrics"], data["codeQuality"], data["burnoutRisk"]
        yield (f"{login}: {m['totalCommits']} commits ({len(docs['commitDetails'])} sized), "
               f"{m['totalPullRequests']} PRs, {m['totalIssues']} issues, "
               f"{len(docs['reviewed'])} reviews; quality {q['overallScore']} {q['rating']}, "
               f"risk {r['riskScore']} {r['riskLevel']}")
        yield f"  metrics {json.dumps({k: m[k] for k in list(m)[4:9]})}"
        yield f"  patterns {json.dumps(r['patterns'])}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed fixture is not this script's output")
    args = parser.parse_args(argv)
    fixture = build()
    text = render(fixture) + "\n"
    if args.check:
        if not FIXTURE.exists() or FIXTURE.read_text(encoding="utf-8") != text:
            print(f"{FIXTURE} is stale: run scripts/make_github_fixture.py", file=sys.stderr)
            return 1
        return 0
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(text, encoding="utf-8")
    print(f"wrote {FIXTURE} ({len(text.encode()) // 1024} KB)")
    for line in summary(fixture):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
