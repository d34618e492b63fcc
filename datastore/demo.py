"""The design doc's example organization, and synthetic teams of any size for benchmarks.

Loading is idempotent: running it again leaves one organization with the same people, and
refreshes the time-limited items (GitHub data, the team report) so the demo never looks empty.
The demo members' GitHub data is computed from a bundled, GitHub-shaped activity history
(datastore/fixtures/github_demo.json) by the code real accounts go through.
"""

from __future__ import annotations

import datetime
import functools
import json
import time
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

from datastore import analytics, keys, members, organizations
from datastore.actors import acting
from datastore.github_history import moment, read_history, shifted
from datastore.github_metrics import History, compute
from datastore.invitations import hash_token
from datastore.records import (
    DAY_SECONDS,
    GitHubData,
    Invitation,
    InvitationStatus,
    Member,
    MemberStatus,
    Permission,
    Role,
    email_claim_item,
    now_ms,
)
from datastore.store import Put, Set, Store, Update, item_missing

DEMO_ORG = "org-xyz-789"
DEMO_ADMIN = "user-abc-123"

PEOPLE: list[dict[str, Any]] = [
    {"user_id": DEMO_ADMIN, "email": "alice@startup.com", "name": "Alice Developer",
     "role": Role.ADMIN, "github_username": "alice-dev",
     "preferences": {"emailNotifications": True, "weeklyReports": True, "burnoutAlerts": True,
                     "language": "en", "dateFormat": "MM/DD/YYYY"}},
    {"user_id": "user-bob-002", "email": "bob@startup.com", "name": "Bob Senior",
     "role": Role.MEMBER, "github_username": "bob-senior",
     "preferences": {"emailNotifications": True, "weeklyReports": False, "burnoutAlerts": True}},
    {"user_id": "user-charlie-003", "email": "charlie@startup.com", "name": "Charlie Junior",
     "role": Role.MEMBER, "github_username": "charlie-junior",
     "preferences": {"emailNotifications": True, "weeklyReports": True, "burnoutAlerts": True}},
    {"user_id": "user-diana-004", "email": "diana@startup.com", "name": "Diana CTO",
     "role": Role.VIEWER, "github_username": None, "preferences": {}},
]

# The demo's GitHub activity, as GitHub's REST API answers it; scripts/make_github_fixture.py
# writes it. The analytics are computed from it by the code that serves real accounts.
GITHUB_FIXTURE = "fixtures/github_demo.json"
GITHUB_FIXTURE_SOURCE = f"bundled demo fixture (datastore/{GITHUB_FIXTURE})"


@functools.cache
def recorded_histories() -> tuple[datetime.datetime, Mapping[str, History]]:
    """When the bundled fixture was recorded, and the history of each person in it."""
    text = resources.files("datastore").joinpath(GITHUB_FIXTURE).read_text(encoding="utf-8")
    fixture = json.loads(text)
    recorded = moment(fixture.get("recordedAt"), f"{GITHUB_FIXTURE} recordedAt")
    return recorded, MappingProxyType({username: read_history(username, documents)
                                       for username, documents in fixture["users"].items()})


