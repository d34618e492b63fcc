"""Item shapes of the single table, one dataclass per entity, discriminated by ``entityType``.

Timestamps are epoch milliseconds, as in the design doc. ``expiresAt`` is epoch SECONDS:
DynamoDB's TTL only understands seconds, and the design doc's millisecond examples would
never expire (a millisecond value reads as a date tens of thousands of years away).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from datastore import keys
from datastore.store import Item


class Role(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class Permission(enum.StrEnum):
    """The design's permission names: what member items store and what the schema checks."""

    READ_OWN_DATA = "read_own_data"
    READ_TEAM_DATA = "read_team_data"
    WRITE_TEAM_DATA = "write_team_data"
    INVITE_MEMBERS = "invite_members"
    REMOVE_MEMBERS = "remove_members"
    MANAGE_SETTINGS = "manage_settings"
    VIEW_REPORTS = "view_reports"
    GENERATE_REPORTS = "generate_reports"
    VIEW_TEAM_STATS = "view_team_stats"


P = Permission
ROLE_PERMISSIONS: dict[Role, tuple[Permission, ...]] = {
    Role.ADMIN: (P.READ_OWN_DATA, P.READ_TEAM_DATA, P.WRITE_TEAM_DATA, P.INVITE_MEMBERS,
                 P.REMOVE_MEMBERS, P.MANAGE_SETTINGS, P.VIEW_REPORTS, P.GENERATE_REPORTS),
    Role.MEMBER: (P.READ_OWN_DATA, P.READ_TEAM_DATA, P.VIEW_REPORTS),
    Role.VIEWER: (P.VIEW_TEAM_STATS, P.VIEW_REPORTS),
}

DAY_SECONDS = 24 * 3600

# The organization counts its people per role and status, for the totalCount of any filtered
# listing. ``adminCount`` is the (admin, active) counter: the last-admin guards read it, and
# it was already exact before the other counters existed (nobody could be suspended then).
Slot = tuple[Role, MemberStatus]
SLOTS: tuple[Slot, ...] = tuple((r, s) for r in Role for s in MemberStatus)
ACTIVE_ADMINS = "adminCount"
# Set when every per-slot counter is exact: at creation, or by the backfill of an
# organization made before the counters existed (whose counters are partial until then).
COUNTS_EXACT = "memberCountsExact"
# Bumped by every write that changes a counter: the backfill commits only if it is unchanged.
MEMBER_CHANGES = "memberChanges"


def count_attribute(slot: Slot) -> str:
    """The organization attribute counting the people of one role and status."""
    role, status = slot
    if slot == (Role.ADMIN, MemberStatus.ACTIVE):
        return ACTIVE_ADMINS
    return f"{role.value}{status.value.capitalize()}Count"


def now_ms() -> int:
    return int(time.time() * 1000)


def default_settings() -> dict[str, Any]:
    return {
        "allowMembersViewOthers": True,
        "privacyMode": "team_transparent",
        "timezone": "UTC",
        "features": {"codeQuality": True, "burnoutDetection": True, "teamAnalytics": True,
                     "aiReports": True},
        "emailNotifications": {"burnoutAlerts": True, "weeklyReports": True,
                               "criticalAlerts": True},
    }


@dataclass(slots=True)
class Organization:
    org_id: str
    name: str
    plan: str
    max_members: int
    current_members: int
    admin_count: int
    owner_id: str
    settings: dict[str, Any]
    usage: dict[str, Any]
    created_at: int
    updated_at: int
    version: int = 1
    # People per (role, status), or None for an organization made before these counters
    # existed and not backfilled yet (organizations.backfill_member_counts).
    member_counts: dict[Slot, int] | None = None

    def to_item(self) -> Item:
        item: Item = {
            **keys.organization(self.org_id).as_dict(),
            "entityType": "ORGANIZATION", "organizationId": self.org_id, "name": self.name,
            "plan": self.plan, "maxMembers": self.max_members,
            "currentMembers": self.current_members, ACTIVE_ADMINS: self.admin_count,
            "ownerId": self.owner_id, "settings": self.settings, "usage": self.usage,
            "createdAt": self.created_at, "updatedAt": self.updated_at, "version": self.version,
        }
        if self.member_counts is not None:
            for slot in SLOTS:
                if count_attribute(slot) != ACTIVE_ADMINS:
                    item[count_attribute(slot)] = self.member_counts.get(slot, 0)
            item[COUNTS_EXACT] = True
        return item

    @classmethod
    def from_item(cls, item: Item) -> Organization:
        admins = item.get(ACTIVE_ADMINS, 0)
        counts = {slot: item.get(count_attribute(slot), 0) for slot in SLOTS} \
            if item.get(COUNTS_EXACT) is True else None
        return cls(
            org_id=item["organizationId"], name=item["name"], plan=item["plan"],
            max_members=item["maxMembers"], current_members=item["currentMembers"],
            admin_count=admins, owner_id=item["ownerId"],
            settings=item.get("settings") or {}, usage=item.get("usage") or {},
            created_at=item["createdAt"], updated_at=item["updatedAt"],
            version=item.get("version", 1), member_counts=counts,
        )


