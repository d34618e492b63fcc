"""Invitations: one live pending invitation per email, resending, previews, the claim."""

from __future__ import annotations

import pytest

from datastore import invitations, keys
from datastore.errors import EmailTaken, InvitationUnavailable, NotFound
from datastore.invitations import InvitationState
from datastore.records import DAY_SECONDS, Invitation, InvitationStatus, Role, now_ms
from datastore.store import Store
from tests.conftest import Clock, behave_like_dynamodb
from tests.datastore.conftest import (
    ORG,
    actions_of,
    as_actor,
    items_of,
    join,
    open_org,
    race,
)

EMAIL = "new@acme.example"


async def pending_with(store: Store, email: str = EMAIL) -> list[Invitation]:
    found = [Invitation.from_item(i) for i in await items_of(store, "INVITATION")]
    return [i for i in found if i.email == email and i.status is InvitationStatus.PENDING]


async def state_of(store: Store, token: str) -> InvitationState | str:
    try:
        return (await invitations.preview(store, ORG, token)).state
    except InvitationUnavailable as exc:
        return exc.reason


# Refreshing instead of inviting twice


async def test_inviting_an_email_again_refreshes_its_pending_invitation(
        store: Store, clock: Clock) -> None:
    owner = as_actor(await open_org(store))
    first, old_token = await invitations.create(store, owner, EMAIL, Role.VIEWER, name="N")
    clock.advance(3600)

    again, token = await invitations.create(store, owner, EMAIL.upper(), Role.ADMIN,
                                            name="New Name", github_username="new-gh")

    assert again.invite_id == first.invite_id
    assert token != old_token
    assert token.startswith(first.invite_id + ".")
    assert again.expires_at == first.expires_at + 3600
    [stored] = await pending_with(store)
    assert (stored.role, stored.name, stored.github_username, stored.expires_at) == (
        Role.ADMIN, "New Name", "new-gh", again.expires_at)
    assert await state_of(store, old_token) == "invalid"
    assert await state_of(store, token) is InvitationState.PENDING
    assert (await actions_of(store))[-2:] == ["invitation.created", "invitation.refreshed"]


async def test_an_expired_invitation_is_not_refreshed_but_replaced(
        store: Store, clock: Clock) -> None:
    owner = as_actor(await open_org(store))
    first, old_token = await invitations.create(store, owner, EMAIL, Role.MEMBER,
                                                ttl_seconds=60)
    clock.advance(61)

    second, token = await invitations.create(store, owner, EMAIL, Role.MEMBER)

    assert second.invite_id != first.invite_id
    assert await state_of(store, old_token) is InvitationState.EXPIRED
    assert await state_of(store, token) is InvitationState.PENDING


async def test_a_revoked_invitation_frees_its_email_for_a_new_one(store: Store) -> None:
    owner = as_actor(await open_org(store))
    first, _ = await invitations.create(store, owner, EMAIL, Role.MEMBER)
    await invitations.revoke(store, owner, first.invite_id)

    assert await store.get(keys.invitation_email(ORG, EMAIL), consistent=True) is None
    second, _ = await invitations.create(store, owner, EMAIL, Role.MEMBER)

    assert second.invite_id != first.invite_id
    assert [i.invite_id for i in await pending_with(store)] == [second.invite_id]


