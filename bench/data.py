"""Demo organizations in our store, and the snapshot of them the peer serves from memory."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.operations import org_id
from datastore import analytics, demo, members, organizations
from datastore.records import GitHubData, Member
from datastore.store import Store

MAX_PAGES = 1000  # bounds the member listing loop; 100 per page covers 100,000 people


async def load_orgs(store: Store, sizes: Iterable[int]) -> None:
    for size in sizes:
        await demo.load_team(store, org_id(size), size)


def _member(m: Member) -> dict[str, Any]:
    return {"id": m.user_id, "email": m.email, "name": m.name, "role": m.role.value,
            "status": m.status.value, "githubUsername": m.github_username,
            "permissions": list(m.permissions), "preferences": m.preferences,
            "joinedAt": m.joined_at, "lastLoginAt": m.last_login_at, "version": m.version,
            "invitedBy": m.invited_by}


def _github(g: GitHubData) -> dict[str, Any]:
    return {"githubUsername": g.github_username, "userId": g.user_id, "data": g.data,
            "cachedAt": g.cached_at, "expiresAt": g.expires_at, "dataSource": g.data_source}


async def snapshot(store: Store, sizes: Iterable[int]) -> dict[str, Any]:
    """Everything the peer needs, read through the datastore, as plain JSON."""
    orgs: dict[str, Any] = {}
    for size in sizes:
        org = org_id(size)
        record = await organizations.get(store, org)
        assert record is not None, f"{org} is not loaded"
        people: list[Member] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page_members, page = await members.list_page(store, org, limit=100, cursor=cursor)
            people.extend(page_members)
            cursor = page.cursor
            if cursor is None:
                break
        github = [GitHubData.from_item(i)
                  for i in await store.query_all(analytics.team_github_query(org))]
        report = await analytics.latest_team_report(store, org)
        orgs[org] = {
            "organization": {"id": org, "name": record.name, "plan": record.plan,
                             "maxMembers": record.max_members,
                             "currentMembers": record.current_members,
                             "ownerId": record.owner_id, "createdAt": record.created_at,
                             "updatedAt": record.updated_at, "version": record.version},
            "members": [_member(m) for m in people],
            "githubData": [_github(g) for g in github],
            "teamReport": None if report is None else {
                "reportDate": report.report_date, "reportType": report.report_type,
                "data": report.data, "generatedBy": report.generated_by,
                "generatedByName": report.generated_by_name,
                "generatedAt": report.generated_at, "expiresAt": report.expires_at},
        }
    return {"orgs": orgs}


def write_snapshot(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
