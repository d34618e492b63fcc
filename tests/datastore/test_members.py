"""People of an organization: counters, suspension, profiles, memberships across orgs."""

from __future__ import annotations

import pytest

from datastore import keys, members, organizations
from datastore.actors import acting
from datastore.errors import (
    ActorNotAllowed,
    CannotSuspendSelf,
    LastAdmin,
    NotFound,
    OwnerProtected,
    VersionConflict,
)
from datastore.records import COUNTS_EXACT, MemberStatus, Role, count_attribute
from datastore.store import Remove, Store
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

# Counters


async def test_a_new_organization_counts_its_owner_as_its_one_active_admin(
        store: Store) -> None:
    await open_org(store)

    org = await assert_counters_match_the_people(store)

    assert members.count(org) == 1
    assert members.count(org, Role.ADMIN, MemberStatus.ACTIVE) == 1
    assert members.count(org, Role.VIEWER) == 0
    assert members.count(org, status=MemberStatus.SUSPENDED) == 0


async def test_counters_follow_every_change_of_people_roles_and_statuses(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-ann", Role.ADMIN)
    await join(store, "user-bob")
    await join(store, "user-cid", Role.VIEWER)
    await assert_counters_match_the_people(store)

    await members.change_role(store, owner, "user-bob", Role.VIEWER)
    await assert_counters_match_the_people(store)
    await members.suspend(store, owner, "user-ann")
    await members.suspend(store, owner, "user-cid")
    org = await assert_counters_match_the_people(store)
    assert members.count(org, Role.ADMIN) == 2
    assert members.count(org, Role.ADMIN, MemberStatus.ACTIVE) == 1
    assert members.count(org, Role.VIEWER, MemberStatus.SUSPENDED) == 1
    assert members.count(org, status=MemberStatus.SUSPENDED) == 2

    await members.change_role(store, owner, "user-cid", Role.MEMBER)
    await members.remove(store, owner, "user-ann")
    await members.reactivate(store, owner, "user-cid")
    org = await assert_counters_match_the_people(store)
    assert (members.count(org), members.count(org, Role.MEMBER)) == (3, 1)


async def test_a_legacy_organization_answers_only_its_total_and_active_admins(
        store: Store) -> None:
    await open_org(store)
    await join(store, "user-bob")
    await store.update(keys.organization(ORG), [
        Remove(COUNTS_EXACT), Remove(count_attribute((Role.MEMBER, MemberStatus.ACTIVE)))])

    org = await org_of(store)

    assert org.member_counts is None
    assert members.count(org) == 2
    assert members.count(org, Role.ADMIN, MemberStatus.ACTIVE) == 1
    assert members.count(org, Role.MEMBER) is None
    assert members.count(org, status=MemberStatus.ACTIVE) is None
    assert members.count(org, Role.ADMIN) is None


async def test_the_backfill_makes_a_legacy_organizations_counters_exact(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")
    await store.update(keys.organization(ORG), [
        Remove(COUNTS_EXACT), Remove(count_attribute((Role.MEMBER, MemberStatus.ACTIVE)))])
    # Changes made while the organization is legacy leave its counters partial.
    await members.suspend(store, owner, "user-bob")
    await join(store, "user-cid", Role.VIEWER)
    assert (await org_of(store)).member_counts is None

    backfilled = await organizations.backfill_member_counts(store, ORG)

    assert backfilled.member_counts is not None
    assert members.count(backfilled, Role.MEMBER, MemberStatus.SUSPENDED) == 1
    await assert_counters_match_the_people(store)
    again = await organizations.backfill_member_counts(store, ORG)
    assert again.member_counts == backfilled.member_counts


async def test_the_backfill_reads_again_when_a_counted_change_lands_meanwhile(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")
    await store.update(keys.organization(ORG), [Remove(COUNTS_EXACT)])
    queries = 0

    async def change_during_the_first_read_of_the_team(op: str, _request: object) -> None:
        nonlocal queries
        if op == "query":
            queries += 1
            if queries == 1:  # after the backfill read the org, before it writes
                store.fault_hook = None
                await members.change_role(store, owner, "user-bob", Role.VIEWER)
                store.fault_hook = change_during_the_first_read_of_the_team
        return None

    store.fault_hook = change_during_the_first_read_of_the_team
    try:
        org = await organizations.backfill_member_counts(store, ORG)
    finally:
        store.fault_hook = None

    assert queries == 2
    assert members.count(org, Role.VIEWER) == 1
    assert members.count(org, Role.MEMBER) == 0
    await assert_counters_match_the_people(store)


async def test_role_and_status_cannot_be_set_around_the_counters(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")

    with pytest.raises(ValueError, match="counters"):
        await members.update_fields(store, owner, "user-bob", {"status": "suspended"})


# Suspension


async def test_suspend_sets_the_status_bumps_the_version_and_records_an_event(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")

    suspended = await members.suspend(store, owner, "user-bob", expected_version=1)

    assert (suspended.status, suspended.version) == (MemberStatus.SUSPENDED, 2)
    stored = await members.get(store, ORG, "user-bob", consistent=True)
    assert stored == suspended
    assert (await actions_of(store))[-1] == "member.suspended"


async def test_suspending_someone_suspended_changes_nothing(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")
    await members.suspend(store, owner, "user-bob")
    events = await actions_of(store)

    again = await members.suspend(store, owner, "user-bob")

    assert (again.status, again.version) == (MemberStatus.SUSPENDED, 2)
    assert await actions_of(store) == events
    await assert_counters_match_the_people(store)


async def test_reactivate_makes_a_suspended_person_active_again(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-ann", Role.ADMIN)
    await members.suspend(store, owner, "user-ann")
    assert (await org_of(store)).admin_count == 1

    back = await members.reactivate(store, owner, "user-ann")

    assert (back.status, back.version) == (MemberStatus.ACTIVE, 3)
    assert (await org_of(store)).admin_count == 2
    assert (await actions_of(store))[-1] == "member.reactivated"
    unchanged = await members.reactivate(store, owner, "user-ann")
    assert unchanged.version == 3


async def test_an_admin_cannot_suspend_themself(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-ann", Role.ADMIN)

    with pytest.raises(CannotSuspendSelf) as caught:
        await members.suspend(store, owner, OWNER)

    assert caught.value.code == "CANNOT_SUSPEND_SELF"
    assert (await members.get(store, ORG, OWNER, consistent=True) or owner.member
            ).status is MemberStatus.ACTIVE


async def test_suspending_the_last_active_admin_fails(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-ann", Role.ADMIN)
    await members.suspend(store, owner, "user-ann")
    # The guard is the store's, not the actor's: even an actor the edge let through (here
    # a plain member, checked for nothing but being active) cannot leave no active admin.
    bob = acting(await join(store, "user-bob"))

    with pytest.raises(LastAdmin):
        await members.suspend(store, bob, OWNER)

    assert (await members.get(store, ORG, OWNER, consistent=True) or owner.member
            ).status is MemberStatus.ACTIVE
    await assert_counters_match_the_people(store)


async def test_a_suspended_admin_may_be_removed_or_demoted_without_another_admin(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-ann", Role.ADMIN)
    await join(store, "user-abe", Role.ADMIN)
    await members.suspend(store, owner, "user-ann")
    await members.suspend(store, owner, "user-abe")

    await members.remove(store, owner, "user-ann")
    await members.change_role(store, owner, "user-abe", Role.VIEWER)

    org = await assert_counters_match_the_people(store)
    assert (org.admin_count, members.count(org)) == (1, 2)
    with pytest.raises(LastAdmin):
        await members.change_role(store, owner, OWNER, Role.MEMBER)


async def test_a_suspended_actor_cannot_suspend_anyone(store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    await join(store, "user-bob")
    await members.suspend(store, owner, "user-ann")

    with pytest.raises(ActorNotAllowed):
        await members.suspend(store, ann, "user-bob")

    assert (await members.get(store, ORG, "user-bob", consistent=True) or ann.member
            ).status is MemberStatus.ACTIVE


async def test_suspend_with_a_stale_version_conflicts_and_an_unknown_person_is_not_found(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")

    with pytest.raises(VersionConflict):
        await members.suspend(store, owner, "user-bob", expected_version=7)
    with pytest.raises(NotFound):
        await members.suspend(store, owner, "user-ghost")
    with pytest.raises(NotFound):
        await members.reactivate(store, owner, "user-ghost")


async def test_two_admins_suspending_each_other_at_once_leave_one_active_admin(
        request: pytest.FixtureRequest, store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    behave_like_dynamodb(request, store)

    outcomes = await race(store, members.suspend(store, owner, "user-ann"),
                          members.suspend(store, ann, OWNER))

    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failures) == 1, outcomes
    # Ann cannot suspend the owner at all; had she been first she would have been refused.
    assert isinstance(failures[0], ActorNotAllowed | LastAdmin | OwnerProtected), failures
    org = await assert_counters_match_the_people(store)
    assert org.admin_count == 1


async def test_suspending_an_admin_while_they_demote_the_other_keeps_one_active_admin(
        request: pytest.FixtureRequest, store: Store) -> None:
    owner = as_actor(await open_org(store))
    ann = as_actor(await join(store, "user-ann", Role.ADMIN))
    behave_like_dynamodb(request, store)

    outcomes = await race(store, members.suspend(store, owner, "user-ann"),
                          members.change_role(store, ann, OWNER, Role.MEMBER))

    assert sum(isinstance(o, Exception) for o in outcomes) == 1, outcomes
    org = await assert_counters_match_the_people(store)
    assert org.admin_count == 1


# Profiles


async def test_update_profile_changes_name_and_github_username(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob", name="Bob")

    updated = await members.update_profile(store, owner, "user-bob", name="Robert",
                                           github_username="rob-gh", expected_version=1)

    assert (updated.name, updated.github_username, updated.version) == ("Robert", "rob-gh", 2)
    assert await members.get(store, ORG, "user-bob", consistent=True) == updated
    assert (await actions_of(store))[-1] == "member.profile_updated"


async def test_a_person_may_update_their_own_profile(store: Store) -> None:
    await open_org(store)
    bob = acting(await join(store, "user-bob", name="Bob"))

    updated = await members.update_profile(store, bob, "user-bob", name="Bobby")

    assert (updated.name, updated.github_username) == ("Bobby", None)
    assert await members.get(store, ORG, "user-bob", consistent=True) == updated


async def test_update_profile_with_a_stale_version_or_an_unknown_person_fails(
        store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")

    with pytest.raises(VersionConflict):
        await members.update_profile(store, owner, "user-bob", name="X", expected_version=9)
    with pytest.raises(NotFound):
        await members.update_profile(store, owner, "user-ghost", name="X")
    assert (await members.get(store, ORG, "user-bob", consistent=True) or owner.member
            ).name == "user-bob"


async def test_update_profile_with_nothing_to_change_writes_nothing(store: Store) -> None:
    owner = as_actor(await open_org(store))
    await join(store, "user-bob")
    events = await actions_of(store)

    same = await members.update_profile(store, owner, "user-bob")

    assert same.version == 1
    assert await actions_of(store) == events


# Memberships across organizations


async def test_organizations_of_lists_the_active_memberships_with_org_names(
        store: Store) -> None:
    for org_id in ("org-one", "org-two", "org-three"):
        await open_org(store, org_id)
        await join(store, "user-multi", Role.VIEWER if org_id == "org-two" else Role.MEMBER,
                   org_id=org_id)
    three_owner = await members.get(store, "org-three", OWNER, consistent=True)
    assert three_owner is not None
    await members.suspend(store, as_actor(three_owner), "user-multi")

    found = await members.organizations_of(store, "user-multi")

    assert sorted((m.org_id, m.org_name, m.role, m.status) for m in found) == [
        ("org-one", "org-one Inc", Role.MEMBER, MemberStatus.ACTIVE),
        ("org-two", "org-two Inc", Role.VIEWER, MemberStatus.ACTIVE)]
    assert await members.organizations_of(store, "user-nobody") == []
