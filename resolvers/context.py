"""The per-request context: who is calling (decided once, at the edge), the store, loaders."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from datastore import keys
from datastore.actors import Actor
from datastore.records import Member, MemberStatus, Organization
from datastore.store import CallLog, Store
from resolvers.events import ActivityBroker
from resolvers.github import GitHubSource
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
    default_plan: str = "free"  # of every new organization; the operator changes it
    # The longest an open subscription delivers under a membership it has not re-read.
    membership_recheck_seconds: float = 30.0
    # Fewer analyzed people than this, and those who may not see per-person analytics get
    # no aggregates of them (schema/permissions.AnalyticsView).
    analytics_min_group_size: int = 3
    # How refreshGitHubData reaches GitHub; None: this server has no GitHub credentials.
    github: GitHubSource | None = None


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
    # Set by a mutation's permission check just before its body runs: who acts, and what
    # their membership must still say when the write commits.
    actor: Actor | None = None
    calls: CallLog = field(default_factory=CallLog)
    # What the schema built from records this request, so it builds each once (schema/types).
    views: dict[int, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # When member and organization were read (time.monotonic()).
    read_at: float = field(default_factory=time.monotonic)

    def acting(self) -> Actor:
        """The actor of the mutation running now (its permission check set it)."""
        assert self.actor is not None, "a mutation's permission check sets the actor first"
        return self.actor

    def observe(self, *, member: Member | None = None,
                organization: Organization | None = None) -> None:
        """A mutation wrote these: the rest of the request (its result's fields) resolves
        under the state after it, not the membership read when the request began."""
        if member is not None and member.user_id == self.caller.user_id \
                and member.org_id == self.caller.org_id:
            self.member = member
        if organization is not None and organization.org_id == self.caller.org_id:
            self.organization = organization
            self.loaders.team_size = organization.current_members

    async def refresh(self) -> None:
        """Read the caller's membership and organization again (strongly consistent)."""
        self.read_at = time.monotonic()
        member, org = await read_membership(self.store, self.caller)
        self.member, self.organization = member, org
        if org is not None:
            self.loaders.team_size = org.current_members

    def renew(self) -> None:
        """Start over as a new request would, keeping the membership: what the loaders and
        the schema cached belongs to the previous event of a subscription, not this one."""
        self.loaders = Loaders(self.store, self.caller.org_id)
        if self.member is not None:
            self.loaders.prime_members([self.member])
        if self.organization is not None:
            self.loaders.team_size = self.organization.current_members
        self.views.clear()

    @property
    def active_member(self) -> Member | None:
        """The caller's membership if it is active now; the token alone grants nothing."""
        m = self.member
        return m if m is not None and m.status is MemberStatus.ACTIVE else None


async def make_context(store: Store, caller: Caller, settings: ApiSettings,
                       broker: ActivityBroker, *, request_id: str | None = None,
                       calls: CallLog | None = None) -> Context:
    """Load the caller's membership and organization in one store call and build loaders.

    The read is strongly consistent: it decides what the caller may do, and a person removed
    or demoted a moment ago must not be served from a replica that has not heard of it.
    """
    loaders = Loaders(store, caller.org_id)
    member, org = await read_membership(store, caller)
    if member is not None:
        loaders.prime_members([member])
    if org is not None:
        loaders.team_size = org.current_members
    return Context(store=store, caller=caller, settings=settings, loaders=loaders,
                   broker=broker, request_id=request_id or uuid.uuid4().hex, member=member,
                   organization=org, calls=calls or CallLog())


async def read_membership(store: Store, caller: Caller
                          ) -> tuple[Member | None, Organization | None]:
    """The caller's member item and organization, one strongly consistent BatchGetItem."""
    found = await store.batch_get([keys.member(caller.org_id, caller.user_id),
                                   keys.organization(caller.org_id)], consistent=True)
    member_item = found.get(keys.member(caller.org_id, caller.user_id))
    org_item = found.get(keys.organization(caller.org_id))
    return (Member.from_item(member_item) if member_item else None,
            Organization.from_item(org_item) if org_item else None)
