"""Mutations on the organization and its people: each raises a DomainError or InputInvalid
for expected failures, which the schema turns into typed results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datastore import invitations, members, organizations
from datastore.errors import AlreadyExists, InvitationUnavailable
from datastore.records import Invitation, InvitationStatus, Member, Organization, Role
from resolvers import validation
from resolvers.context import Context
from resolvers.paging import Slice, load_slice


async def create_organization(ctx: Context, name: str, plan: str,
                              github_username: str | None) -> tuple[Organization, Member]:
    caller = ctx.caller
    if ctx.member is not None or ctx.organization is not None:
        raise AlreadyExists("the organization in your token already exists")
    if not caller.email:
        raise validation.InputInvalid("token", "your token has no email claim; an "
                                               "organization's admin needs an email")
    if plan not in organizations.DEFAULT_MAX_MEMBERS:
        raise validation.InputInvalid("plan", "must be one of: "
                                      + ", ".join(organizations.DEFAULT_MAX_MEMBERS))
    return await organizations.create(
        ctx.store, caller.org_id, validation.name(name), caller.user_id,
        validation.email(caller.email, "token"), caller.name or caller.email, plan=plan,
        github_username=validation.github_username(github_username) if github_username
        else None)


async def update_settings(ctx: Context, expected_version: int, changes: Mapping[str, Any],
                          name: str | None) -> Organization:
    if "timezone" in changes:
        validation.timezone(changes["timezone"])
    if "privacyMode" in changes:
        validation.text(changes["privacyMode"], "privacyMode", 50)
    return await organizations.update_settings(
        ctx.store, ctx.acting(), expected_version, changes,
        name=validation.name(name) if name is not None else None)


async def invite(ctx: Context, email: str, role: Role, name: str | None,
                 github_username: str | None) -> tuple[Invitation, str]:
    return await invitations.create(
        ctx.store, ctx.acting(), validation.email(email), role,
        name=validation.name(name) if name else None,
        github_username=validation.github_username(github_username) if github_username
        else None, ttl_seconds=ctx.settings.invitation_ttl_seconds)


async def accept_invitation(ctx: Context, token: str) -> Member:
    caller = ctx.caller
    if ctx.member is not None:
        raise AlreadyExists("you are already a member of this organization")
    if not caller.email:
        raise InvitationUnavailable("your token has no email claim to match the invitation",
                                    "wrong_email")
    member = await invitations.accept(ctx.store, caller.org_id, token, caller.user_id,
                                      caller.email, caller.name or caller.email)
    ctx.loaders.prime_members([member])
    return member


async def revoke_invitation(ctx: Context, invite_id: str) -> Invitation:
    return await invitations.revoke(ctx.store, ctx.acting(), invite_id)


async def invitation_slice(ctx: Context, status: InvitationStatus | None, first: int | None,
                           after: str | None) -> Slice[Invitation]:
    q = invitations.list_query(ctx.caller.org_id, status=status)
    return await load_slice(ctx, "invitations", q, first, after, Invitation.from_item)


async def change_role(ctx: Context, user_id: str, role: Role,
                      expected_version: int | None) -> Member:
    updated = await members.change_role(ctx.store, ctx.acting(), user_id, role,
                                        expected_version)
    ctx.loaders.forget_member(user_id)
    return updated


async def remove(ctx: Context, user_id: str) -> Member:
    removed = await members.remove(ctx.store, ctx.acting(), user_id)
    ctx.loaders.forget_member(user_id)
    return removed


async def update_my_preferences(ctx: Context, changes: Mapping[str, Any],
                                expected_version: int | None) -> Member:
    actor = ctx.acting()
    me = actor.member
    if not changes:
        raise validation.InputInvalid("input", "set at least one preference")
    for key, value in changes.items():
        if isinstance(value, str):
            validation.text(value, key, 50)
    updated = await members.update_fields(
        ctx.store, actor, me.user_id,
        {f"preferences.{k}": v for k, v in changes.items()},
        expected_version if expected_version is not None else me.version,
        action="member.preferences_updated", current=me)
    ctx.loaders.forget_member(me.user_id)
    ctx.loaders.prime_members([updated])
    return updated


