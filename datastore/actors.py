"""The person making a change, and what their membership must still say when it commits.

Permission is decided at the edge, from the membership read when the request began. Between
that read and the write an admin may remove, suspend or demote the person, so every
mutation's transaction also carries a condition on the actor's own member item: a
concurrent demotion or removal wins, and the write is refused as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from datastore import keys
from datastore.errors import ActorNotAllowed, TransactionCanceled
from datastore.keys import Key
from datastore.records import ROLE_PERMISSIONS, Member, MemberStatus, Permission, Role
from datastore.store import (
    Action,
    Check,
    Cond,
    Delete,
    Put,
    Store,
    Update,
    attr_eq,
    attr_in,
    evaluate,
)


def is_active() -> Cond:
    return attr_eq("status", MemberStatus.ACTIVE.value)


def roles_with(permission: Permission) -> tuple[Role, ...]:
    roles = tuple(r for r, granted in ROLE_PERMISSIONS.items() if permission in granted)
    if not roles:
        raise ValueError(f"no role has the permission {permission!r}")
    return roles


def has_permission(permission: Permission) -> Cond:
    return is_active() & attr_in("role", [r.value for r in roles_with(permission)])


@dataclass(frozen=True, slots=True)
class Actor:
    member: Member
    condition: Cond

    @property
    def org_id(self) -> str:
        return self.member.org_id

    @property
    def user_id(self) -> str:
        return self.member.user_id

    @property
    def key(self) -> Key:
        return keys.member(self.org_id, self.user_id)

    def guarded(self, actions: Sequence[Action]) -> tuple[list[Action], int]:
        """``actions`` with the actor's condition on them, and the index that carries it: the
        action on the actor's own item when there is one, else a Check added at the end."""
        out = list(actions)
        for index, action in enumerate(out):
            if action.key == self.key and not isinstance(action, Check):
                assert isinstance(action, Put | Update | Delete)
                both = self.condition if action.condition is None \
                    else action.condition & self.condition
                out[index] = replace(action, condition=both)
                return out, index
        out.append(Check(self.key, self.condition))
        return out, len(out) - 1

    async def transact(self, store: Store, actions: Sequence[Action]) -> None:
        """Run the actions guarded; raise ActorNotAllowed when the actor's condition is what
        failed, else let the cancellation through for the caller to map."""
        guarded, index = self.guarded(actions)
        try:
            await store.transact(guarded)
        except TransactionCanceled as exc:
            if not exc.failed(index):
                raise
            # On the actor's own item the condition shares the action with others (a
            # version): read it again to tell which one failed.
            if isinstance(guarded[index], Check) or not evaluate(
                    self.condition, await store.get(self.key, consistent=True)):
                raise ActorNotAllowed(
                    "your membership changed while this ran (removed, suspended or role "
                    "changed); nothing was changed") from None
            raise


def acting(member: Member, permission: Permission | None = None) -> Actor:
    """``member`` acting with ``permission`` (any active member when None)."""
    return Actor(member, has_permission(permission) if permission else is_active())
