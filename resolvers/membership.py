"""Mutations on the organization and its people: each raises a DomainError or InputInvalid
for expected failures, which the schema turns into typed results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datastore import invitations, keys, members, org_moves, organizations
from datastore.errors import (
    AlreadyExists,
    InvitationUnavailable,
    NotFound,
    TransactionCanceled,
    VersionConflict,
)
from datastore.records import (
    Invitation,
    InvitationStatus,
    Member,
    MemberStatus,
    Organization,
    Role,
    now_ms,
)
from datastore.store import Cond, Delete, Set, Update, attr_eq, attr_lt, item_exists
from resolvers import validation
from resolvers.context import Context
from resolvers.paging import Slice, Window, load_slice

DELETE_CLAIM_MS = 10 * 60 * 1000  # after this, another admin may finish a deletion


async def create_organization(ctx: Context, name: str, github_username: str | None
                              ) -> tuple[Organization, Member]:
    """On the server's default plan: a caller never picks their own plan."""
    caller = ctx.caller
    if ctx.member is not None or ctx.organization is not None:
        raise AlreadyExists("the organization in your token already exists")
    if not caller.email:
        raise validation.InputInvalid("token", "your token has no email claim; an "
                                               "organization's admin needs an email")
    return await organizations.create(
        ctx.store, caller.org_id, validation.name(name), caller.user_id,
        validation.email(caller.email, "token"), caller.name or caller.email,
        plan=ctx.settings.default_plan,
        github_username=validation.github_username(github_username) if github_username
        else None)


async def update_settings(ctx: Context, expected_version: int | None, changes: Mapping[str, Any],
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


async def invitation_slice(ctx: Context, status: InvitationStatus | None, window: Window
                           ) -> Slice[Invitation]:
    q = invitations.list_query(ctx.caller.org_id, status=status)
    return await load_slice(ctx, "invitations", q, window, Invitation.from_item)


async def invitation(ctx: Context, invite_id: str) -> Invitation | None:
    return await invitations.get(ctx.store, ctx.caller.org_id, invite_id)


async def change_role(ctx: Context, user_id: str, role: Role,
                      expected_version: int | None) -> Member:
    updated = await members.change_role(ctx.store, ctx.acting(), user_id, role,
                                        expected_version)
    ctx.loaders.forget_member(user_id)
    return updated


async def remove(ctx: Context, user_id: str, expected_version: int | None = None) -> Member:
    removed = await members.remove(ctx.store, ctx.acting(), user_id, expected_version)
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




async def suspend(ctx: Context, user_id: str, expected_version: int | None) -> Member:
    suspended = await members.suspend(ctx.store, ctx.acting(), user_id, expected_version)
    ctx.loaders.forget_member(user_id)
    ctx.loaders.prime_members([suspended])
    return suspended


async def reactivate(ctx: Context, user_id: str, expected_version: int | None) -> Member:
    active = await members.reactivate(ctx.store, ctx.acting(), user_id, expected_version)
    ctx.loaders.forget_member(user_id)
    ctx.loaders.prime_members([active])
    return active


def _profile(name: str | None, github_username: str | None) -> tuple[str | None, str | None]:
    if name is None and github_username is None:
        raise validation.InputInvalid("input", "set name or githubUsername")
    return (validation.name(name) if name is not None else None,
            validation.github_username(github_username) if github_username is not None
            else None)


async def update_member(ctx: Context, user_id: str, name: str | None,
                        github_username: str | None, expected_version: int | None) -> Member:
    """An admin changes anyone's profile (the field's permission decides who may)."""
    clean_name, clean_github = _profile(name, github_username)
    updated = await members.update_profile(ctx.store, ctx.acting(), user_id, name=clean_name,
                                           github_username=clean_github,
                                           expected_version=expected_version)
    ctx.loaders.forget_member(user_id)
    ctx.loaders.prime_members([updated])
    return updated


async def update_my_profile(ctx: Context, name: str | None, github_username: str | None,
                            expected_version: int | None) -> Member:
    actor = ctx.acting()
    return await update_member(ctx, actor.user_id, name, github_username, expected_version)


async def transfer_ownership(ctx: Context, new_owner_id: str, expected_version: int | None
                             ) -> tuple[Organization, Member]:
    org, owner = await organizations.transfer_ownership(ctx.store, ctx.acting(), new_owner_id,
                                                        expected_version)
    ctx.organization = org
    ctx.loaders.forget_member(new_owner_id)
    ctx.loaders.prime_members([owner])
    return org, owner


async def resend_invitation(ctx: Context, invite_id: str) -> tuple[Invitation, str]:
    return await invitations.resend(ctx.store, ctx.acting(), invite_id,
                                    ctx.settings.invitation_ttl_seconds)


async def preview_invitation(ctx: Context, token: str) -> invitations.InvitationPreview:
    """For the invitee, before accepting: the token's organization is the caller's."""
    return await invitations.preview(ctx.store, ctx.caller.org_id,
                                     validation.text(token, "token", 200))


async def my_organizations(ctx: Context) -> list[members.Membership]:
    return await members.organizations_of(ctx.store, ctx.caller.user_id)


async def member_count(ctx: Context, role: Role | None, status: MemberStatus | None) -> int:
    """totalCount of the members connection: the organization's counters, or, for an
    organization made before they existed, a COUNT of the filtered listing."""
    org = ctx.organization
    if org is None:
        return 0
    known = members.count(org, role, status)
    if known is not None:
        return known
    return await ctx.store.count(members.list_query(
        ctx.caller.org_id, role=role, status=status.value if status else None))


async def invitation_count(ctx: Context, status: InvitationStatus | None) -> int:
    """totalCount of the invitations connection (one COUNT of the filtered prefix)."""
    return await ctx.store.count(invitations.list_query(ctx.caller.org_id, status=status))


async def delete_organization(ctx: Context, confirm_name: str) -> int:
    """Delete the caller's organization and everything in it, if ``confirm_name`` is its
    name exactly; returns how many items went.

    The deletion is claimed first, in one transaction with the check that the caller is
    still an admin: the organization item records who deletes it, and another admin's
    deletion is refused meanwhile (two at once would each remove the other's membership
    and neither could finish). From then on it goes through whatever happens to the
    caller's membership, which goes last with the organization item, so an interrupted
    deletion can be run again by the same admin (or by any admin once the claim is
    DELETE_CLAIM_MS old, or by the operator's `devinsights org delete`).
    """
    actor = ctx.acting()
    org = await organizations.get(ctx.store, actor.org_id, consistent=True)
    if org is None:
        raise NotFound("organization not found")
    if confirm_name != org.name:
        raise validation.InputInvalid("confirmName", "type the organization's name exactly "
                                                     "as it is to confirm the deletion")
    me = actor.member
    now = now_ms()
    org_key = keys.organization(org.org_id)
    free = (Cond("missing", "deletingBy") | attr_eq("deletingBy", me.user_id)
            | attr_lt("deletingAt", now - DELETE_CLAIM_MS))
    try:
        await actor.transact(ctx.store, [Update(
            org_key, (Set("deletingBy", me.user_id), Set("deletingAt", now)),
            item_exists() & attr_eq("name", confirm_name) & free)])
    except TransactionCanceled:
        raise VersionConflict("the organization is being deleted by another admin, or was "
                              "renamed meanwhile; nothing was deleted") from None
    deleted = await org_moves.delete(ctx.store, org.org_id, last=[
        Delete(keys.member(org.org_id, me.user_id)),
        Delete(keys.member_email(org.org_id, me.email))])
    ctx.organization = None
    return deleted.deleted
