"""The design doc's example organization, and synthetic teams of any size for benchmarks.

Loading is idempotent: running it again leaves one organization with the same people, and
refreshes the time-limited items (GitHub data, the team report) so the demo never looks empty.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from datastore import analytics, keys, members, organizations
from datastore.actors import acting
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

BOB_GITHUB_DATA: dict[str, Any] = {
    "codeQuality": {
        "overallScore": 8.5, "rating": "Excellent",
        "analysis": "Consistently high-quality code with excellent practices.",
        "issues": ["Occasional large commits (>50 files) - 8% of total"],
        "recommendations": ["Continue current practices", "Consider mentoring junior developers",
                            "Document complex architectural decisions"],
        "strengths": ["Consistent commit frequency (daily)",
                      "High code review participation (reviews 80% of team PRs)",
                      "Fast issue resolution (avg 2.3 days)", "Clean commit messages"],
    },
    "metrics": {
        "totalCommits": 1234, "totalRepositories": 5, "totalPullRequests": 67,
        "totalIssues": 23, "averageCommitSize": 12, "largeCommitPercentage": 8,
        "averagePRMergeTime": 2.1, "issueResolutionRate": 92,
        "languages": {"JavaScript": 45, "TypeScript": 30, "Python": 15, "Go": 10},
        "activityPeriod": {"start": "2024-01-15", "end": "2025-01-24"},
        "commitFrequency": {"daily": 6.2, "weekly": 43.4, "monthly": 187},
    },
    "burnoutRisk": {
        "riskScore": 4.2, "riskLevel": "LOW", "confidence": 82,
        "patterns": {"lateNightCommits": 15, "weekendWork": 10, "consecutiveWorkDays": 7,
                     "averageWorkHours": 8},
        "healthStatus": "HEALTHY",
    },
}


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
    if await organizations.get(store, DEMO_ORG, consistent=True) is None:
        alice = PEOPLE[0]
        await organizations.create(store, DEMO_ORG, "My Startup", DEMO_ADMIN, alice["email"],
                                   alice["name"], plan="pro", max_members=100,
                                   github_username=alice["github_username"])
        await store.update(keys.member(DEMO_ORG, DEMO_ADMIN),
                           [Set("preferences", alice["preferences"])])
        await _add_people(store, DEMO_ORG, [_member(DEMO_ORG, p) for p in PEOPLE[1:]])
    now_s = store.now_seconds()
    await store.put(GitHubData(
        org_id=DEMO_ORG, github_username="bob-senior", user_id="user-bob-002",
        data=BOB_GITHUB_DATA, cached_at=now_ms(), expires_at=now_s + DAY_SECONDS,
        data_source="REAL GitHub API", generation_time="850ms", api_calls_made=15,
    ).to_item())
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

