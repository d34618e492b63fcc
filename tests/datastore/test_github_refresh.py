"""Refreshing the analytics cache from the fake GitHub, on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest

from datastore import activity, keys, members, organizations
from datastore.github_api import GitHubClient
from datastore.github_refresh import DATA_SOURCE, Refresher, refresh_stale, stale_members
from datastore.github_settings import GitHubConfig, GitHubUserNotFound
from datastore.records import GitHubData, Member, MemberStatus, Role
from datastore.store import Store
from tests.datastore.conftest import ORG, OWNER, open_org
from tests.fake_github import TOKEN, FakeGitHub, Fault, days_ago, fake_github, person

TTL = 3600


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    # Commits at 23:00 UTC: late at night in UTC, the afternoon in Los Angeles.
    night = person("owl", commits=40, start=days_ago(60, "23:00"), step_hours=24)
    with fake_github({"owl": night, "bee": person("bee", commits=20),
                      "ant": person("ant", commits=5)}) as fake:
        yield fake


@pytest.fixture
async def refresher(store: Store, github: FakeGitHub) -> AsyncIterator[Refresher]:
    async with GitHubClient(GitHubConfig(api_url=github.url, token=TOKEN)) as client:
        yield Refresher(store, client, ttl_seconds=TTL)


async def add(store: Store, user_id: str, username: str | None,
              status: MemberStatus = MemberStatus.ACTIVE) -> Member:
    person = Member(org_id=ORG, user_id=user_id, email=f"{user_id}@acme.example",
                    name=user_id.title(), role=Role.MEMBER, status=status, joined_at=1,
                    github_username=username)
    return await members.add(store, person, activity.event(store, ORG, OWNER, "member.added",
                                                           user_id))


async def stored(store: Store, username: str) -> GitHubData | None:
    item = await store.get(keys.github_data(ORG, username), consistent=True)
    return GitHubData.from_item(item) if item else None


async def test_a_refresh_stores_the_design_s_cache_item(store: Store,
                                                        refresher: Refresher) -> None:
    await open_org(store)
    bee = await add(store, "user-bee", "bee")
    outcome = await refresher.refresh(bee, timezone="UTC")
    record = await stored(store, "bee")
    assert record is not None
    assert outcome.changed
    assert record.data_source == DATA_SOURCE == "REAL GitHub API"
    assert record.user_id == "user-bee"
    assert record.api_calls_made == outcome.api_calls == 5 + 20 + 1
    assert record.expires_at - store.now_seconds() == pytest.approx(TTL, abs=5)
    assert record.generation_time is not None
    assert record.generation_time.endswith("ms")
    assert record.data["metrics"]["totalCommits"] == 20


async def test_night_is_read_in_the_organization_s_time_zone(store: Store,
                                                              refresher: Refresher) -> None:
    await open_org(store)
    owl = await add(store, "user-owl", "owl")
    in_utc = (await refresher.refresh(owl, timezone="UTC")).data.data
    in_la = (await refresher.refresh(owl, timezone="America/Los_Angeles")).data.data
    assert in_utc["burnoutRisk"]["patterns"]["lateNightCommits"] == 100
    assert in_la["burnoutRisk"]["patterns"]["lateNightCommits"] == 0


async def test_concurrent_refreshes_of_one_person_share_one_fetch(
        store: Store, refresher: Refresher, github: FakeGitHub) -> None:
    await open_org(store)
    bee = await add(store, "user-bee", "bee")
    github.faults.append(Fault("^/users/bee$", status=200, delay=0.3))
    outcomes = await asyncio.gather(*(refresher.refresh(bee, timezone="UTC")
                                      for _ in range(5)))
    assert len(github.requests_to("^/users/bee$")) == 1
    assert len({o.data.cached_at for o in outcomes}) == 1


async def test_a_refresh_never_overwrites_a_newer_result(store: Store,
                                                          refresher: Refresher) -> None:
    await open_org(store)
    bee = await add(store, "user-bee", "bee")
    # Another process's refresh that started later and finished first.
    future_ms = int((dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).timestamp() * 1000)
    newer = GitHubData(org_id=ORG, github_username="bee", user_id="user-bee",
                       data={"metrics": {"totalCommits": 999}}, cached_at=future_ms,
                       expires_at=store.now_seconds() + TTL, data_source=DATA_SOURCE)
    await store.put(newer.to_item())
    outcome = await refresher.refresh(bee, timezone="UTC")
    assert not outcome.changed
    assert outcome.data.cached_at == future_ms
    record = await stored(store, "bee")
    assert record is not None
    assert record.data == {"metrics": {"totalCommits": 999}}


async def test_an_unknown_user_changes_nothing(store: Store, refresher: Refresher) -> None:
    await open_org(store)
    ghost = await add(store, "user-ghost", "ghost")
    with pytest.raises(GitHubUserNotFound):
        await refresher.refresh(ghost, timezone="UTC")
    assert await stored(store, "ghost") is None


async def test_stale_members_are_those_missing_or_expiring_soon(
        store: Store, refresher: Refresher) -> None:
    await open_org(store)
    bee, ant = await add(store, "user-bee", "bee"), await add(store, "user-ant", "ant")
    await add(store, "user-none", None)
    await add(store, "user-gone", "owl", MemberStatus.SUSPENDED)
    await refresher.refresh(bee, timezone="UTC")  # expires in an hour
    assert {m.user_id for m in await stale_members(store, ORG, 600)} == {ant.user_id}
    assert {m.user_id for m in await stale_members(store, ORG, 2 * TTL)} \
        == {ant.user_id, bee.user_id}


async def test_refresh_stale_counts_what_it_did(store: Store, refresher: Refresher,
                                                github: FakeGitHub) -> None:
    await open_org(store)
    bee = await add(store, "user-bee", "bee")
    await add(store, "user-ant", "ant")
    await add(store, "user-ghost", "ghost")
    await refresher.refresh(bee, timezone="UTC")
    summary = await refresh_stale(refresher, [ORG], within_seconds=2 * TTL)
    assert (summary.refreshed, summary.unchanged, summary.failed) == (1, 1, 1)
    assert summary.failures == [f"{ORG}/ghost: GitHub has no user 'ghost': check the "
                                "member's GitHub username"]
    assert summary.api_calls == (5 + 20 + 1) + (5 + 5 + 1) + 1
    assert "1 refreshed, 1 unchanged, 1 failed" in summary.line()


async def test_a_spent_rate_limit_stops_the_run(store: Store, refresher: Refresher,
                                                github: FakeGitHub) -> None:
    await open_org(store)
    for name in ("bee", "ant", "owl"):
        await add(store, f"user-{name}", name)
    github.remaining["search"] = 0
    summary = await refresh_stale(refresher, [ORG, "org-unknown"], within_seconds=60)
    assert summary.failed == 3
    assert summary.refreshed == 0
    assert summary.rate_limited_until == dt.datetime.fromtimestamp(github.reset_at, dt.UTC)
    assert "rate limit stopped the run" in summary.line()
    # The searches of one person at most: after the first 403 none is sent.
    assert len(github.requests_to("^/search/")) <= 2


async def test_every_organization_is_listed(store: Store) -> None:
    await open_org(store)
    await open_org(store, "org-beta")
    await organizations.get(store, ORG)
    assert await store.organization_ids() == sorted([ORG, "org-beta"])


async def test_a_refresh_of_someone_removed_meanwhile_stores_nothing(
        store: Store, refresher: Refresher) -> None:
    await open_org(store)
    bee = await add(store, "user-bee", "bee")
    await store.delete(keys.member(ORG, "user-bee"))  # removed (or the org deleted) mid-fetch

    outcome = await refresher.refresh(bee, timezone="UTC")

    assert not outcome.changed
    assert await stored(store, "bee") is None
