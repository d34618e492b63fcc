"""The organization: ownership transfer, and counters kept by creation and the demo loader."""

from __future__ import annotations

import pytest

from datastore import demo, members, organizations
from datastore.errors import (
    ActorNotAllowed,
    MemberNotActive,
    NotFound,
    NotOwner,
    OwnerProtected,
    VersionConflict,
)
from datastore.records import MemberStatus, Role
from datastore.store import Store
from tests.conftest import behave_like_dynamodb
from tests.datastore.conftest import (
    ORG,
    OWNER,
    actions_of,
    as_actor,
    assert_counters_match_the_people,
    join,
    open_org,
    org_of,
    race,
)


async def test_transfer_makes_a_member_the_owner_and_an_admin(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")

    org, bob = await organizations.transfer_ownership(store, owner, "user-bob",
                                                      expected_version=1)

    assert (org.owner_id, org.version) == ("user-bob", 2)
    assert (bob.role, bob.version) == (Role.ADMIN, 2)
    assert await org_of(store) == org
    assert await members.get(store, ORG, "user-bob", consistent=True) == bob
    stored = await assert_counters_match_the_people(store)
    assert stored.admin_count == 2
    assert (await actions_of(store))[-1] == "organization.ownership_transferred"


async def test_transfer_to_an_admin_changes_only_the_owner(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-ann", Role.ADMIN)

    org, ann = await organizations.transfer_ownership(store, owner, "user-ann")

    assert org.owner_id == "user-ann"
    assert (ann.role, ann.version) == (Role.ADMIN, 1)
    assert (await assert_counters_match_the_people(store)).admin_count == 2


async def test_only_the_owner_may_transfer_ownership(store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    await join(store, "user-bob")

    with pytest.raises(NotOwner) as caught:
        await organizations.transfer_ownership(store, ann, "user-bob")
    await organizations.transfer_ownership(store, owner, "user-ann")
    with pytest.raises(NotOwner):
        await organizations.transfer_ownership(store, owner, "user-bob")

    assert isinstance(caught.value, ActorNotAllowed)
    assert caught.value.code == "PERMISSION_DENIED"
    assert (await org_of(store)).owner_id == "user-ann"


async def test_transfer_needs_an_active_member_and_the_current_version(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")
    await members.suspend(store, owner, "user-bob")

    with pytest.raises(MemberNotActive) as suspended:
        await organizations.transfer_ownership(store, owner, "user-bob")
    with pytest.raises(NotFound):
        await organizations.transfer_ownership(store, owner, "user-ghost")
    with pytest.raises(VersionConflict):
        await organizations.transfer_ownership(store, owner, "user-bob", expected_version=5)

    assert suspended.value.code == "MEMBER_NOT_ACTIVE"
    assert (await org_of(store)).owner_id == OWNER


async def test_transfer_to_oneself_changes_nothing(store: Store) -> None:
    owner = as_actor(await open_org(store))

    org, same = await organizations.transfer_ownership(store, owner, OWNER)

    assert (org.owner_id, org.version, same.user_id) == (OWNER, 1, OWNER)
    assert await actions_of(store) == ["organization.created"]


async def test_transfer_racing_the_new_owners_removal_lets_exactly_one_happen(
        request: pytest.FixtureRequest, store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    await join(store, "user-bob")
    behave_like_dynamodb(request, store)

    transfer, removal = await race(
        store, organizations.transfer_ownership(store, owner, "user-bob"),
        members.remove(store, ann, "user-bob"))

    bob = await members.get(store, ORG, "user-bob", consistent=True)
    org = await assert_counters_match_the_people(store)
    if isinstance(transfer, Exception):
        assert isinstance(transfer, NotFound), transfer
        assert not isinstance(removal, Exception), removal
        assert (bob, org.owner_id) == (None, OWNER)
    else:
        # Refused at once, or read again and refused: Bob is the owner now.
        assert isinstance(removal, VersionConflict | OwnerProtected), removal
        assert bob is not None
        assert (bob.role, bob.status, org.owner_id) == (Role.ADMIN, MemberStatus.ACTIVE,
                                                         "user-bob")


async def test_transfer_racing_the_new_owners_suspension_lets_exactly_one_happen(
        request: pytest.FixtureRequest, store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    await join(store, "user-bob")
    behave_like_dynamodb(request, store)

    transfer, suspension = await race(
        store, organizations.transfer_ownership(store, owner, "user-bob"),
        members.suspend(store, ann, "user-bob"))

    assert sum(isinstance(o, Exception) for o in (transfer, suspension)) == 1
    if isinstance(transfer, Exception):
        assert isinstance(transfer, MemberNotActive), transfer
    org = await assert_counters_match_the_people(store)
    assert org.owner_id == (OWNER if isinstance(transfer, Exception) else "user-bob")


async def test_the_demo_organization_has_exact_counters(store: Store) -> None:
    await demo.load_demo(store)

    org = await assert_counters_match_the_people(store, demo.DEMO_ORG)

    assert (members.count(org, Role.MEMBER), members.count(org, Role.VIEWER)) == (2, 1)


async def test_a_synthetic_team_has_exact_counters(store: Store) -> None:
    await demo.load_team(store, "org-team", 12)

    org = await assert_counters_match_the_people(store, "org-team")

    assert (members.count(org), members.count(org, Role.VIEWER)) == (12, 1)
