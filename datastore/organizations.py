"""The organization item: creation with its first admin, settings, ownership, usage
counters, and the backfill of member counters for organizations made before them."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from typing import Any

from datastore import activity, keys, members
from datastore.actors import Actor
from datastore.errors import (
    AlreadyExists,
    ConditionFailed,
    MemberLimitReached,
    MemberNotActive,
    NotFound,
    NotOwner,
    TransactionCanceled,
    VersionConflict,
)
from datastore.records import (
    ACTIVE_ADMINS,
    COUNTS_EXACT,
    MEMBER_CHANGES,
    ROLE_PERMISSIONS,
    SLOTS,
    Member,
    MemberStatus,
    Organization,
    Role,
    count_attribute,
    default_settings,
    email_claim_item,
    now_ms,
)
from datastore.store import (
    Action,
    Add,
    Change,
    Check,
    Cond,
    Put,
    Query,
    Set,
    Store,
    Update,
    apply_changes,
    attr_eq,
    attr_lt,
    item_exists,
    item_missing,
)

DEFAULT_MAX_MEMBERS = {"free": 5, "pro": 100, "enterprise": 1000}
PLANS = tuple(DEFAULT_MAX_MEMBERS)
DEFAULT_API_CALL_LIMIT = 100_000


async def get(store: Store, org_id: str, *, consistent: bool = False) -> Organization | None:
    item = await store.get(keys.organization(org_id), consistent=consistent)
    return Organization.from_item(item) if item else None


async def create(store: Store, org_id: str, name: str, owner_id: str, owner_email: str,
                 owner_name: str, *, plan: str = "free", max_members: int | None = None,
                 github_username: str | None = None) -> tuple[Organization, Member]:
    """Create the organization and its first admin in one transaction."""
    now = now_ms()
    org = Organization(
        org_id=org_id, name=name, plan=plan,
        max_members=max_members or DEFAULT_MAX_MEMBERS.get(plan, 5), current_members=1,
        admin_count=1, owner_id=owner_id, settings=default_settings(),
        usage={"apiCalls": {"current": 0, "limit": DEFAULT_API_CALL_LIMIT, "period": ""}},
        created_at=now, updated_at=now,
        member_counts={slot: int(slot == (Role.ADMIN, MemberStatus.ACTIVE)) for slot in SLOTS},
    )
    admin = Member(org_id=org_id, user_id=owner_id, email=owner_email, name=owner_name,
                   role=Role.ADMIN, status=MemberStatus.ACTIVE, github_username=github_username,
                   joined_at=now, created_at=now, updated_at=now)
    e = activity.event(store, org_id, owner_id, "organization.created", org_id, name=name)
    try:
        await store.transact([
            Put(org.to_item(), item_missing()),
            Put(admin.to_item(), item_missing()),
            Put(email_claim_item(org_id, owner_email, owner_id), item_missing()),
            activity.put_event(e),
        ])
    except TransactionCanceled:
        raise AlreadyExists("this organization already exists") from None
    return org, admin


async def set_plan(store: Store, org_id: str, plan: str, *, max_members: int | None = None
                   ) -> Organization:
    """The operator's decision (``devinsights set-plan``), never a caller's: the plan and
    its seat limit (the plan's default unless given). Refused, changing nothing, when the
    organization already has more members than the new limit."""
    if plan not in DEFAULT_MAX_MEMBERS:
        raise ValueError(f"unknown plan {plan!r}")
    seats = max_members if max_members is not None else DEFAULT_MAX_MEMBERS[plan]
    key = keys.organization(org_id)
    try:
        item = await store.update(key, [Set("plan", plan), Set("maxMembers", seats),
                                        Set("updatedAt", now_ms()), Add("version", 1)],
                                  condition=item_exists() & attr_lt("currentMembers", seats + 1))
    except ConditionFailed:
        current = await get(store, org_id, consistent=True)
        if current is None:
            raise NotFound(f"no organization {org_id!r} in this store") from None
        raise MemberLimitReached(
            f"{org_id} has {current.current_members} members; the {plan} plan with "
            f"{seats} seats cannot hold them (remove members first, or give more seats)",
            current.max_members) from None
    return Organization.from_item(item)


async def update_settings(store: Store, actor: Actor, expected_version: int | None,
                          changes: Mapping[str, Any], *, name: str | None = None
                          ) -> Organization:
    """Change settings fields (dotted paths under ``settings``) if the version still matches.

    Without ``expected_version`` the change applies to whatever is current: a concurrent
    writer in between makes it read and try again, never overwrite that writer's fields.
    The result is the item read before the write with the changes applied: the version
    condition guarantees that is what was written, while a read afterwards could already
    show a later writer's change.
    """
    updates: list[Change] = [Set(f"settings.{path}", value) for path, value in changes.items()]
    if name is not None:
        updates.append(Set("name", name))
    updates += [Set("updatedAt", now_ms()), Add("version", 1)]
    org_id = actor.org_id
    key = keys.organization(org_id)
    for attempt in range(1 if expected_version is not None else 3):
        current = await store.get(key, consistent=True)
        if current is None:
            raise NotFound("organization not found")
        version = expected_version if expected_version is not None else current.get("version")
        conflict = VersionConflict(
            f"the organization changed since version {version} (now "
            f"{current.get('version')}); reload it and apply your change again")
        if current.get("version") != version:
            raise conflict
        e = activity.event(store, org_id, actor.user_id, "organization.settings_updated",
                           org_id, fields=sorted(changes) + (["name"] if name is not None
                                                             else []))
        try:
            await actor.transact(store, [
                Update(key, tuple(updates), item_exists() & attr_eq("version", version)),
                activity.put_event(e),
            ])
        except TransactionCanceled as exc:
            if expected_version is None and exc.failed(0) and attempt < 2:
                continue
            raise conflict from None
        return Organization.from_item(apply_changes(copy.deepcopy(current), updates))
    raise AssertionError("unreachable")


async def transfer_ownership(store: Store, actor: Actor, new_owner_id: str,
                             expected_version: int | None = None
                             ) -> tuple[Organization, Member]:
    """Make an active member the owner; only the owner may (NotOwner otherwise).

    A new owner who is not an admin becomes one. One transaction: the organization (owner,
    version, counters) under its version and ``ownerId``, the new owner under their version
    (so a concurrent removal, suspension or role change makes this fail, not act on a
    person who changed), the event, and the actor's own condition. Transferring to oneself
    changes nothing. Returns the organization and the new owner as written.
    """
    org_id = actor.org_id
    org_key = keys.organization(org_id)
    org_item = await store.get(org_key, consistent=True)
    if org_item is None:
        raise NotFound("organization not found")
    org = Organization.from_item(org_item)
    if org.owner_id != actor.user_id:
        raise NotOwner("only the organization's owner can transfer ownership")
    version = expected_version if expected_version is not None else org.version
    org_conflict = VersionConflict(
        f"the organization changed since version {version} (now {org.version}); reload it "
        "and try again")
    if org.version != version:
        raise org_conflict
    if new_owner_id == actor.user_id:
        return org, actor.member
    member_key = keys.member(org_id, new_owner_id)
    member_item = await store.get(member_key, consistent=True)
    if member_item is None:
        raise NotFound("member not found: the new owner must be a member of the organization")
    target = Member.from_item(member_item)
    if target.status is not MemberStatus.ACTIVE:
        raise MemberNotActive("the new owner is suspended; reactivate them first")
    now = now_ms()
    deltas = members.tally(members.slot(target), (Role.ADMIN, MemberStatus.ACTIVE))
    org_changes: tuple[Change, ...] = (Set("ownerId", new_owner_id), Set("updatedAt", now),
                                       Add("version", 1), *members.count_changes(deltas))
    member_changes: tuple[Change, ...] = ()
    if target.role is not Role.ADMIN:
        member_changes = (Set("role", Role.ADMIN.value),
                          Set("permissions", [p.value for p in ROLE_PERMISSIONS[Role.ADMIN]]),
                          Set("updatedAt", now), Add("version", 1))
    member_guard = item_exists() & attr_eq("version", target.version)
    actions: list[Action] = [
        Update(org_key, org_changes, item_exists() & attr_eq("version", version)
               & attr_eq("ownerId", actor.user_id)),
        Update(member_key, member_changes, member_guard) if member_changes
        else Check(member_key, member_guard),
        activity.put_event(activity.event(store, org_id, actor.user_id,
                                          "organization.ownership_transferred", new_owner_id,
                                          previousOwnerId=actor.user_id)),
    ]
    try:
        await actor.transact(store, actions)
    except TransactionCanceled as exc:
        if exc.failed(0):
            now_item = await store.get(org_key, consistent=True)
            if now_item is not None and now_item.get("ownerId") != actor.user_id:
                raise NotOwner("ownership was transferred meanwhile; only the owner can "
                               "transfer it") from None
            raise org_conflict from None
        latest = await members.get(store, org_id, new_owner_id, consistent=True)
        if latest is None:
            raise NotFound("the new owner was removed meanwhile; nothing was changed") from None
        if latest.status is not MemberStatus.ACTIVE:
            raise MemberNotActive("the new owner was suspended meanwhile; nothing was "
                                  "changed") from None
        raise VersionConflict("the new owner changed meanwhile; reload and try again"
                              ) from None
    new_org = Organization.from_item(apply_changes(copy.deepcopy(org_item), org_changes))
    new_owner = Member.from_item(apply_changes(copy.deepcopy(member_item), member_changes))
    return new_org, new_owner


BACKFILL_ATTEMPTS = 5


async def backfill_member_counts(store: Store, org_id: str) -> Organization:
    """Give an organization made before the per-role/status counters exact ones.

    Reads the organization, then every person (strongly consistent), and sets the counters
    only if no counted change happened in between (``memberChanges`` unchanged) and the
    guard counters (``currentMembers``, ``adminCount``) agree with the people read; they are
    never overwritten. Idempotent. Costs a read, one Query of the team and one update. Run
    it once every server writes ``memberChanges`` (this version): an older one's changes
    would go unseen.
    """
    key = keys.organization(org_id)
    for _ in range(BACKFILL_ATTEMPTS):
        item = await store.get(key, consistent=True)
        if item is None:
            raise NotFound("organization not found")
        if item.get(COUNTS_EXACT) is True:
            return Organization.from_item(item)
        seen = item.get(MEMBER_CHANGES)
        people = await store.query_all(Query(partition=keys.org_pk(org_id),
                                             prefix=keys.MEMBER, consistent=True))
        counts = Counter(members.slot(Member.from_item(p)) for p in people)
        admins = counts[(Role.ADMIN, MemberStatus.ACTIVE)]
        changes: list[Change] = [Set(count_attribute(s), counts[s]) for s in SLOTS
                                 if count_attribute(s) != ACTIVE_ADMINS]
        changes.append(Set(COUNTS_EXACT, True))
        unchanged = Cond("missing", MEMBER_CHANGES) if seen is None \
            else attr_eq(MEMBER_CHANGES, seen)
        try:
            updated = await store.update(key, changes, condition=(
                item_exists() & Cond("missing", COUNTS_EXACT) & unchanged
                & attr_eq("currentMembers", len(people)) & attr_eq(ACTIVE_ADMINS, admins)))
        except ConditionFailed:
            continue  # a change was counted meanwhile (or another backfill won): read again
        return Organization.from_item(updated)
    raise VersionConflict("the organization's people kept changing during the backfill, or "
                          "its currentMembers/adminCount disagree with the people stored; "
                          "try again")


async def count_api_call(store: Store, org_id: str, period: str, amount: int = 1
                         ) -> tuple[int, int]:
    """Count ``amount`` API calls in ``period``, atomically across processes; a later period
    resets the count.

    Periods must sort in time order (``2025-01``). A process whose clock still reads the
    previous period counts into the current one: resetting to its own period would drop the
    calls already counted there. Returns (calls so far in the stored period, limit).
    """
    key = keys.organization(org_id)
    stored = "usage.apiCalls.period"
    count = [Add("usage.apiCalls.current", amount)]
    try:
        item = await store.update(key, count, condition=attr_eq(stored, period))
    except ConditionFailed:
        try:
            item = await store.update(
                key, [Set("usage.apiCalls.current", amount), Set(stored, period)],
                condition=item_exists() & attr_lt(stored, period))
        except ConditionFailed:
            # Another process opened this period first, or a later one has begun (count on
            # top of it), or the organization does not exist (the last attempt says so).
            try:
                item = await store.update(key, count,
                                          condition=item_exists() & Cond("ge", stored, period))
            except ConditionFailed:
                raise NotFound("organization not found") from None
    calls = item["usage"]["apiCalls"]
    return int(calls["current"]), int(calls.get("limit", DEFAULT_API_CALL_LIMIT))
