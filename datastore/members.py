"""People of an organization, every role under one ``MEMBER#`` prefix.

The organization item carries ``currentMembers`` and ``adminCount``; every change to the set
of people or to who is an admin updates them in the same transaction, under conditions, so
the limits hold under any concurrency: ``currentMembers`` never exceeds ``maxMembers`` and
always equals the number of people, and an organization always keeps one admin.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from datastore import activity, keys
from datastore.actors import Actor
from datastore.errors import (
    AlreadyExists,
    DomainError,
    EmailTaken,
    LastAdmin,
    MemberLimitReached,
    NotFound,
    TransactionCanceled,
    VersionConflict,
)
from datastore.records import (
    ROLE_PERMISSIONS,
    ActivityEvent,
    Member,
    Role,
    email_claim_item,
    now_ms,
)
from datastore.store import (
    Action,
    Add,
    Change,
    Delete,
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


async def memberships(store: Store, user_id: str) -> list[dict[str, Any]]:
    """GSI2: the organizations a user has joined, oldest first (identity use only)."""
    items = await store.query_all(Query(partition=keys.user_index(user_id), index="GSI2",
                                        prefix=keys.JOINED))
    return [{"organizationId": i["organizationId"], "role": i["role"]} for i in items]


def _org_counter(org_id: str, members: int, admins: int, *, last_admin_guard: bool
                 ) -> Update:
    changes: list[Change] = []
    if members:
        changes.append(Add("currentMembers", members))
    if admins:
        changes.append(Add("adminCount", admins))
    cond = item_exists()
    if members > 0:
        cond = cond & attr_lt("currentMembers", Ref("maxMembers"))
    if last_admin_guard:
        cond = cond & attr_gt("adminCount", 1)
    return Update(keys.organization(org_id), tuple(changes), cond)


async def add(store: Store, member: Member, event: ActivityEvent,
              extra: Sequence[Action] = (),
              on_extra_failure: Callable[[int], DomainError] | None = None) -> Member:
    """Add a person: counter, person, email claim, ``extra`` actions and event, atomically."""
    admins = 1 if member.role is Role.ADMIN else 0
    actions: list[Action] = [
        _org_counter(member.org_id, 1, admins, last_admin_guard=False),
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


async def remove(store: Store, actor: Actor, user_id: str) -> Member:
    org_id = actor.org_id
    current = await get(store, org_id, user_id, consistent=True)
    if current is None:
        raise NotFound("member not found")
    is_admin = current.role is Role.ADMIN
    e = activity.event(store, org_id, actor.user_id, "member.removed", user_id)
    try:
        await actor.transact(store, [
            Delete(keys.member(org_id, user_id), attr_eq("version", current.version)),
            Delete(keys.member_email(org_id, current.email), attr_eq("userId", user_id)),
            _org_counter(org_id, -1, -1 if is_admin else 0, last_admin_guard=is_admin),
            activity.put_event(e),
        ])
    except TransactionCanceled as exc:
        if exc.failed(2) and is_admin:
            raise LastAdmin("cannot remove the last admin; make someone else an admin first"
                            ) from None
        if exc.failed(0) and await get(store, org_id, user_id, consistent=True) is None:
            raise NotFound("member not found") from None
        raise VersionConflict("the member changed while being removed; try again") from None
    return current


async def change_role(store: Store, actor: Actor, user_id: str, role: Role,
                      expected_version: int | None = None) -> Member:
    """One conditional update of the person (plus the admin counter when admins change).

    Like every versioned update here, the result is the person read before the write with
    the change applied; the version condition makes that exactly what was written.
    """
    org_id = actor.org_id
    key = keys.member(org_id, user_id)
    item = await store.get(key, consistent=True)
    if item is None:
        raise NotFound("member not found")
    current = Member.from_item(item)
    version = expected_version if expected_version is not None else current.version
    conflict = VersionConflict(f"the member changed since version {version}; reload and retry")
    if version != current.version:
        raise conflict
    if current.role is role:
        return current
    changes: tuple[Change, ...] = (
        Set("role", role.value), Set("permissions", list(ROLE_PERMISSIONS[role])),
        Set("updatedAt", now_ms()), Add("version", 1))
    actions: list[Action] = [Update(key, changes, item_exists() & attr_eq("version", version))]
    demoting = current.role is Role.ADMIN and role is not Role.ADMIN
    promoting = role is Role.ADMIN and current.role is not Role.ADMIN
    if demoting or promoting:
        actions.append(_org_counter(org_id, 0, -1 if demoting else 1,
                                    last_admin_guard=demoting))
    actions.append(activity.put_event(activity.event(
        store, org_id, actor.user_id, "member.role_changed", user_id, role=role.value)))
    try:
        await actor.transact(store, actions)
    except TransactionCanceled as exc:
        if demoting and exc.failed(1):
            raise LastAdmin("cannot demote the last admin; make someone else an admin first"
                            ) from None
        if exc.failed(0) and await store.get(key, consistent=True) is None:
            raise NotFound("member not found") from None
        raise conflict from None
    return Member.from_item(apply_changes(copy.deepcopy(item), changes))


async def update_fields(store: Store, actor: Actor, user_id: str, fields: Mapping[str, Any],
                        expected_version: int | None = None,
                        action: str = "member.updated", *, current: Member | None = None
                        ) -> Member:
    """Set top-level or dotted fields of a person, guarded by its version.

    ``current`` is the person as a strongly consistent read just found them (the caller's
    own membership, read at the edge): then nothing is read again; the version condition
    still refuses the write if they changed since.
    """
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