@dataclass(slots=True)
class Member:
    org_id: str
    user_id: str
    email: str
    name: str
    role: Role
    status: MemberStatus = MemberStatus.ACTIVE
    github_username: str | None = None
    preferences: dict[str, Any] = field(default_factory=dict)
    invited_by: str | None = None
    joined_at: int = 0
    last_login_at: int | None = None
    created_at: int = 0
    updated_at: int = 0
    version: int = 1

    @property
    def permissions(self) -> tuple[Permission, ...]:
        return ROLE_PERMISSIONS[self.role]

    def to_item(self) -> Item:
        return {
            **keys.member(self.org_id, self.user_id).as_dict(),
            "GSI1PK": keys.email_index(self.email), "GSI1SK": keys.user_index(self.user_id),
            "GSI2PK": keys.user_index(self.user_id), "GSI2SK": keys.joined_index(self.joined_at),
            "entityType": "MEMBER", "organizationId": self.org_id, "userId": self.user_id,
            "email": keys.normalize_email(self.email), "name": self.name,
            "role": self.role.value, "status": self.status.value,
            "githubUsername": self.github_username,
            "permissions": [p.value for p in self.permissions],
            "preferences": self.preferences, "invitedBy": self.invited_by,
            "joinedAt": self.joined_at, "lastLoginAt": self.last_login_at,
            "createdAt": self.created_at, "updatedAt": self.updated_at, "version": self.version,
        }

    @classmethod
    def from_item(cls, item: Item) -> Member:
        return cls(
            org_id=item["organizationId"], user_id=item["userId"], email=item["email"],
            name=item["name"], role=Role(item["role"]), status=MemberStatus(item["status"]),
            github_username=item.get("githubUsername"), preferences=item.get("preferences") or {},
            invited_by=item.get("invitedBy"), joined_at=item.get("joinedAt", 0),
            last_login_at=item.get("lastLoginAt"), created_at=item.get("createdAt", 0),
            updated_at=item.get("updatedAt", 0), version=item.get("version", 1),
        )


def email_claim_item(org_id: str, email: str, user_id: str) -> Item:
    """The item whose existence reserves an email for one person of the org."""
    return {**keys.member_email(org_id, email).as_dict(), "entityType": "EMAIL_CLAIM",
            "organizationId": org_id, "userId": user_id}


def invitation_claim_item(org_id: str, email: str, invite_id: str, expires_at: int) -> Item:
    """The item that makes ``invite_id`` the one live pending invitation of ``email``.

    It expires with the invitation (same ``expiresAt``, so TTL removes both) and is deleted
    when the invitation is accepted or revoked: a live claim always names a pending,
    unexpired invitation.
    """
    return {**keys.invitation_email(org_id, email).as_dict(), "entityType": "INVITATION_CLAIM",
            "organizationId": org_id, "inviteId": invite_id, "expiresAt": expires_at}


