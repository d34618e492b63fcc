"""Invitations: a one-time token, stored only as its SHA-256 hash, valid for 24 hours.

The design doc stores the token in plain text; anyone who can read the table (a backup, an
export, a stream consumer) could then join any organization. The token carries the
invitation id (``{inviteId}.{secret}``) so acceptance is one key lookup, and 256 bits of
randomness, so an unsalted hash is safe and lookup stays deterministic.

An email has at most one live pending invitation per organization. A claim item
(``INVITE_EMAIL#{email}``, records.invitation_claim_item) names it; it expires with the
invitation and is deleted when the invitation is accepted or revoked, so a live claim always
names a pending, unexpired invitation. Inviting an email again refreshes that invitation
(same id, new token and expiry, the new request's role, name and GitHub username); a new
invitation takes the claim only where none is live, under a condition, so two concurrent
invitations of one email end as one. Invitations made before the claim existed have none:
they are not refreshed and simply expire.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from datastore import activity, keys, members
from datastore.actors import Actor
from datastore.errors import (
    DomainError,
    EmailTaken,
    InvitationUnavailable,
    NotFound,
    StoreThrottled,
    TransactionCanceled,
)
from datastore.records import (
    DAY_SECONDS,
    Invitation,
    InvitationStatus,
    Member,
    MemberStatus,
    Role,
    invitation_claim_item,
    now_ms,
)
from datastore.store import (
    Action,
    Check,
    Cond,
    Delete,
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
# A create or resend that lost a race to a concurrent one reads again and retries this often.
ATTEMPTS = 4


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invite_id(token: str) -> str | None:
    invite_id, dot, secret = token.partition(".")
    if not dot or not secret or not invite_id or "#" in invite_id or len(token) > 200:
        return None
    return invite_id


def _new_token(invite_id: str) -> str:
    return f"{invite_id}.{secrets.token_urlsafe(32)}"


def _claim_free(now_s: int) -> Cond:
    """No live claim: none at all, or one that expired with its invitation."""
    return item_missing() | Cond("le", "expiresAt", now_s)


def _pending_as_read(invitation: Invitation) -> Cond:
    """Still pending with the token read: no accept, revoke, resend or refresh meanwhile."""
    return (attr_eq("status", InvitationStatus.PENDING.value)
            & attr_eq("tokenHash", invitation.token_hash))


async def _claimed(store: Store, org_id: str, email: str) -> tuple[Invitation | None, Cond]:
    """The pending, unexpired invitation the email's live claim names, if any, and the
    condition under which a new invitation may take the claim.

    A live claim naming an invitation that is gone or no longer pending (both final) is
    stale and may be taken over too; only one taker can, since the condition names it.
    """
    now_s = store.now_seconds()
    claim = await store.get(keys.invitation_email(org_id, email), consistent=True)
    if claim is None:
        return None, _claim_free(now_s)
    item = await store.get(keys.invitation(org_id, claim["inviteId"]), consistent=True)
    invitation = Invitation.from_item(item) if item is not None else None
    if invitation is not None and invitation.status is InvitationStatus.PENDING:
        return invitation, _claim_free(now_s)
    return None, _claim_free(now_s) | attr_eq("inviteId", claim["inviteId"])


async def create(store: Store, actor: Actor, email: str, role: Role, *,
                 name: str | None = None, github_username: str | None = None,
                 ttl_seconds: int = DAY_SECONDS) -> tuple[Invitation, str]:
    """Invite ``email``; returns the invitation and its token, which is never stored.

    If the email already has a live pending invitation, that one is refreshed instead: same
    id, a new token (the old one stops working) and expiry, and this request's role, name,
    GitHub username and inviter; the event is ``invitation.refreshed``.
    """
    org_id, inviter = actor.org_id, actor.member
    email = keys.normalize_email(email)
    for _ in range(ATTEMPTS):
        current, claim_taken = await _claimed(store, org_id, email)
        now_s = store.now_seconds()
        expires = now_s + ttl_seconds
        invite_id = current.invite_id if current else "invite-" + uuid.uuid4().hex[:16]
        token = _new_token(invite_id)
        invitation = Invitation(
            org_id=org_id, invite_id=invite_id, email=email, name=name, role=role,
            invited_by=inviter.user_id, invited_by_name=inviter.name,
            status=InvitationStatus.PENDING, token_hash=hash_token(token),
            created_at=current.created_at if current else now_ms(), expires_at=expires,
            github_username=github_username)
        claim = invitation_claim_item(org_id, email, invite_id, expires)
        write: Action
        if current is None:
            write = Put(invitation.to_item(), item_missing())
            claim_write = Put(claim, claim_taken)
        else:
            write = Update(keys.invitation(org_id, invite_id), (
                Set("tokenHash", invitation.token_hash), Set("expiresAt", expires),
                Set("role", role.value), Set("name", name),
                Set("githubUsername", github_username), Set("invitedBy", inviter.user_id),
                Set("invitedByName", inviter.name)),
                _pending_as_read(current) & attr_gt("expiresAt", now_s))
            claim_write = Put(claim, attr_eq("inviteId", invite_id) & attr_gt("expiresAt", now_s))
        e = activity.event(store, org_id, inviter.user_id,
                           "invitation.refreshed" if current else "invitation.created",
                           invite_id, role=role.value)
        try:
            await actor.transact(store, [
                Check(keys.member_email(org_id, email), item_missing()),
                write, claim_write, activity.put_event(e),
            ])
        except TransactionCanceled as exc:
            if exc.failed(0):
                raise EmailTaken("someone in the organization already uses this email"
                                 ) from None
            if current is None and exc.failed(1):
                raise  # a fresh random id already taken: a bug worth seeing, not a user error
            continue  # a concurrent invitation, accept, revoke or resend won: read again
        return invitation, token
    raise StoreThrottled("invitations of this email kept changing while inviting; try again")


async def get(store: Store, org_id: str, invite_id: str) -> Invitation | None:
    item = await store.get(keys.invitation(org_id, invite_id))
    return Invitation.from_item(item) if item else None


async def resend(store: Store, actor: Actor, invite_id: str,
                 ttl_seconds: int = DAY_SECONDS) -> tuple[Invitation, str]:
    """A new token and expiry for a pending invitation, expired or not; the old token stops
    working. Refused (InvitationUnavailable) for an accepted or revoked one, and for an
    expired one whose email has since been invited again ("superseded")."""
    org_id = actor.org_id
    key = keys.invitation(org_id, invite_id)
    for _ in range(ATTEMPTS):
        item = await store.get(key, consistent=True, include_expired=True)
        if item is None:
            raise NotFound("invitation not found")
        current = Invitation.from_item(item)
        if current.status is InvitationStatus.ACCEPTED:
            raise InvitationUnavailable("this invitation has already been used", "used")
        if current.status is InvitationStatus.REVOKED:
            raise InvitationUnavailable("this invitation was revoked; invite the person "
                                        "again", "revoked")
        now_s = store.now_seconds()
        expires = now_s + ttl_seconds
        token = _new_token(invite_id)
        token_hash = hash_token(token)
        claim = invitation_claim_item(org_id, current.email, invite_id, expires)
        e = activity.event(store, org_id, actor.user_id, "invitation.resent", invite_id)
        try:
            await actor.transact(store, [
                Check(keys.member_email(org_id, current.email), item_missing()),
                Update(key, (Set("tokenHash", token_hash), Set("expiresAt", expires)),
                       _pending_as_read(current)),
                Put(claim, _claim_free(now_s) | attr_eq("inviteId", invite_id)),
                activity.put_event(e),
            ])
        except TransactionCanceled as exc:
            if exc.failed(0):
                raise EmailTaken("someone in the organization already uses this email"
                                 ) from None
            if exc.failed(2):  # the claim names another live invitation of this email
                raise InvitationUnavailable(
                    "this email has a newer invitation; resend that one instead",
                    "superseded") from None
            continue  # accepted, revoked or resent meanwhile: read again
        current.token_hash, current.expires_at = token_hash, expires
        return current, token
    raise StoreThrottled("this invitation kept changing while resending it; try again")


class InvitationState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class InvitationPreview:
    """What the holder of a token may see before accepting: nothing about anyone else."""

    organization_name: str
    inviter_name: str | None
    role: Role
    expires_at: int  # epoch seconds
    state: InvitationState


async def preview(store: Store, org_id: str, token: str) -> InvitationPreview:
    """The invitation a token opens, for its holder; a wrong or unknown token is
    InvitationUnavailable("invalid") either way. Two reads: the invitation strongly
    consistent (a token resent a moment ago already works), then the organization."""
    invite_id = _invite_id(token)
    if invite_id is None:
        raise InvitationUnavailable(INVALID, "invalid")
    item = await store.get(keys.invitation(org_id, invite_id), consistent=True,
                           include_expired=True)
    if item is None or not hmac.compare_digest(item.get("tokenHash", ""), hash_token(token)):
        raise InvitationUnavailable(INVALID, "invalid")
    invitation = Invitation.from_item(item)
    org = await store.get(keys.organization(org_id))
    if org is None:
        raise InvitationUnavailable(INVALID, "invalid")
    state = InvitationState(invitation.status.value)
    if state is InvitationState.PENDING and invitation.expires_at <= store.now_seconds():
        state = InvitationState.EXPIRED
    return InvitationPreview(organization_name=org["name"],
                             inviter_name=invitation.invited_by_name, role=invitation.role,
                             expires_at=invitation.expires_at, state=state)


async def _claim_release(store: Store, invitation: Invitation) -> list[Action]:
    """Deleting the email's claim when it names ``invitation`` (an invitation made before
    claims existed has none, and must not take another invitation's)."""
    claim_key = keys.invitation_email(invitation.org_id, invitation.email)
    claim = await store.get(claim_key, consistent=True, include_expired=True)
    if claim is None or claim.get("inviteId") != invitation.invite_id:
        return []
    return [Delete(claim_key, attr_eq("inviteId", invitation.invite_id))]


