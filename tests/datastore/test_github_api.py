"""The GitHub client against the fake GitHub on 127.0.0.1 (tests/fake_github.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from datastore.github_api import Fetched, GitHubClient
from datastore.github_history import read_history
from datastore.github_metrics import compute
from datastore.github_settings import (
    GitHubConfig,
    GitHubNotConfigured,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUserNotFound,
)
from tests.fake_github import TOKEN, FakeGitHub, Fault, fake_github, person

NOW = dt.datetime.now(dt.UTC)  # person() dates its activity from today


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with fake_github({"bob": person("bob", commits=250, pulls=3, reviewed=2, issues=2),
                      "quiet": person("quiet", commits=0)}) as fake:
        yield fake


def config(fake: FakeGitHub, **changes: Any) -> GitHubConfig:
    values: dict[str, Any] = {"api_url": fake.url, "token": TOKEN, "timeout_seconds": 5.0}
    values.update(changes)
    return GitHubConfig(**values)


async def fetch(fake: FakeGitHub, username: str = "bob", *, patient: bool = True,
                **changes: Any) -> Fetched:
    async with GitHubClient(config(fake, **changes)) as client:
        return await client.fetch(username, now=NOW, patient=patient)


async def test_a_person_is_fetched_through_every_page_of_the_link_header(
        github: FakeGitHub) -> None:
    fetched = await fetch(github)
    assert len(fetched.documents["commits"]) == 250
    pages = [s.query.get("page", "1") for s in github.requests_to("^/search/commits$")]
    assert pages == ["1", "2", "3"]  # the Link header's rel="next", then no more
    # 1 user + 3 commit pages + 3 searches + 30 commit sizes + 1 repository's languages
    assert fetched.api_calls == 38 == len(github.seen)
    assert len(fetched.documents["commitDetails"]) == 30
    assert fetched.left_out == ()


async def test_the_fetched_documents_compute_the_person_s_metrics(github: FakeGitHub) -> None:
    fetched = await fetch(github)
    data = compute(read_history("bob", fetched.documents), timezone="UTC", now=NOW)
    metrics = data["metrics"]
    assert (metrics["totalCommits"], metrics["totalPullRequests"], metrics["totalIssues"]) \
        == (250, 3, 2)
    assert metrics["averageCommitSize"] == 40  # over the 30 sized commits
    assert metrics["languages"] == {"Python": 90, "Shell": 10}


async def test_a_second_fetch_is_answered_by_304s_that_spend_no_rate_limit(
        github: FakeGitHub) -> None:
    async with GitHubClient(config(github)) as client:
        first = await client.fetch("bob", now=NOW)
        spent = github.spent()
        second = await client.fetch("bob", now=NOW)
    assert github.spent() == spent == first.api_calls
    assert second.not_modified == second.api_calls == first.api_calls
    assert all(s.conditional for s in github.seen[spent:])
    assert second.documents == first.documents


async def test_a_spent_rate_limit_fails_with_its_reset_time_and_stops_sending(
        github: FakeGitHub) -> None:
    github.remaining["search"] = 0
    async with GitHubClient(config(github)) as client:
        with pytest.raises(GitHubRateLimited) as caught:
            await client.fetch("bob", now=NOW)
        assert caught.value.resets_at == dt.datetime.fromtimestamp(github.reset_at, dt.UTC)
        assert not caught.value.secondary
        assert "rate limit is reached until" in str(caught.value)
        sent = len(github.seen)
        with pytest.raises(GitHubRateLimited):
            await client.fetch("bob", now=NOW)
    # Every person searches: the next one is refused before any request.
    assert github.seen[sent:] == []


async def test_a_short_secondary_limit_is_waited_out_once(github: FakeGitHub) -> None:
    github.faults.append(Fault("^/search/issues", status=403, times=1,
                               headers={"Retry-After": "1"}))
    started = time.monotonic()
    fetched = await fetch(github)
    assert time.monotonic() - started >= 1.0
    assert len(fetched.documents["pullRequests"]) == 3


async def test_a_person_waiting_gets_a_secondary_limit_at_once(github: FakeGitHub) -> None:
    github.faults.append(Fault("^/search/issues", status=403, times=1,
                               headers={"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(GitHubRateLimited) as caught:
        await fetch(github, patient=False)
    assert time.monotonic() - started < 5
    assert caught.value.secondary
    assert caught.value.resets_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)


async def test_a_long_secondary_limit_is_not_waited_for(github: FakeGitHub) -> None:
    github.faults.append(Fault("^/search/commits", status=429,
                               headers={"Retry-After": "3600"}))
    with pytest.raises(GitHubRateLimited) as caught:
        await fetch(github)
    assert caught.value.secondary


async def test_a_secondary_limit_without_retry_after_waits_a_minute(
        github: FakeGitHub) -> None:
    github.faults.append(Fault("^/search/commits", status=403, message=(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you "
        "try again.")))
    with pytest.raises(GitHubRateLimited) as caught:
        await fetch(github)
    assert caught.value.secondary
    assert caught.value.resets_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=55)


async def test_commits_are_fetched_up_to_all_that_github_s_search_returns(
        github: FakeGitHub) -> None:
    github.users["busy"] = person("busy", commits=1050, step_hours=0.25)
    fetched = await fetch(github, "busy")
    assert len(fetched.documents["commits"]) == 1000
    assert len(github.requests_to("^/search/commits$")) == 10
    assert "any results of /search/commits after 1000" in fetched.left_out


async def test_an_unknown_user_is_a_user_not_found(github: FakeGitHub) -> None:
    with pytest.raises(GitHubUserNotFound, match="GitHub has no user 'nobody-here'"):
        await fetch(github, "nobody-here")


async def test_a_502_is_retried_once(github: FakeGitHub) -> None:
    github.faults.append(Fault("^/users/bob", status=502, times=1))
    fetched = await fetch(github)
    assert [s.status for s in github.requests_to("^/users/bob$")] == [502, 200]
    assert fetched.api_calls == 39  # the retry counts


async def test_a_github_that_keeps_failing_is_unavailable(github: FakeGitHub) -> None:
    github.faults.append(Fault("^/search/commits", status=502))
    with pytest.raises(GitHubUnavailable, match=r"GitHub failed \(502\)") as caught:
        await fetch(github)
    assert caught.value.api_calls == 1 + 2  # the user, the search and its one retry


async def test_a_slow_answer_times_out(github: FakeGitHub) -> None:
    github.faults.append(Fault("^/users/bob", status=200, delay=2.0))
    with pytest.raises(GitHubUnavailable, match="did not answer in time"):
        await fetch(github, timeout_seconds=0.5)


async def test_refused_credentials_name_no_token(github: FakeGitHub) -> None:
    with pytest.raises(GitHubUnavailable, match="refused this server's credentials") \
            as caught:
        await fetch(github, token="ghp_wrong_token_value")
    assert "ghp_" not in str(caught.value)


async def test_the_per_person_budget_bounds_the_requests_and_says_what_it_left_out(
        github: FakeGitHub) -> None:
    fetched = await fetch(github, max_calls_per_person=10)
    assert fetched.api_calls == 10 == len(github.seen)
    assert len(fetched.documents["commits"]) == 250
    assert fetched.left_out  # commit sizes, languages
    data = compute(read_history("bob", fetched.documents), timezone="UTC", now=NOW)
    assert data["metrics"]["totalCommits"] == 250


async def test_someone_without_activity_costs_few_requests(github: FakeGitHub) -> None:
    fetched = await fetch(github, "quiet")
    assert fetched.api_calls == 5  # the user and the four searches
    data = compute(read_history("quiet", fetched.documents), timezone="UTC", now=NOW)
    assert data["burnoutRisk"]["healthStatus"] == "NO_RECENT_ACTIVITY"


async def test_requests_in_flight_are_bounded_over_every_person(github: FakeGitHub) -> None:
    github.users.update({f"p{i}": person(f"p{i}", commits=3) for i in range(6)})
    github.faults.append(Fault("^/users/", status=200, delay=0.2))
    async with GitHubClient(config(github, concurrency=2)) as client:
        await asyncio.gather(*(client.fetch(f"p{i}", now=NOW) for i in range(6)))
    assert github.most_in_flight == 2


def test_a_client_without_credentials_refuses_to_start() -> None:
    with pytest.raises(GitHubNotConfigured, match="DEVINSIGHTS_GITHUB_TOKEN"):
        GitHubClient(GitHubConfig())


# GitHub App authentication

@pytest.fixture
def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


async def test_a_github_app_fetches_with_its_installation_token_and_reuses_it(
        github: FakeGitHub, app_key: tuple[str, str]) -> None:
    github.app_id, github.app_public_key = "1234", app_key[1]
    app = config(github, token=None, app_id="1234", app_private_key=app_key[0],
                 app_installation_id=github.installation_id)
    async with GitHubClient(app) as client:
        await client.fetch("bob", now=NOW)
        await client.fetch("quiet", now=NOW)
    assert github.issued == ["ghs_installation_0"]  # one token for both people


async def test_an_installation_token_is_renewed_before_it_expires(
        github: FakeGitHub, app_key: tuple[str, str]) -> None:
    github.app_id, github.app_public_key = "1234", app_key[1]
    github.installation_token_seconds = 240  # inside the 5-minute margin: renew each time
    app = config(github, token=None, app_id="1234", app_private_key=app_key[0],
                 app_installation_id=github.installation_id)
    async with GitHubClient(app) as client:
        await client.fetch("quiet", now=NOW)
        await client.fetch("quiet", now=NOW)
    assert github.issued == ["ghs_installation_0", "ghs_installation_1"]


async def test_an_app_key_github_does_not_know_is_unavailable(
        github: FakeGitHub, app_key: tuple[str, str]) -> None:
    github.app_id, github.app_public_key = "1234", app_key[1]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    app = config(github, token=None, app_id="1234", app_private_key=other,
                 app_installation_id=github.installation_id)
    with pytest.raises(GitHubUnavailable, match="refused this server's credentials"):
        await fetch(github, token=None, app_id="1234", app_private_key=other,
                    app_installation_id=app.app_installation_id)