@dataclass(slots=True)
class Invitation:
    org_id: str
    invite_id: str
    email: str
    name: str | None
    role: Role
    invited_by: str
    invited_by_name: str | None
    status: InvitationStatus
    token_hash: str
    created_at: int
    expires_at: int  # epoch seconds
    github_username: str | None = None
    accepted_at: int | None = None
    accepted_by: str | None = None

    def to_item(self) -> Item:
        return {
            **keys.invitation(self.org_id, self.invite_id).as_dict(),
            "entityType": "INVITATION", "organizationId": self.org_id,
            "inviteId": self.invite_id, "email": keys.normalize_email(self.email),
            "name": self.name, "role": self.role.value, "githubUsername": self.github_username,
            "invitedBy": self.invited_by, "invitedByName": self.invited_by_name,
            "status": self.status.value, "tokenHash": self.token_hash,
            "createdAt": self.created_at, "expiresAt": self.expires_at,
            "acceptedAt": self.accepted_at, "acceptedBy": self.accepted_by,
        }

    @classmethod
    def from_item(cls, item: Item) -> Invitation:
        return cls(
            org_id=item["organizationId"], invite_id=item["inviteId"], email=item["email"],
            name=item.get("name"), role=Role(item["role"]), invited_by=item["invitedBy"],
            invited_by_name=item.get("invitedByName"), status=InvitationStatus(item["status"]),
            token_hash=item["tokenHash"], created_at=item["createdAt"],
            expires_at=item["expiresAt"], github_username=item.get("githubUsername"),
            accepted_at=item.get("acceptedAt"), accepted_by=item.get("acceptedBy"),
        )


@dataclass(slots=True)
class GitHubData:
    org_id: str
    github_username: str
    user_id: str | None
    data: dict[str, Any]
    cached_at: int
    expires_at: int  # epoch seconds
    data_source: str
    generation_time: str | None = None
    api_calls_made: int | None = None

    def to_item(self) -> Item:
        return {
            **keys.github_data(self.org_id, self.github_username).as_dict(),
            "entityType": "GITHUB_DATA", "organizationId": self.org_id,
            "githubUsername": self.github_username, "userId": self.user_id, "data": self.data,
            "cachedAt": self.cached_at, "expiresAt": self.expires_at,
            "dataSource": self.data_source, "generationTime": self.generation_time,
            "apiCallsMade": self.api_calls_made,
        }

    @classmethod
    def from_item(cls, item: Item) -> GitHubData:
        return cls(
            org_id=item["organizationId"], github_username=item["githubUsername"],
            user_id=item.get("userId"), data=item.get("data") or {},
            cached_at=item["cachedAt"], expires_at=item["expiresAt"],
            data_source=item.get("dataSource") or "unknown",
            generation_time=item.get("generationTime"), api_calls_made=item.get("apiCallsMade"),
        )


@dataclass(slots=True)
class TeamReport:
    org_id: str
    report_date: str
    report_id: str
    report_type: str
    generated_by: str
    generated_by_name: str | None
    data: dict[str, Any]
    generated_at: int
    expires_at: int  # epoch seconds

    def to_item(self) -> Item:
        return {
            **keys.team_report(self.org_id, self.report_date).as_dict(),
            "entityType": "TEAM_REPORT", "organizationId": self.org_id,
            "reportId": self.report_id, "reportDate": self.report_date,
            "reportType": self.report_type, "generatedBy": self.generated_by,
            "generatedByName": self.generated_by_name, "data": self.data,
            "generatedAt": self.generated_at, "expiresAt": self.expires_at,
        }

    @classmethod
    def from_item(cls, item: Item) -> TeamReport:
        return cls(
            org_id=item["organizationId"], report_date=item["reportDate"],
            report_id=item["reportId"], report_type=item.get("reportType", "daily"),
            generated_by=item["generatedBy"], generated_by_name=item.get("generatedByName"),
            data=item.get("data") or {}, generated_at=item["generatedAt"],
            expires_at=item["expiresAt"],
        )


@dataclass(slots=True)
class ActivityEvent:
    org_id: str
    event_id: str
    at: int  # epoch ms
    actor_id: str
    action: str
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    expires_at: int | None = None

    def to_item(self) -> Item:
        item: Item = {
            **keys.activity(self.org_id, self.at, self.event_id).as_dict(),
            "GSI2PK": keys.activity_index(self.org_id),
            "GSI2SK": keys.activity_time(self.at, self.event_id),
            "entityType": "ACTIVITY", "organizationId": self.org_id, "eventId": self.event_id,
            "at": self.at, "actorId": self.actor_id, "action": self.action,
            "target": self.target, "details": self.details,
        }
        if self.expires_at is not None:
            item["expiresAt"] = self.expires_at
        return item

    @classmethod
    def from_item(cls, item: Item) -> ActivityEvent:
        return cls(
            org_id=item["organizationId"], event_id=item["eventId"], at=item["at"],
            actor_id=item["actorId"], action=item["action"], target=item.get("target"),
            details=item.get("details") or {}, expires_at=item.get("expiresAt"),
        )
