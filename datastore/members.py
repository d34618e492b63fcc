"""People of an organization, every role under one ``MEMBER#`` prefix.

The organization item counts its people: ``currentMembers`` (all), ``adminCount`` (ACTIVE
admins: the last-admin guards read it) and one counter per other role and status (see
records.count_attribute). Every change to the set of people, to a role or to a status
updates them in the same transaction, under conditions, so the limits hold under any
concurrency: ``currentMembers`` never exceeds ``maxMembers`` and always equals the number of
people, and an organization always keeps one active admin. A suspended admin is not counted
in ``adminCount``: suspending one lowers it (under the guard), reactivating raises it, and
removing or demoting a suspended admin leaves it alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datastore import activity, keys
from datastore.actors import Actor
from datastore.errors import (
    AlreadyExists,
    CannotSuspendSelf,
    DomainError,
    EmailTaken,
    LastAdmin,
    MemberLimitReached,
    NotFound,
    OwnerProtected,
    TransactionCanceled,
    VersionConflict,
)
from datastore.records import (
    ACTIVE_ADMINS,
    MEMBER_CHANGES,
    ROLE_PERMISSIONS,
    ActivityEvent,
    Member,
    MemberStatus,
    Organization,
    Role,
    Slot,
    count_attribute,
    email_claim_item,
    now_ms,
)
from datastore.store import (
    Action,
    Add,
    Change,
    Cond,
    Delete,
    Item,
    Page,
    Put,
    Query,
    Ref,
    Set,
    Store,
    Update,
    apply_changes,
    attr_eq,
    attr_gt,
    attr_lt,
    attr_ne,
    item_exists,
    item_missing,
)


async def get(store: Store, org_id: str, user_id: str, *, consistent: bool = False
              ) -> Member | None:
    item = await store.get(keys.member(org_id, user_id), consistent=consistent)
    return Member.from_item(item) if item else None


async def get_by_email(store: Store, org_id: str, email: str) -> Member | None:
    """GSI1 lookup, answered only within ``org_id`` whatever other orgs the email is in."""
    own = keys.org_pk(org_id)
    items = await store.query_all(Query(partition=keys.email_index(email), index="GSI1"))
    for item in items:
        if item["PK"] == own and item.get("entityType") == "MEMBER":
            return Member.from_item(item)
    return None


def list_query(org_id: str, *, role: Role | None = None, status: str | None = None,
               limit: int | None = None, cursor: str | None = None) -> Query:
    where: dict[str, Any] = {}
    if role is not None:
        where["role"] = role.value
    if status is not None:
        where["status"] = status
    return Query(partition=keys.org_pk(org_id), prefix=keys.MEMBER, limit=limit, cursor=cursor,
                 where=where or None)


async def list_page(store: Store, org_id: str, **kwargs: Any) -> tuple[list[Member], Page]:
    page = await store.query(list_query(org_id, **kwargs))
    return [Member.from_item(i) for i in page.items], page


@dataclass(frozen=True, slots=True)
class Membership:
    """One organization a user belongs to, as that user sees it."""

    org_id: str
    org_name: str
    role: Role
    status: MemberStatus
    joined_at: int  # epoch ms


async def organizations_of(store: Store, user_id: str) -> list[Membership]:
    """The user's ACTIVE memberships across organizations, oldest first: one GSI2 Query and
    one BatchGetItem of the organizations for their names.

    Both reads are eventually consistent (a GSI cannot be read otherwise): a membership made
    or suspended a moment ago may be missing or still listed. Nothing here grants access;
    every request decides that from its own consistent read of the membership.
    """
    items = await store.query_all(Query(
        partition=keys.user_index(user_id), index="GSI2", prefix=keys.JOINED,
        where={"entityType": "MEMBER", "status": MemberStatus.ACTIVE.value}))
    if not items:
        return []
    orgs = await store.batch_get([keys.organization(i["organizationId"]) for i in items])
    found: list[Membership] = []
    for item in items:
        org = orgs.get(keys.organization(item["organizationId"]))
        if org is None:  # the organization is gone; its people go with it
            continue
        found.append(Membership(org_id=item["organizationId"], org_name=org["name"],
                                role=Role(item["role"]), status=MemberStatus(item["status"]),
                                joined_at=item.get("joinedAt", 0)))
    return found


def count(org: Organization, role: Role | None = None, status: MemberStatus | None = None
          ) -> int | None:
    """How many people of ``role`` and ``status`` (None: any) the organization has, from its
    counters: exact for every combination.

    An organization made before the per-role/status counters existed (and not backfilled,
    see organizations.backfill_member_counts) knows only its total and its active admins;
    for any other filter this is None, and the caller counts with Store.count instead.
    """
    if role is None and status is None:
        return org.current_members
    if org.member_counts is None:
        return org.admin_count if (role, status) == (Role.ADMIN, MemberStatus.ACTIVE) else None
    return sum(n for (r, s), n in org.member_counts.items()
               if (role is None or r is role) and (status is None or s is status))


def slot(member: Member) -> Slot:
    return (member.role, member.status)


def tally(before: Slot | None, after: Slot | None, people: int = 1) -> dict[str, int]:
    """How the organization's counters change when ``people`` go from ``before`` to ``after``
    (None: not in the organization)."""
    deltas: dict[str, int] = {}
    for place, sign in ((before, -people), (after, people)):
        if place is not None:
            for attr in ("currentMembers", count_attribute(place)):
                deltas[attr] = deltas.get(attr, 0) + sign
    return {a: d for a, d in deltas.items() if d}


def count_changes(deltas: Mapping[str, int]) -> tuple[Change, ...]:
    if not deltas:
        return ()
    return (*(Add(a, d) for a, d in sorted(deltas.items())), Add(MEMBER_CHANGES, 1))


def count_guard(deltas: Mapping[str, int]) -> Cond:
    """What the organization item must say for ``deltas`` to keep the limits: a free seat
    for a newcomer, another active admin for one who stops being one."""
    cond = item_exists()
    if deltas.get("currentMembers", 0) > 0:
        cond = cond & attr_lt("currentMembers", Ref("maxMembers"))
    if deltas.get(ACTIVE_ADMINS, 0) < 0:
        cond = cond & attr_gt(ACTIVE_ADMINS, -deltas[ACTIVE_ADMINS])
    return cond


def loses_an_admin(deltas: Mapping[str, int]) -> bool:
    return deltas.get(ACTIVE_ADMINS, 0) < 0


def _org_counter(org_id: str, deltas: Mapping[str, int], *, not_owner: str | None = None
                 ) -> Update:
    """The counters' update; with ``not_owner``, only while that person is not the owner
    (the owner stays an active admin until they transfer ownership)."""
    guard = count_guard(deltas)
    if not_owner is not None:
        guard = guard & attr_ne("ownerId", not_owner)
    return Update(keys.organization(org_id), count_changes(deltas), guard)


async def _refusal(store: Store, org_id: str, user_id: str, deltas: Mapping[str, int],
                   last_admin: str) -> DomainError | None:
    """Why the organization item refused a change to ``user_id``, read after the fact."""
    org = await store.get(keys.organization(org_id), consistent=True)
    if org is None:
        return None
    lost = -deltas.get(ACTIVE_ADMINS, 0)
    if lost > 0 and int(org.get(ACTIVE_ADMINS, 0)) <= lost:
        return LastAdmin(last_admin)
    if org.get("ownerId") == user_id:
        return OwnerProtected("the owner must stay an active admin; transfer ownership "
                              "(transferOwnership) first")
    return None


async def add(store: Store, member: Member, event: ActivityEvent,
              extra: Sequence[Action] = (),
              on_extra_failure: Callable[[int], DomainError] | None = None) -> Member:
    """Add a person: counter, person, email claim, ``extra`` actions and event, atomically."""
    actions: list[Action] = [
        _org_counter(member.org_id, tally(None, slot(member))),
        Put(member.to_item(), item_missing()),
        Put(email_claim_item(member.org_id, member.email, member.user_id), item_missing()),
        *extra,
        activity.put_event(event),
    ]
    try:
        await store.transact(actions)
    except TransactionCanceled as exc:
        if exc.failed(0):
            org = await store.get(keys.organization(member.org_id), consistent=True)
            if org is None:
                raise NotFound("organization not found") from None
            raise MemberLimitReached(
                f"the organization has reached its limit of {org['maxMembers']} members; "
                "remove someone or upgrade the plan", int(org["maxMembers"])) from None
        if exc.failed(1):
            raise AlreadyExists("this user is already a member of the organization") from None
        if exc.failed(2):
            raise EmailTaken("another member of the organization already uses this email"
                             ) from None
        for offset in range(len(extra)):
            if exc.failed(3 + offset) and on_extra_failure is not None:
                raise on_extra_failure(offset) from None
        raise
    return member


async def remove(store: Store, actor: Actor, user_id: str,
                 expected_version: int | None = None) -> Member:
    """Remove a person, their email claim and their seat at once.

    With ``expected_version`` a person changed since answers VersionConflict; without it the
    removal applies to whatever is current (a change landing in between is read again).
    """
    org_id = actor.org_id
    for attempt in range(1 if expected_version is not None else 3):
        current = await get(store, org_id, user_id, consistent=True)
        if current is None:
            raise NotFound("member not found")
        version = expected_version if expected_version is not None else current.version
        if version != current.version:
            raise VersionConflict(f"the member changed since version {version}; reload and "
                                  "retry")
        deltas = tally(slot(current), None)
        e = activity.event(store, org_id, actor.user_id, "member.removed", user_id)
        try:
            await actor.transact(store, [
                Delete(keys.member(org_id, user_id), attr_eq("version", version)),
                Delete(keys.member_email(org_id, current.email), attr_eq("userId", user_id)),
                _org_counter(org_id, deltas, not_owner=user_id),
                activity.put_event(e),
            ])
        except TransactionCanceled as exc:
            refusal = await _refusal(
                store, org_id, user_id, deltas,
                "cannot remove the last admin; make someone else an admin first"
            ) if exc.failed(2) else None
            if refusal is not None:
                raise refusal from None
            if exc.failed(0) and await get(store, org_id, user_id, consistent=True) is None:
                raise NotFound("member not found") from None
            if expected_version is None and attempt < 2:
                continue  # changed in between: remove what is current now
            raise VersionConflict("the member changed while being removed; try again"
                                  ) from None
        return current
    raise AssertionError("unreachable")


async def _read_versioned(store: Store, key: keys.Key, expected_version: int | None
                          ) -> tuple[Item, Member, int, VersionConflict]:
    item = await store.get(key, consistent=True)
    if item is None:
        raise NotFound("member not found")
    current = Member.from_item(item)
    version = expected_version if expected_version is not None else current.version
    conflict = VersionConflict(f"the member changed since version {version}; reload and retry")
    if version != current.version:
        raise conflict
    return item, current, version, conflict


async def _change_person(store: Store, actor: Actor, item: Item, version: int,
                         changes: tuple[Change, ...], deltas: Mapping[str, int],
                         event: ActivityEvent, conflict: VersionConflict, last_admin: str
                         ) -> Member:
    """Update one person under its version, with the counters ``deltas`` says, and
    ``event``; the result is the person read before with the changes applied (the version
    condition makes that exactly what was written)."""
    key = keys.member(actor.org_id, item["userId"])
    actions: list[Action] = [Update(key, changes, item_exists() & attr_eq("version", version))]
    user_id = item["userId"]
    if deltas:
        owner_guard = user_id if loses_an_admin(deltas) else None
        actions.append(_org_counter(actor.org_id, deltas, not_owner=owner_guard))
    actions.append(activity.put_event(event))
    try:
        await actor.transact(store, actions)
    except TransactionCanceled as exc:
        refusal = await _refusal(store, actor.org_id, user_id, deltas, last_admin) \
            if deltas and exc.failed(1) else None
        if refusal is not None:
            raise refusal from None
        if exc.failed(0) and await store.get(key, consistent=True) is None:
            raise NotFound("member not found") from None
        raise conflict from None
    return Member.from_item(apply_changes(copy.deepcopy(item), changes))


async def change_role(store: Store, actor: Actor, user_id: str, role: Role,
                      expected_version: int | None = None) -> Member:
    """One conditional update of the person and of the organization's counters."""
    key = keys.member(actor.org_id, user_id)
    item, current, version, conflict = await _read_versioned(store, key, expected_version)
    if current.role is role:
        return current
    changes: tuple[Change, ...] = (
        Set("role", role.value), Set("permissions", [p.value for p in ROLE_PERMISSIONS[role]]),
        Set("updatedAt", now_ms()), Add("version", 1))
    e = activity.event(store, actor.org_id, actor.user_id, "member.role_changed", user_id,
                       role=role.value)
    return await _change_person(
        store, actor, item, version, changes, tally(slot(current), (role, current.status)), e,
        conflict, "cannot demote the last admin; make someone else an admin first")


