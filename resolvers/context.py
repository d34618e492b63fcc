"""The per-request context: who is calling (decided once, at the edge), the store, loaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from datastore import keys
from datastore.records import Member, MemberStatus, Organization
from datastore.store import CallLog, Store
from resolvers.events import ActivityBroker
from resolvers.loaders import Loaders


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified identity from the token. Role and status come from the store, not here."""

    user_id: str
    org_id: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ApiSettings:
    cursor_secret: bytes
    report_ttl_seconds: int = 24 * 3600
    invitation_ttl_seconds: int = 24 * 3600
    github_data_ttl_seconds: int = 24 * 3600
    max_page_size: int = 100


@dataclass
class Context:
    store: Store
    caller: Caller
    settings: ApiSettings
    loaders: Loaders
    broker: ActivityBroker
    request_id: str
    member: Member | None = None
    organization: Organization | None = None
    calls: CallLog = field(default_factory=CallLog)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active_member(self) -> Member | None:
        """The caller's membership if it is active now; the token alone grants nothing."""
        m = self.member
        return m if m is not None and m.status is MemberStatus.ACTIVE else None


async def make_context(store: Store, caller: Caller, settings: ApiSettings,
                       broker: ActivityBroker, *, request_id: str | None = None,
                       calls: CallLog | None = None) -> Context:
    """Load the caller's membership and organization in one store call and build loaders."""
    loaders = Loaders(store, caller.org_id)
    found = await store.batch_get([keys.member(caller.org_id, caller.user_id),
                                   keys.organization(caller.org_id)])
    member_item = found.get(keys.member(caller.org_id, caller.user_id))
    org_item = found.get(keys.organization(caller.org_id))
    member = Member.from_item(member_item) if member_item else None
    org = Organization.from_item(org_item) if org_item else None
    if member is not None:
        loaders.prime_members([member])
    return Context(store=store, caller=caller, settings=settings, loaders=loaders,
                   broker=broker, request_id=request_id or uuid.uuid4().hex, member=member,
                   organization=org, calls=calls or CallLog())
