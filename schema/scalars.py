"""The one place stored instants become GraphQL ``DateTime`` values.

Storage keeps its own formats (epoch milliseconds for event times, epoch seconds for the TTL
attribute ``expiresAt``, as DynamoDB's TTL requires); the schema shows every instant the same
way: ISO-8601 in UTC with milliseconds, ``2026-12-02T09:30:00.000Z``.
"""

from __future__ import annotations

import datetime

import strawberry
from strawberry.types.scalar import ScalarDefinition

UTC = datetime.UTC


def _serialize(value: datetime.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


def _parse(value: object) -> datetime.datetime:
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO-8601 string like 2026-12-02T09:30:00.000Z")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO-8601 date and time like "
                         "2026-12-02T09:30:00.000Z") from None
    if parsed.tzinfo is None:
        raise ValueError("a DateTime needs a time zone (Z for UTC)")
    return parsed.astimezone(UTC)


# Fields are typed ``datetime.datetime``; the schema maps that type to this scalar
# (``scalar_map`` in schema/__init__.py) instead of Strawberry's own, which prints
# microseconds and "+00:00".
DateTime: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="An instant: ISO-8601 in UTC with milliseconds, e.g. 2026-12-02T09:30:00.000Z.",
    specified_by_url="https://datatracker.ietf.org/doc/html/rfc3339",
    serialize=_serialize,
    parse_value=_parse,
)


def from_ms(ms: float) -> datetime.datetime:
    """An instant stored as epoch milliseconds."""
    return datetime.datetime.fromtimestamp(int(ms) / 1000, UTC)


def from_seconds(seconds: float) -> datetime.datetime:
    """An instant stored as epoch seconds (the TTL attribute)."""
    return datetime.datetime.fromtimestamp(int(seconds), UTC)


def maybe_ms(ms: float | None) -> datetime.datetime | None:
    return from_ms(ms) if ms is not None else None