async def suspend(store: Store, actor: Actor, user_id: str,
                  expected_version: int | None = None) -> Member:
    """Suspend a person: they keep their seat and role but can do nothing until reactivated.

    Suspending someone already suspended changes nothing and succeeds. A suspended admin
    stops counting as an admin, so the last active admin cannot be suspended (LastAdmin),
    and nobody can suspend themself (CannotSuspendSelf).
    """
    if user_id == actor.user_id:
        raise CannotSuspendSelf("you cannot suspend yourself; ask another admin")
    return await _set_status(store, actor, user_id, MemberStatus.SUSPENDED, expected_version)


async def reactivate(store: Store, actor: Actor, user_id: str,
                     expected_version: int | None = None) -> Member:
    """Make a suspended person active again (an active one: nothing changes, success)."""
    return await _set_status(store, actor, user_id, MemberStatus.ACTIVE, expected_version)


async def _set_status(store: Store, actor: Actor, user_id: str, status: MemberStatus,
                      expected_version: int | None) -> Member:
    key = keys.member(actor.org_id, user_id)
    item, current, version, conflict = await _read_versioned(store, key, expected_version)
    if current.status is status:
        return current
    changes: tuple[Change, ...] = (Set("status", status.value), Set("updatedAt", now_ms()),
                                   Add("version", 1))
    action = "member.suspended" if status is MemberStatus.SUSPENDED else "member.reactivated"
    e = activity.event(store, actor.org_id, actor.user_id, action, user_id)
    return await _change_person(
        store, actor, item, version, changes, tally(slot(current), (current.role, status)), e,
        conflict, "cannot suspend the last active admin; make someone else an admin first")


