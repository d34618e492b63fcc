"""Invitations: a one-time token, stored only as its SHA-256 hash, valid for 24 hours.

The design doc stores the token in plain text; anyone who can read the table (a backup, an
export, a stream consumer) could then join any organization. The token carries the
invitation id (``{inviteId}.{secret}``) so acceptance is one key lookup, and 256 bits of
randomness, so an unsalted hash is safe and lookup stays deterministic.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from datastore import activity, keys, members
from datastore.actors import Actor
from datastore.errors import (
    DomainError,
    EmailTaken,
    InvitationUnavailable,
    NotFound,
    TransactionCanceled,
)
from datastore.records import (
    DAY_SECONDS,
    Invitation,
    InvitationStatus,
    Member,
    MemberStatus,
    Role,
    now_ms,
)
from datastore.store import (
    Check,
    Page,
    Put,
    Query,
    Set,
    Store,
    Update,
    attr_eq,
    attr_gt,
    item_missing,
)

INVALID = "this invitation token is not valid for this organization"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invite_id(token: str) -> str | None:
    invite_id, dot, secret = token.partition(".")
    if not dot or not secret or not invite_id or "#" in invite_id or len(token) > 200:
        return None
    return invite_id


async def create(store: Store, actor: Actor, email: str, role: Role, *,
                 name: str | None = None, github_username: str | None = None,
                 ttl_seconds: int = DAY_SECONDS) -> tuple[Invitation, str]:
    """Create a pending invitation; returns it and its token, which is never stored."""
    org_id, inviter = actor.org_id, actor.member
    invite_id = "invite-" + uuid.uuid4().hex[:16]
    token = f"{invite_id}.{secrets.token_urlsafe(32)}"
    invitation = Invitation(
        org_id=org_id, invite_id=invite_id, email=keys.normalize_email(email), name=name,
        role=role, invited_by=inviter.user_id, invited_by_name=inviter.name,
        status=InvitationStatus.PENDING, token_hash=hash_token(token), created_at=now_ms(),
        expires_at=store.now_seconds() + ttl_seconds, github_username=github_username,
    )
    e = activity.event(store, org_id, inviter.user_id, "invitation.created", invite_id,
                       role=role.value)
    try:
        await actor.transact(store, [
            Check(keys.member_email(org_id, email), item_missing()),
            Put(invitation.to_item(), item_missing()),
            activity.put_event(e),
        ])
    except TransactionCanceled as exc:
        if exc.failed(0):
            raise EmailTaken("someone in the organization already uses this email") from None
        raise  # a fresh random id already taken: a bug worth seeing, not a user error
    return invitation, token


async def get(store: Store, org_id: str, invite_id: str) -> Invitation | None:
    item = await store.get(keys.invitation(org_id, invite_id))
    return Invitation.from_item(item) if item else None


async def accept(store: Store, org_id: str, token: str, user_id: str, email: str,
                 name: str) -> Member:
    """Join the organization: person added, invitation consumed, count incremented, at once."""
    invite_id = _invite_id(token)
    if invite_id is None:
        raise InvitationUnavailable(INVALID, "invalid")
    item = await store.get(keys.invitation(org_id, invite_id), consistent=True,
                           include_expired=True)
    token_hash = hash_token(token)
    if item is None or not hmac.compare_digest(item.get("tokenHash", ""), token_hash):
        raise InvitationUnavailable(INVALID, "invalid")
    invitation = Invitation.from_item(item)
    _check_usable(invitation, store.now_seconds())
    if keys.normalize_email(email) != invitation.email:
        raise InvitationUnavailable("this invitation was sent to another email address; "
                                    "sign in with that address to accept it", "wrong_email")
    now = now_ms()
    member = Member(org_id=org_id, user_id=user_id, email=invitation.email, name=name,
                    role=invitation.role, status=MemberStatus.ACTIVE,
                    github_username=invitation.github_username,
                    invited_by=invitation.invited_by, joined_at=now, created_at=now,
                    updated_at=now)
    consume = Update(
        keys.invitation(org_id, invite_id),
        (Set("status", InvitationStatus.ACCEPTED.value), Set("acceptedAt", now),
         Set("acceptedBy", user_id)),
        attr_eq("status", InvitationStatus.PENDING.value) & attr_eq("tokenHash", token_hash)
        & attr_gt("expiresAt", store.now_seconds()),
    )

    def consumed_meanwhile(_offset: int) -> DomainError:
        return InvitationUnavailable("this invitation has already been used", "used")

    e = activity.event(store, org_id, user_id, "invitation.accepted", invite_id,
                       role=invitation.role.value)
    return await members.add(store, member, e, [consume], consumed_meanwhile)


def _check_usable(invitation: Invitation, now_s: int) -> None:
    if invitation.status is InvitationStatus.ACCEPTED:
        raise InvitationUnavailable("this invitation has already been used", "used")
    if invitation.status is InvitationStatus.REVOKED:
        raise InvitationUnavailable("this invitation was revoked; ask for a new one", "revoked")
    if invitation.expires_at <= now_s:
        raise InvitationUnavailable("this invitation has expired; ask for a new one",
                                    "expired")


async def revoke(store: Store, actor: Actor, invite_id: str) -> Invitation:
    org_id = actor.org_id
    e = activity.event(store, org_id, actor.user_id, "invitation.revoked", invite_id)
    key = keys.invitation(org_id, invite_id)
    try:
        await actor.transact(store, [
            Update(key, (Set("status", InvitationStatus.REVOKED.value),),
                   attr_eq("status", InvitationStatus.PENDING.value)
                   & attr_gt("expiresAt", store.now_seconds())),
            activity.put_event(e),
        ])
    except TransactionCanceled:
        item = await store.get(key, consistent=True, include_expired=True)
        if item is None:
            raise NotFound("invitation not found") from None
        _check_usable(Invitation.from_item(item), store.now_seconds())
        raise  # the condition failed, yet the invitation reads usable: a bug worth seeing
    item = await store.get(key, consistent=True)
    if item is None:
        raise NotFound("invitation not found")
    return Invitation.from_item(item)


def list_query(org_id: str, *, status: InvitationStatus | None = None,
               limit: int | None = None, cursor: str | None = None) -> Query:
    where: dict[str, Any] | None = {"status": status.value} if status else None
    return Query(partition=keys.org_pk(org_id), prefix=keys.INVITE, limit=limit,
                 cursor=cursor, where=where)


async def list_page(store: Store, org_id: str, **kwargs: Any
                    ) -> tuple[list[Invitation], Page]:
    page = await store.query(list_query(org_id, **kwargs))
    return [Invitation.from_item(i) for i in page.items], page

