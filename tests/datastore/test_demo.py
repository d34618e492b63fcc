"""The demo organization's GitHub analytics: computed from the bundled fixture, never typed."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from datastore import analytics, demo, keys
from datastore.github_history import repo_of_issue
from datastore.records import DAY_SECONDS
from datastore.store import Set, Store
from tests.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "make_github_fixture.py"
WITH_USERNAME = {p["github_username"]: p for p in demo.PEOPLE if p["github_username"]}
SHA = re.compile(r"[0-9a-f]{40}")
# The story the fixture tells (scripts/make_github_fixture.py): a change to the generator or
# to the formulas that breaks it fails here.
STORY = {  # username: (rating, riskLevel)
    "alice-dev": ("Good", "LOW"),  # a steady senior
    "bob-senior": ("Excellent", "CRITICAL"),  # the best reviewer, nights and weekends
    "charlie-junior": ("Needs Improvement", "MEDIUM"),  # large commits, slow merges
}


def fixture() -> dict[str, Any]:
    text = resources.files("datastore").joinpath(demo.GITHUB_FIXTURE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def utc_moment(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


async def stored_data(store: Store) -> dict[str, Any]:
    found = {u: await analytics.get_github_data(store, demo.DEMO_ORG, u) for u in WITH_USERNAME}
    assert all(found.values()), found
    return found


# The fixture


def test_the_committed_fixture_is_what_its_generator_writes() -> None:
    done = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT)

    assert done.returncode == 0, done.stderr


def test_the_fixture_is_small_and_has_every_demo_member_with_a_github_username() -> None:
    path = resources.files("datastore").joinpath(demo.GITHUB_FIXTURE)

    assert len(path.read_bytes()) < 500_000
    assert set(fixture()["users"]) == set(WITH_USERNAME) == set(STORY)


@pytest.mark.parametrize("username", sorted(WITH_USERNAME))
def test_the_fixture_is_shaped_as_githubs_rest_api_answers(username: str) -> None:
    docs = fixture()["users"][username]
    recorded = dt.datetime.fromisoformat(fixture()["recordedAt"])

    assert docs["user"]["login"] == username
    commits = docs["commits"]
    dates = [dt.datetime.fromisoformat(c["commit"]["author"]["date"]) for c in commits]
    assert 100 <= len(commits) <= 400
    assert dates == sorted(dates, reverse=True)  # search sorted by author-date, newest first
    assert all(d.utcoffset() is not None and d < recorded for d in dates)
    for c in commits:
        assert SHA.fullmatch(c["sha"])
        assert c["html_url"] == f"https://github.com/{c['repository']['full_name']}/commit/" \
                                f"{c['sha']}"
        assert c["author"]["login"] == username
        assert re.fullmatch(r"[+-]\d\d:\d\d", c["commit"]["author"]["date"][-6:])
    # The client fetches the newest commits' sizes only, one call each.
    assert list(docs["commitDetails"]) == [c["sha"] for c in commits[:30]]
    for detail in docs["commitDetails"].values():
        stats, files = detail["stats"], detail["files"]
        assert stats["total"] == stats["additions"] + stats["deletions"]
        assert stats["additions"] == sum(f["additions"] for f in files)
        assert all(f["changes"] == f["additions"] + f["deletions"] for f in files)
    for kind in ("pullRequests", "issues", "reviewed"):
        for item in docs[kind]:
            assert item["created_at"].endswith("Z")
            created, updated = (dt.datetime.fromisoformat(item[k])
                                for k in ("created_at", "updated_at"))
            assert created <= updated < recorded
            closed = item["closed_at"]
            assert closed is None or created <= dt.datetime.fromisoformat(closed) <= updated
            assert item["html_url"].endswith(f"/{item['number']}")
            assert (item["state"] == "closed") == (item["closed_at"] is not None)
            assert ("pull_request" in item) == (kind != "issues")
            assert (item["user"]["login"] == username) == (kind != "reviewed")
    for pull in docs["pullRequests"]:
        merged = pull["pull_request"]["merged_at"]
        assert merged is None or merged == pull["closed_at"]
    worked_in = {c["repository"]["full_name"] for c in commits} | {
        repo_of_issue(p) for p in docs["pullRequests"]}
    assert set(docs["languages"]) == worked_in


# What the demo stores


async def test_the_demo_computes_each_members_analytics_from_the_fixture(
        store: Store, clock: Clock) -> None:
    await demo.load_demo(store)

    for username, record in (await stored_data(store)).items():
        assert record.user_id == WITH_USERNAME[username]["user_id"]
        assert record.data == demo.fixture_github_data(username, timezone="UTC",
                                                       now=utc_moment(clock.now))
        assert record.data_source == demo.GITHUB_FIXTURE_SOURCE
        assert "fixture" in record.data_source
        assert "REAL" not in record.data_source
        assert record.api_calls_made == 0
        assert re.fullmatch(r"\d+ms", record.generation_time or "")
        assert record.expires_at == int(clock.now) + DAY_SECONDS
    listed = await store.query_all(analytics.team_github_query(demo.DEMO_ORG))
    assert sorted(i["githubUsername"] for i in listed) == sorted(WITH_USERNAME)


@pytest.mark.parametrize(("username", "rating", "risk_level"),
                         [(u, *story) for u, story in STORY.items()])
def test_each_demo_member_tells_their_part_of_the_story(username: str, rating: str,
                                                        risk_level: str) -> None:
    data = demo.fixture_github_data(username, timezone="UTC", now=utc_moment(1.7e9))

    assert data["codeQuality"]["rating"] == rating
    assert data["burnoutRisk"]["riskLevel"] == risk_level


def test_bob_reviews_the_most_and_works_nights_and_weekends() -> None:
    data = demo.fixture_github_data("bob-senior", timezone="UTC", now=utc_moment(1.7e9))
    reviews = {u: len(d["reviewed"]) for u, d in fixture()["users"].items()}

    assert max(reviews, key=reviews.__getitem__) == "bob-senior"
    assert reviews["bob-senior"] >= 2 * data["metrics"]["totalPullRequests"]
    patterns = data["burnoutRisk"]["patterns"]
    assert patterns["lateNightCommits"] >= 30
    assert patterns["weekendWork"] >= 30


def test_charlies_issues_are_large_commits_and_slow_merges() -> None:
    issues = demo.fixture_github_data("charlie-junior", timezone="UTC",
                                      now=utc_moment(1.7e9))["codeQuality"]["issues"]

    assert any(i.startswith("Frequent large commits") for i in issues), issues
    assert any(i.startswith("Slow pull request merges") for i in issues), issues


async def test_the_demo_team_report_is_made_from_the_three_analyzed_people(
        store: Store) -> None:
    await demo.load_demo(store)

    report = await analytics.latest_team_report(store, demo.DEMO_ORG)

    assert report is not None
    assert report.data["summary"]["analyzedMembers"] == 3
    assert report.data["summary"]["totalMembers"] == 4
    assert [p["name"] for p in report.data["topPerformers"]] == ["Bob Senior",
                                                                  "Alice Developer"]
    assert [p["name"] for p in report.data["needsSupport"]] == ["Charlie Junior"]
    assert [(p["name"], p["severity"]) for p in report.data["burnoutRisks"]] == [
        ("Bob Senior", "CRITICAL")]
    assert report.data["recommendations"][0]["userIds"] == ["user-bob-002"]


@pytest.mark.parametrize("now", [
    "2023-11-14T22:13:20Z", "2025-01-24T17:30:00Z", "2025-01-27T03:00:00Z",
    "2026-06-03T12:34:56Z", "2031-02-28T23:59:59Z"])
def test_the_demo_shows_the_same_figures_whichever_day_it_is_loaded(now: str) -> None:
    moment = dt.datetime.fromisoformat(now)
    recorded = dt.datetime.fromisoformat(fixture()["recordedAt"])

    for username in WITH_USERNAME:
        on_the_day = demo.fixture_github_data(username, timezone="UTC", now=moment)
        as_recorded = demo.fixture_github_data(username, timezone="UTC", now=recorded)
        period = on_the_day["metrics"].pop("activityPeriod")
        as_recorded["metrics"].pop("activityPeriod")
        assert on_the_day == as_recorded
        # The history ends in the week before the moment it is loaded.
        last = dt.date.fromisoformat(period["end"])
        assert moment.date() - dt.timedelta(days=7) <= last <= moment.date()


async def test_the_demo_reads_times_of_day_in_the_organizations_time_zone(
        store: Store, clock: Clock) -> None:
    await demo.load_demo(store)
    await store.update(keys.organization(demo.DEMO_ORG), [Set("settings.timezone",
                                                              "Asia/Tokyo")])

    await demo.load_demo(store)

    bob = (await stored_data(store))["bob-senior"].data
    now = utc_moment(clock.now)
    assert bob == demo.fixture_github_data("bob-senior", timezone="Asia/Tokyo", now=now)
    # Late night in London is the next morning in Tokyo.
    in_utc = demo.fixture_github_data("bob-senior", timezone="UTC", now=now)
    assert bob["burnoutRisk"]["patterns"]["lateNightCommits"] \
        < in_utc["burnoutRisk"]["patterns"]["lateNightCommits"]


async def test_loading_the_demo_again_a_day_later_refreshes_the_analytics_and_report(
        store: Store, clock: Clock) -> None:
    await demo.load_demo(store)
    clock.advance(DAY_SECONDS + 1)
    assert await analytics.latest_team_report(store, demo.DEMO_ORG) is None

    await demo.load_demo(store)

    assert {u: r.expires_at for u, r in (await stored_data(store)).items()} == {
        u: int(clock.now) + DAY_SECONDS for u in WITH_USERNAME}
    report = await analytics.latest_team_report(store, demo.DEMO_ORG)
    assert report is not None
    assert report.data["summary"]["analyzedMembers"] == 3
