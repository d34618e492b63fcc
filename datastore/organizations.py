"""The organization item: creation with its first admin, settings, usage counters."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from datastore import activity, keys
from datastore.actors import Actor
from datastore.errors import (
    AlreadyExists,
    ConditionFailed,
    NotFound,
    TransactionCanceled,
    VersionConflict,
)
from datastore.records import (
    Member,
    MemberStatus,
    Organization,
    Role,
    default_settings,
    email_claim_item,
    now_ms,
)
from datastore.store import (
    Add,
    Change,
    Cond,
    Put,
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


async def update_settings(store: Store, actor: Actor, expected_version: int,
                          changes: Mapping[str, Any], *, name: str | None = None
                          ) -> Organization:
    """Change settings fields (dotted paths under ``settings``) if the version still matches.

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
    current = await store.get(key, consistent=True)
    if current is None:
        raise NotFound("organization not found")
    conflict = VersionConflict(
        f"the organization changed since version {expected_version} (now "
        f"{current.get('version')}); reload it and apply your change again")
    if current.get("version") != expected_version:
        raise conflict
    e = activity.event(store, org_id, actor.user_id, "organization.settings_updated", org_id,
                       fields=sorted(changes) + (["name"] if name is not None else []))
    try:
        await actor.transact(store, [
            Update(key, tuple(updates), item_exists() & attr_eq("version", expected_version)),
            activity.put_event(e),
        ])
    except TransactionCanceled:
        raise conflict from None
    return Organization.from_item(apply_changes(copy.deepcopy(current), updates))


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