async def test_accepting_releases_the_claim_and_the_email_then_belongs_to_a_person(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    _invitation, token = await invitations.create(store, owner, EMAIL, Role.MEMBER)

    await invitations.accept(store, ORG, token, "user-new", EMAIL, "New Person")

    assert await store.get(keys.invitation_email(ORG, EMAIL), consistent=True) is None
    with pytest.raises(EmailTaken):
        await invitations.create(store, owner, EMAIL, Role.MEMBER)


async def test_an_invitation_made_before_claims_existed_can_still_be_accepted(
        store: Store) -> None:
    await open_org(store)
    token = "invite-legacy000000001.secret-of-the-legacy-invitation"
    await store.put(Invitation(
        org_id=ORG, invite_id="invite-legacy000000001", email=EMAIL, name=None,
        role=Role.VIEWER, invited_by="user-owner", invited_by_name="Olive Owner",
        status=InvitationStatus.PENDING, token_hash=invitations.hash_token(token),
        created_at=now_ms(), expires_at=store.now_seconds() + DAY_SECONDS).to_item())

    member = await invitations.accept(store, ORG, token, "user-new", EMAIL, "New")

    assert member.role is Role.VIEWER


async def test_two_concurrent_invitations_of_one_email_end_as_one_pending_invitation(
        request: pytest.FixtureRequest, store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    behave_like_dynamodb(request, store)

    outcomes = await race(store, invitations.create(store, owner, EMAIL, Role.MEMBER),
                          invitations.create(store, ann, EMAIL, Role.VIEWER))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len({invitation.invite_id for invitation, _ in outcomes}) == 1
    [pending] = await pending_with(store)
    states = [await state_of(store, token) for _, token in outcomes]
    assert sorted(map(str, states)) == ["invalid", "pending"]
    actions = await actions_of(store)
    assert (actions.count("invitation.created"), actions.count("invitation.refreshed")) == (1, 1)
    winner = outcomes[states.index(InvitationState.PENDING)][0]
    assert pending.role is winner.role


# Resending


async def test_resend_gives_a_new_token_and_expiry_and_the_old_token_stops_working(
        store: Store, clock: Clock) -> None:
    owner = as_actor(await open_org(store))
    invitation, old_token = await invitations.create(store, owner, EMAIL, Role.MEMBER)
    clock.advance(100)

    resent, token = await invitations.resend(store, owner, invitation.invite_id,
                                             ttl_seconds=DAY_SECONDS)

    assert resent.invite_id == invitation.invite_id
    assert resent.expires_at == invitation.expires_at + 100
    assert await state_of(store, old_token) == "invalid"
    assert await state_of(store, token) is InvitationState.PENDING
    with pytest.raises(InvitationUnavailable) as caught:
        await invitations.accept(store, ORG, old_token, "user-new", EMAIL, "New")
    assert caught.value.reason == "invalid"
    assert (await actions_of(store))[-1] == "invitation.resent"


async def test_an_expired_pending_invitation_can_be_resent_and_then_accepted(
        store: Store, clock: Clock) -> None:
    owner = as_actor(await open_org(store))
    invitation, _ = await invitations.create(store, owner, EMAIL, Role.MEMBER, ttl_seconds=60)
    clock.advance(120)

    _, token = await invitations.resend(store, owner, invitation.invite_id)
    member = await invitations.accept(store, ORG, token, "user-new", EMAIL, "New")

    assert member.user_id == "user-new"
    assert await state_of(store, token) is InvitationState.ACCEPTED


async def test_resend_refuses_accepted_revoked_superseded_and_unknown_invitations(
        store: Store, clock: Clock) -> None:
    owner = as_actor(await open_org(store))
    used, token = await invitations.create(store, owner, "used@acme.example", Role.MEMBER)
    await invitations.accept(store, ORG, token, "user-used", "used@acme.example", "Used")
    revoked, _ = await invitations.create(store, owner, "gone@acme.example", Role.MEMBER)
    await invitations.revoke(store, owner, revoked.invite_id)
    old, _ = await invitations.create(store, owner, EMAIL, Role.MEMBER, ttl_seconds=60)
    clock.advance(61)
    await invitations.create(store, owner, EMAIL, Role.MEMBER)

    reasons = []
    for invite_id in (used.invite_id, revoked.invite_id, old.invite_id):
        with pytest.raises(InvitationUnavailable) as caught:
            await invitations.resend(store, owner, invite_id)
        reasons.append(caught.value.reason)
    with pytest.raises(NotFound):
        await invitations.resend(store, owner, "invite-unknown")

    assert reasons == ["used", "revoked", "superseded"]
    assert len(await pending_with(store)) == 1
    stale = await store.get(keys.invitation(ORG, old.invite_id), include_expired=True)
    assert stale is not None
    assert stale["expiresAt"] == old.expires_at


# Preview


async def test_preview_shows_the_organization_inviter_role_expiry_and_state(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    invitation, token = await invitations.create(store, owner, EMAIL, Role.VIEWER)

    seen = await invitations.preview(store, ORG, token)

    assert seen == invitations.InvitationPreview(
        organization_name="org-acme Inc", inviter_name="Olive Owner", role=Role.VIEWER,
        expires_at=invitation.expires_at, state=InvitationState.PENDING)


async def test_preview_reports_accepted_revoked_and_expired_invitations(
        store: Store, clock: Clock) -> None:
    owner = as_actor(await open_org(store))
    _, accepted = await invitations.create(store, owner, "a@acme.example", Role.MEMBER)
    await invitations.accept(store, ORG, accepted, "user-a", "a@acme.example", "A")
    revoked, revoked_token = await invitations.create(store, owner, "r@acme.example",
                                                      Role.MEMBER)
    await invitations.revoke(store, owner, revoked.invite_id)
    _, expired = await invitations.create(store, owner, "e@acme.example", Role.MEMBER,
                                          ttl_seconds=30)
    clock.advance(31)

    assert [await state_of(store, t) for t in (accepted, revoked_token, expired)] == [
        InvitationState.ACCEPTED, InvitationState.REVOKED, InvitationState.EXPIRED]


async def test_a_wrong_secret_reads_exactly_like_an_unknown_invitation(store: Store) -> None:
    owner = as_actor(await open_org(store))
    invitation, _ = await invitations.create(store, owner, EMAIL, Role.MEMBER)

    answers = []
    for token in (f"{invitation.invite_id}.not-the-secret", "invite-nothing.secret",
                  "no-dot-at-all", f"{invitation.invite_id}.", ""):
        with pytest.raises(InvitationUnavailable) as caught:
            await invitations.preview(store, ORG, token)
        answers.append((caught.value.reason, str(caught.value)))
    with pytest.raises(InvitationUnavailable) as other_org:
        await invitations.preview(store, "org-other", f"{invitation.invite_id}.x")

    assert set(answers) == {("invalid", invitations.INVALID)}
    assert other_org.value.reason == "invalid"