async def update_profile(store: Store, actor: Actor, user_id: str, *, name: str | None = None,
                         github_username: str | None = None,
                         expected_version: int | None = None) -> Member:
    """Change a person's name and/or GitHub username (None: leave as is), under the version.

    Who may change whom is the caller's decision (admins anyone, a person themself); with
    nothing to change this reads the person and returns them.
    """
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if github_username is not None:
        fields["githubUsername"] = github_username
    if not fields:
        key = keys.member(actor.org_id, user_id)
        _, current, _, _ = await _read_versioned(store, key, expected_version)
        return current
    current_member = actor.member if actor.user_id == user_id else None
    return await update_fields(store, actor, user_id, fields, expected_version,
                               action="member.profile_updated", current=current_member)


async def update_fields(store: Store, actor: Actor, user_id: str, fields: Mapping[str, Any],
                        expected_version: int | None = None,
                        action: str = "member.updated", *, current: Member | None = None
                        ) -> Member:
    """Set top-level or dotted fields of a person, guarded by its version.

    ``current`` is the person as a strongly consistent read just found them (the caller's
    own membership, read at the edge): then nothing is read again; the version condition
    still refuses the write if they changed since. Fields that counters depend on (role,
    status) are not for this function.
    """
    if {"role", "status"} & {f.split(".")[0] for f in fields}:
        raise ValueError("role and status change through change_role, suspend and "
                         "reactivate, which keep the organization's counters")
    org_id = actor.org_id
    key = keys.member(org_id, user_id)
    item = current.to_item() if current is not None and current.user_id == user_id \
        else await store.get(key, consistent=True)
    if item is None:
        raise NotFound("member not found")
    version = expected_version if expected_version is not None else item.get("version", 1)
    conflict = VersionConflict(f"the member changed since version {version}; reload and "
                               "retry")
    if item.get("version", 1) != version:
        raise conflict
    changes: list[Change] = [Set(path, value) for path, value in fields.items()]
    changes += [Set("updatedAt", now_ms()), Add("version", 1)]
    e = activity.event(store, org_id, actor.user_id, action, user_id, fields=sorted(fields))
    try:
        await actor.transact(store, [
            Update(key, tuple(changes), item_exists() & attr_eq("version", version)),
            activity.put_event(e),
        ])
    except TransactionCanceled:
        if await store.get(key, consistent=True) is None:
            raise NotFound("member not found") from None
        raise conflict from None
    return Member.from_item(apply_changes(copy.deepcopy(item), changes))
