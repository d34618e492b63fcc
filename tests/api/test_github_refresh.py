"""refreshGitHubData over GraphQL, against the fake GitHub: who may, what it stores, and how
GitHub's failures come back as typed errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest

from datastore import demo, keys
from datastore.github_settings import GitHubConfig
from resolvers.github import GitHubSource
from tests.api.conftest import ALICE, BOB, CHARLIE, DIANA, Api
from tests.api.test_consistency import events, lose_the_next_transaction_answer
from tests.fake_github import TOKEN, FakeGitHub, Fault, days_ago, fake_github, person

REFRESH = """
mutation Refresh($input: RefreshGitHubDataInput) {
  refreshGitHubData(input: $input) {
    __typename
    ... on RefreshGitHubDataSuccess {
      changed
      gitHubData { githubUsername dataSource apiCallsMade generationTime
                   metrics { totalCommits totalPullRequests }
                   codeQuality { overallScore rating }
                   burnoutRisk { riskLevel patterns { lateNightCommits } }
                   member { userId } }
    }
    ... on MutationError { code message }
    ... on GitHubRateLimited { resetsAt secondary }
    ... on GitHubUserNotFound { githubUsername }
    ... on ValidationError { field }
  }
}
"""


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with fake_github({
        "alice-dev": person("alice-dev", commits=60, pulls=6, reviewed=8, issues=4),
        # Every day at 22:30 UTC: late at night in UTC, 07:30 in Tokyo.
        "bob-senior": person("bob-senior", commits=120, start=days_ago(150, "22:30"),
                             step_hours=24, pulls=10, reviewed=20, issues=5),
        "charlie-junior": person("charlie-junior", commits=30, lines=900, files=80,
                                 pulls=4, issues=6),
    }) as fake:
        yield fake


@pytest.fixture
async def live(api: Api, github: FakeGitHub) -> AsyncIterator[Api]:
    source = GitHubSource(GitHubConfig(api_url=github.url, token=TOKEN))
    api.settings = dataclasses.replace(api.settings, github=source)
    yield api
    await source.close()


async def refresh(api: Api, caller: object = ALICE, user_id: str | None = None
                  ) -> dict[str, object]:
    variables = {"input": {"userId": user_id}} if user_id else None
    data = await api.ok(REFRESH, caller, variables)  # type: ignore[arg-type]
    result: dict[str, object] = data["refreshGitHubData"]
    return result


async def test_a_refresh_is_stored_shown_on_the_dashboard_and_used_by_the_report(
        live: Api, github: FakeGitHub) -> None:
    result = await refresh(live, BOB)  # a member, for himself
    assert result["__typename"] == "RefreshGitHubDataSuccess", result
    data = result["gitHubData"]
    assert isinstance(data, dict)
    assert data["dataSource"] == "REAL GitHub API"
    assert data["metrics"] == {"totalCommits": 120, "totalPullRequests": 10}
    assert data["member"] == {"userId": BOB.user_id}
    assert data["apiCallsMade"] == len(github.seen)
    live.settle()
    # What the dashboard reads: the cached entry, through the loaders.
    shown = await live.ok('{ githubData(username: "bob-senior") { dataSource '
                          'metrics { totalCommits } } }', ALICE)
    assert shown["githubData"] == {"dataSource": "REAL GitHub API",
                                   "metrics": {"totalCommits": 120}}
    for user in (ALICE.user_id, CHARLIE.user_id):
        assert (await refresh(live, ALICE, user))["__typename"] == "RefreshGitHubDataSuccess"
    report = await live.ok("mutation { generateTeamReport { ... on GenerateTeamReportSuccess "
                           "{ teamReport { summary { analyzedMembers averageCodeQuality } "
                           "needsSupport { userId } } } } }", ALICE)
    summary = report["generateTeamReport"]["teamReport"]
    assert summary["summary"]["analyzedMembers"] == 3
    stored = await live.store.get(keys.github_data(demo.DEMO_ORG, "charlie-junior"),
                                  consistent=True)
    assert stored is not None
    charlie_score = stored["data"]["codeQuality"]["overallScore"]
    assert charlie_score < 7  # 900-line commits of 80 files
    assert {"userId": CHARLIE.user_id} in summary["needsSupport"]


async def test_the_organization_s_time_zone_decides_what_is_late_at_night(
        live: Api) -> None:
    utc = await refresh(live, BOB)
    assert isinstance(utc["gitHubData"], dict)
    assert utc["gitHubData"]["burnoutRisk"]["patterns"]["lateNightCommits"] == 100
    changed = await live.ok('mutation { updateOrganizationSettings(input: {timezone: '
                            '"Asia/Tokyo"}) { __typename } }', ALICE)
    assert changed["updateOrganizationSettings"]["__typename"] \
        == "UpdateOrganizationSettingsSuccess"
    tokyo = await refresh(live, BOB)
    assert isinstance(tokyo["gitHubData"], dict)
    assert tokyo["changed"] is True
    assert tokyo["gitHubData"]["burnoutRisk"]["patterns"]["lateNightCommits"] == 0


async def test_a_member_may_not_refresh_someone_else(live: Api, github: FakeGitHub) -> None:
    result = await refresh(live, BOB, ALICE.user_id)
    assert result["__typename"] == "PermissionDenied"
    assert "write_team_data" in str(result["message"])
    assert github.seen == []


async def test_a_member_may_name_themself(live: Api) -> None:
    assert (await refresh(live, BOB, BOB.user_id))["__typename"] == "RefreshGitHubDataSuccess"


async def test_a_viewer_may_not_refresh_even_their_own(live: Api, github: FakeGitHub) -> None:
    assert (await refresh(live, DIANA))["__typename"] == "PermissionDenied"
    assert github.seen == []


async def test_someone_without_a_github_username_gets_a_validation_error(live: Api) -> None:
    result = await refresh(live, ALICE, DIANA.user_id)
    assert result["__typename"] == "ValidationError"
    assert result["field"] == "userId"


async def test_an_unknown_member_is_not_found(live: Api) -> None:
    assert (await refresh(live, ALICE, "user-nobody"))["__typename"] == "NotFound"


async def test_a_github_user_that_does_not_exist_is_a_typed_error(live: Api,
                                                                  github: FakeGitHub) -> None:
    del github.users["bob-senior"]
    result = await refresh(live, BOB)
    assert result["__typename"] == "GitHubUserNotFound"
    assert result["githubUsername"] == "bob-senior"
    assert result["code"] == "GITHUB_USER_NOT_FOUND"


async def test_a_spent_rate_limit_says_when_it_resets_and_changes_nothing(
        live: Api, github: FakeGitHub) -> None:
    before = await live.store.get(keys.github_data(demo.DEMO_ORG, "bob-senior"),
                                  consistent=True)
    github.remaining["search"] = 0
    result = await refresh(live, BOB)
    assert result["__typename"] == "GitHubRateLimited"
    assert result["secondary"] is False
    assert dt.datetime.fromisoformat(str(result["resetsAt"])).timestamp() == github.reset_at
    after = await live.store.get(keys.github_data(demo.DEMO_ORG, "bob-senior"),
                                 consistent=True)
    assert after == before


async def test_a_failing_github_is_unavailable(live: Api, github: FakeGitHub) -> None:
    github.faults.append(Fault("^/search/", status=503))
    result = await refresh(live, BOB)
    assert result["__typename"] == "GitHubUnavailable"
    assert result["code"] == "GITHUB_UNAVAILABLE"


async def test_without_github_credentials_the_server_says_how_to_configure_them(
        api: Api) -> None:
    result = await refresh(api, BOB)
    assert result["__typename"] == "GitHubUnavailable"
    assert "DEVINSIGHTS_GITHUB_TOKEN" in str(result["message"])


async def test_a_refresh_whose_answer_was_lost_succeeds_and_wrote_once(
        live: Api, request: pytest.FixtureRequest) -> None:
    before = await events(live.store, "github_data.refreshed", demo.DEMO_ORG)
    lost = lose_the_next_transaction_answer(live, request)

    result = await refresh(live, BOB)

    assert result["__typename"] == "RefreshGitHubDataSuccess"
    assert await events(live.store, "github_data.refreshed", demo.DEMO_ORG) == before + 1
    assert lost() == 1
