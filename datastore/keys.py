"""Every key of the single table is built here, and only here.

All items of an organization live under ``PK = ORG#{orgId}``. People of every role share
one sort-key prefix (``MEMBER#{userId}``) and carry their role as an attribute: listing the
team is one Query and a role change is one conditional update of one item. The design doc's
``ADMIN#``/``VIEWER#`` prefixes would make both of those multi-item operations.
"""

from __future__ import annotations

from dataclasses import dataclass

ORG = "ORG#"
MEMBER = "MEMBER#"
EMAIL = "EMAIL#"
INVITE = "INVITE#"
INVITE_EMAIL = "INVITE_EMAIL#"
GITHUB_DATA = "GITHUB_DATA#"
TEAM_REPORT = "TEAM_REPORT#"
ACTIVITY = "ACTIVITY#"
USER = "USER#"
JOINED = "JOINED#"
ORG_ACTIVITY = "ORG_ACTIVITY#"
TIMESTAMP = "TIMESTAMP#"

TABLE_KEYS = ("PK", "SK")
INDEX_KEYS = {"GSI1": ("GSI1PK", "GSI1SK"), "GSI2": ("GSI2PK", "GSI2SK")}
ALL_KEY_ATTRIBUTES = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"})


@dataclass(frozen=True, slots=True)
class Key:
    """The primary key of one item."""

    pk: str
    sk: str

    def as_dict(self) -> dict[str, str]:
        return {"PK": self.pk, "SK": self.sk}


class InvalidKeyPart(ValueError):
    """An id that cannot be part of a key; the message names the field, not other data."""


def _checked(part: str, what: str) -> str:
    # '#' separates key segments; an id containing it could alias another item's key. An id
    # that differs from another only by a newline or a space would look the same everywhere.
    if not part or "#" in part or len(part) > 256 or not part.isprintable() \
            or part != part.strip():
        raise InvalidKeyPart(f"{what} must be 1-256 characters without '#', control "
                             "characters or surrounding spaces")
    return part


def org_pk(org_id: str) -> str:
    return ORG + _checked(org_id, "organization id")


def organization(org_id: str) -> Key:
    return Key(org_pk(org_id), ORG + org_id)


def member(org_id: str, user_id: str) -> Key:
    return Key(org_pk(org_id), MEMBER + _checked(user_id, "user id"))


def member_email(org_id: str, email: str) -> Key:
    """The uniqueness item that makes an email belong to at most one person per org."""
    return Key(org_pk(org_id), EMAIL + normalize_email(email))


def invitation(org_id: str, invite_id: str) -> Key:
    return Key(org_pk(org_id), INVITE + _checked(invite_id, "invitation id"))


def invitation_email(org_id: str, email: str) -> Key:
    """The claim that lets an email have at most one live pending invitation per org."""
    return Key(org_pk(org_id), INVITE_EMAIL + normalize_email(email))


def github_data(org_id: str, github_username: str) -> Key:
    return Key(org_pk(org_id), GITHUB_DATA + _checked(github_username, "GitHub username"))


def team_report(org_id: str, report_date: str) -> Key:
    return Key(org_pk(org_id), TEAM_REPORT + _checked(report_date, "report date"))


def activity(org_id: str, at_ms: int, event_id: str) -> Key:
    return Key(org_pk(org_id), f"{ACTIVITY}{at_ms:013d}#{_checked(event_id, 'event id')}")


def normalize_email(email: str) -> str:
    return email.strip().lower()


# Secondary index keys


def email_index(email: str) -> str:
    """GSI1PK of a person: the same email may be a person in several organizations."""
    return EMAIL + normalize_email(email)


def user_index(user_id: str) -> str:
    return USER + _checked(user_id, "user id")


def joined_index(joined_at_ms: int) -> str:
    return f"{JOINED}{joined_at_ms:013d}"


def activity_index(org_id: str) -> str:
    return ORG_ACTIVITY + _checked(org_id, "organization id")


def activity_time(at_ms: int, event_id: str | None = None) -> str:
    """GSI2SK of an activity event; zero-padded so string order is time order."""
    base = f"{TIMESTAMP}{at_ms:013d}"
    return base if event_id is None else f"{base}#{event_id}"