def fixture_github_data(username: str, *, timezone: str, now: datetime.datetime
                        ) -> dict[str, Any]:
    """``username``'s analytics from the bundled fixture, its history moved to end in the
    week before ``now``, with times of day read in the organization's ``timezone``."""
    recorded, histories = recorded_histories()
    if username not in histories:
        raise LookupError(f"{GITHUB_FIXTURE} has no history for {username!r}: add them to "
                          "scripts/make_github_fixture.py and run it")
    # By whole weeks, so every commit keeps its weekday and time of day (what the burnout
    # risk reads); the fixture spans less than the window minus a week, so nothing leaves it
    # and the demo shows the same figures whichever day it is loaded.
    week = datetime.timedelta(weeks=1)
    history = shifted(histories[username], (now - recorded) // week * week)
    return compute(history, timezone=timezone, now=now)


def synthetic_github_data(i: int) -> dict[str, Any]:
    """Deterministic, varied analytics for synthetic member number ``i``."""
    quality = round(5.0 + (i * 37 % 50) / 10, 1)
    risk = round(1.0 + (i * 53 % 85) / 10, 1)
    return {
        "codeQuality": {"overallScore": quality,
                        "rating": "Excellent" if quality >= 8.5 else "Good",
                        "issues": [], "recommendations": ["Keep reviewing PRs"],
                        "strengths": ["Steady commits"]},
        "metrics": {"totalCommits": 100 + i * 7 % 900, "totalRepositories": 1 + i % 9,
                    "totalPullRequests": 10 + i % 60, "totalIssues": i % 30,
                    "averageCommitSize": 5 + i % 20,
                    "languages": {"Python": 50 + i % 30, "TypeScript": 50 - i % 30}},
        "burnoutRisk": {"riskScore": risk,
                        "riskLevel": "HIGH" if risk >= 6 else "MEDIUM" if risk >= 4 else "LOW",
                        "patterns": {"lateNightCommits": i % 20, "weekendWork": i % 15}},
    }


async def load_demo(store: Store) -> str:
    """Load the example organization ``org-xyz-789``; returns its id."""
    org = await organizations.get(store, DEMO_ORG, consistent=True)
    if org is None:
        alice = PEOPLE[0]
        org, _admin = await organizations.create(
            store, DEMO_ORG, "My Startup", DEMO_ADMIN, alice["email"], alice["name"],
            plan="pro", max_members=100, github_username=alice["github_username"])
        await store.update(keys.member(DEMO_ORG, DEMO_ADMIN),
                           [Set("preferences", alice["preferences"])])
        await _add_people(store, DEMO_ORG, [_member(DEMO_ORG, p) for p in PEOPLE[1:]])
    now_s = store.now_seconds()
    timezone = org.settings.get("timezone") or "UTC"
    for person in PEOPLE:
        if person["github_username"]:
            await store.put(_fixture_github_data(person, timezone, now_s).to_item())
    invite_key = keys.invitation(DEMO_ORG, "invite-abc-123")
    if await store.get(invite_key, consistent=True) is None:
        await store.put(Invitation(
            org_id=DEMO_ORG, invite_id="invite-abc-123", email="newuser@startup.com",
            name="New User", role=Role.MEMBER, invited_by=DEMO_ADMIN,
            invited_by_name="Alice Developer", status=InvitationStatus.PENDING,
            # The demo token is never shown: nobody can accept this one, as in any real org.
            token_hash=hash_token("invite-abc-123." + keys.org_pk(DEMO_ORG) + str(now_s)),
            created_at=now_ms(), expires_at=now_s + DAY_SECONDS,
        ).to_item())
    await _refresh_report(store, DEMO_ORG)
    return DEMO_ORG


async def load_team(store: Store, org_id: str, size: int) -> str:
    """A synthetic organization of ``size`` people (one admin), each with GitHub data."""
    if await organizations.get(store, org_id, consistent=True) is None:
        await organizations.create(store, org_id, f"Team of {size}", f"{org_id}-u0000",
                                   f"u0000@{org_id}.example", "Member 0", plan="enterprise",
                                   max_members=max(size, 5), github_username=f"{org_id}-gh0000")
        people = [_member(org_id, {
            "user_id": f"{org_id}-u{i:04d}", "email": f"u{i:04d}@{org_id}.example",
            "name": f"Member {i}", "role": Role.VIEWER if i % 10 == 9 else Role.MEMBER,
            "github_username": f"{org_id}-gh{i:04d}", "preferences": {},
            "invited_by": f"{org_id}-u0000"}) for i in range(1, size)]
        await _add_people(store, org_id, people)
    now_s = store.now_seconds()
    for start in range(0, size, 100):
        items = [GitHubData(org_id=org_id, github_username=f"{org_id}-gh{i:04d}",
                            user_id=f"{org_id}-u{i:04d}", data=synthetic_github_data(i),
                            cached_at=now_ms(), expires_at=now_s + DAY_SECONDS,
                            data_source="synthetic").to_item()
                 for i in range(start, min(size, start + 100))]
        await store.transact([Put(i) for i in items])
    await _refresh_report(store, org_id)
    return org_id


def _fixture_github_data(person: dict[str, Any], timezone: str, now_s: int) -> GitHubData:
    started = time.perf_counter()
    data = fixture_github_data(person["github_username"], timezone=timezone,
                               now=datetime.datetime.fromtimestamp(now_s, datetime.UTC))
    took = round((time.perf_counter() - started) * 1000)
    return GitHubData(org_id=DEMO_ORG, github_username=person["github_username"],
                      user_id=person["user_id"], data=data, cached_at=now_ms(),
                      expires_at=now_s + DAY_SECONDS, data_source=GITHUB_FIXTURE_SOURCE,
                      generation_time=f"{took}ms", api_calls_made=0)


def _member(org_id: str, p: dict[str, Any]) -> Member:
    joined = now_ms()
    return Member(org_id=org_id, user_id=p["user_id"], email=p["email"], name=p["name"],
                  role=p["role"], status=MemberStatus.ACTIVE,
                  github_username=p["github_username"], preferences=p["preferences"],
                  invited_by=p.get("invited_by", DEMO_ADMIN), joined_at=joined,
                  last_login_at=joined, created_at=joined, updated_at=joined)


async def _add_people(store: Store, org_id: str, people: list[Member]) -> None:
    # 49 people (two items each) and the counter update fit one 100-action transaction.
    for start in range(0, len(people), 49):
        chunk = people[start:start + 49]
        deltas: Counter[str] = Counter()
        for m in chunk:
            deltas.update(members.tally(None, members.slot(m)))
        actions: list[Any] = [Update(keys.organization(org_id),
                                     members.count_changes(deltas))]
        for m in chunk:
            actions.append(Put(m.to_item(), item_missing()))
            actions.append(Put(email_claim_item(org_id, m.email, m.user_id), item_missing()))
        await store.transact(actions)


async def _refresh_report(store: Store, org_id: str) -> None:
    org = await organizations.get(store, org_id, consistent=True)
    assert org is not None
    admin = await members.get(store, org_id, org.owner_id, consistent=True)
    assert admin is not None
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    await analytics.generate_team_report(store, acting(admin, Permission.GENERATE_REPORTS), today)

