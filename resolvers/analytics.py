"""GitHub analytics and team reports."""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

from datastore import analytics, members
from datastore.errors import NotFound
from datastore.github_settings import GitHubNotConfigured
from datastore.records import GitHubData, TeamReport
from resolvers.context import Context
from resolvers.paging import Slice, Window, load_slice
from resolvers.validation import InputInvalid

if TYPE_CHECKING:
    from datastore.github_refresh import Outcome


async def github_data(ctx: Context, username: str) -> GitHubData | None:
    record: GitHubData | None = await ctx.loaders.github_data_by_username.load(username)
    return record


async def team_github_data(ctx: Context, window: Window) -> Slice[GitHubData]:
    async with ctx.loaders.listing_github_data():
        result = await load_slice(ctx, "teamGitHubData",
                                  analytics.team_github_query(ctx.caller.org_id), window,
                                  GitHubData.from_item)
        ctx.loaders.prime_github_data(result.nodes)
    return result


async def count_github_data(ctx: Context) -> int:
    """Every cached entry of the org, expired ones DynamoDB has not yet removed included."""
    return await ctx.store.count(analytics.team_github_query(ctx.caller.org_id))


async def team_report(ctx: Context, report_date: str | None) -> TeamReport | None:
    if report_date is None:
        return await analytics.latest_team_report(ctx.store, ctx.caller.org_id)
    record: TeamReport | None = await ctx.loaders.team_report_by_date.load(report_date)
    return record


async def record_github_data(ctx: Context, username: str, data: dict[str, Any],
                             data_source: str) -> GitHubData:
    # No index maps a GitHub username to a person; ingestion is rare, one Query is fine
    # (strongly consistent: what it finds is written into the record).
    people = await ctx.store.query_all(dataclasses.replace(
        members.list_query(ctx.caller.org_id), consistent=True))
    owner = next((p["userId"] for p in people if p.get("githubUsername") == username), None)
    return await analytics.record_github_data(
        ctx.store, ctx.acting(), username, data, user_id=owner, data_source=data_source,
        ttl_seconds=ctx.settings.github_data_ttl_seconds)


async def generate_team_report(ctx: Context, report_date: str | None) -> TeamReport:
    day = report_date or datetime.datetime.now(datetime.UTC).date().isoformat()
    return await analytics.generate_team_report(ctx.store, ctx.acting(), day,
                                                ttl_seconds=ctx.settings.report_ttl_seconds)


async def refresh_github_data(ctx: Context, user_id: str | None) -> Outcome:
    """Fetch and store the analytics of ``user_id`` (default the caller) from GitHub."""
    me = ctx.caller.user_id
    member = ctx.member if user_id in (None, me) else await members.get(
        ctx.store, ctx.caller.org_id, user_id or me, consistent=True)
    if member is None:
        raise NotFound(f"no member {user_id!r} in your organization")
    if not member.github_username:
        raise InputInvalid("userId", f"{member.name} has no GitHub username: set it first "
                                     "(updateMyProfile, or updateMember as an admin)")
    source = ctx.settings.github
    if source is None:
        raise GitHubNotConfigured
    refresher = await source.refresher(ctx.store)
    org = ctx.organization
    timezone = str((org.settings if org else {}).get("timezone") or "UTC")
    return await refresher.refresh(member, timezone=timezone, actor=ctx.acting(),
                                   patient=False)