async def accept(store: Store, org_id: str, token: str, user_id: str, email: str,
                 name: str) -> Member:
    """Join the organization: person added, invitation consumed, count incremented, the
    email's invitation claim released, at once."""
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
    release = await _claim_release(store, invitation)
    return await members.add(store, member, e, [consume, *release], consumed_meanwhile)


def _check_usable(invitation: Invitation, now_s: int) -> None:
    if invitation.status is InvitationStatus.ACCEPTED:
        raise InvitationUnavailable("this invitation has already been used", "used")
    if invitation.status is InvitationStatus.REVOKED:
        raise InvitationUnavailable("this invitation was revoked; ask for a new one", "revoked")
    if invitation.expires_at <= now_s:
        raise InvitationUnavailable("this invitation has expired; ask for a new one",
                                    "expired")


async def revoke(store: Store, actor: Actor, invite_id: str) -> Invitation:
    """Revoke a pending, unexpired invitation and release its email's claim."""
    org_id = actor.org_id
    key = keys.invitation(org_id, invite_id)
    item = await store.get(key, consistent=True, include_expired=True)
    if item is None:
        raise NotFound("invitation not found")
    current = Invitation.from_item(item)
    _check_usable(current, store.now_seconds())
    e = activity.event(store, org_id, actor.user_id, "invitation.revoked", invite_id)
    try:
        await actor.transact(store, [
            Update(key, (Set("status", InvitationStatus.REVOKED.value),),
                   attr_eq("status", InvitationStatus.PENDING.value)
                   & attr_gt("expiresAt", store.now_seconds())),
            *await _claim_release(store, current),
            activity.put_event(e),
        ])
    except TransactionCanceled as exc:
        if not exc.failed(0):
            raise  # only a refresh moves a claim, and it keeps the id: a bug worth seeing
        item = await store.get(key, consistent=True, include_expired=True)
        if item is None:
            raise NotFound("invitation not found") from None
        _check_usable(Invitation.from_item(item), store.now_seconds())
        raise  # the condition failed, yet the invitation reads usable: a bug worth seeing
    current.status = InvitationStatus.REVOKED
    return current


def list_query(org_id: str, *, status: InvitationStatus | None = None,
               limit: int | None = None, cursor: str | None = None) -> Query:
    where: dict[str, Any] | None = {"status": status.value} if status else None
    return Query(partition=keys.org_pk(org_id), prefix=keys.INVITE, limit=limit,
                 cursor=cursor, where=where)


async def list_page(store: Store, org_id: str, **kwargs: Any
                    ) -> tuple[list[Invitation], Page]:
    page = await store.query(list_query(org_id, **kwargs))
    return [Invitation.from_item(i) for i in page.items], page

