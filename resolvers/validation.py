"""Input checks for mutations; each failure names the field and how to fix it."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from functools import cache

from datastore import keys

EMAIL = re.compile(r"^[^@\s#]{1,64}@[^@\s#]{1,190}\.[^@\s#]{2,}$")
GITHUB_USERNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
MAX_NAME = 200
MAX_TEXT = 2000
MAX_LIST = 50


class InputInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def email(value: str, field: str = "email") -> str:
    value = value.strip()
    if len(value) > 254 or not EMAIL.fullmatch(value):
        raise InputInvalid(field, "must be an email address like name@example.com")
    return value.lower()


def name(value: str, field: str = "name") -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME:
        raise InputInvalid(field, f"must be 1-{MAX_NAME} characters")
    return value


def github_username(value: str, field: str = "githubUsername") -> str:
    if not GITHUB_USERNAME.fullmatch(value):
        raise InputInvalid(field, "must be a GitHub username: letters, digits and single "
                                  "hyphens, at most 39 characters")
    return value


def report_date(value: str, field: str = "date") -> str:
    try:
        parsed = datetime.date.fromisoformat(value)
    except ValueError:
        raise InputInvalid(field, "must be a date as YYYY-MM-DD") from None
    if parsed.isoformat() != value:
        raise InputInvalid(field, "must be a date as YYYY-MM-DD")
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone(value: str, field: str = "timezone") -> str:
    if value not in _zones() and value != "UTC":
        raise InputInvalid(field, "must be an IANA time zone such as Europe/Berlin")
    return value


def text(value: str, field: str, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        raise InputInvalid(field, f"must be at most {limit} characters")
    return value


def texts(values: list[str], field: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise InputInvalid(field, f"must have at most {MAX_LIST} entries")
    return [text(v, field, 500) for v in values]


def score(value: float | None, field: str, low: float = 0.0, high: float = 10.0
          ) -> float | None:
    if value is not None and not low <= value <= high:
        raise InputInvalid(field, f"must be between {low:g} and {high:g}")
    return value


def count(value: int | None, field: str) -> int | None:
    if value is not None and not 0 <= value <= 10**9:
        raise InputInvalid(field, "must be between 0 and 1000000000")
    return value


def identifier(value: str, field: str) -> str:
    """An id that becomes part of a key: the rule of every key part (datastore.keys)."""
    try:
        keys.org_pk(value)
    except keys.InvalidKeyPart:
        raise InputInvalid(field, "must be an id of 1-256 characters without '#', control "
                                  "characters or surrounding spaces") from None
    return value
