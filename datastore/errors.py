"""Domain errors of the store: every backend turns its own failures into these, in one place."""

from __future__ import annotations


class StoreError(Exception):
    """Base of everything the store raises on purpose."""


class ConditionFailed(StoreError):
    """A conditional write found the item not in the expected state; nothing was written."""


class TransactionCanceled(StoreError):
    """A transaction wrote nothing; ``reasons`` has one entry per action (None where it passed)."""

    def __init__(self, reasons: list[str | None]) -> None:
        self.reasons = reasons
        failed = [f"action {i}: {r}" for i, r in enumerate(reasons) if r]
        super().__init__("transaction canceled, nothing written (" + "; ".join(failed) + ")")

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] is not None


class ItemTooLarge(StoreError):
    """An item exceeds DynamoDB's 400 KB item limit (checked before sending, on every backend)."""


class InvalidRequest(StoreError):
    """The request can never succeed as written (bad key, bad cursor, too many actions)."""


class StoreThrottled(StoreError):
    """The store kept refusing for capacity after bounded retries."""


class StoreUnavailable(StoreError):
    """The store could not be reached or timed out; the outcome of a write is unknown."""


# Expected domain failures: raised by the operations in datastore/, shown to callers as typed
# errors. Their messages never carry another organization's data.


class DomainError(StoreError):
    code = "DOMAIN_ERROR"


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class MemberLimitReached(DomainError):
    code = "MEMBER_LIMIT_REACHED"

    def __init__(self, message: str, max_members: int) -> None:
        super().__init__(message)
        self.max_members = max_members


class EmailTaken(DomainError):
    code = "EMAIL_TAKEN"


class VersionConflict(DomainError):
    code = "VERSION_CONFLICT"


class LastAdmin(DomainError):
    code = "LAST_ADMIN"


class InvitationUnavailable(DomainError):
    """The invitation is unknown, expired, revoked or already used."""

    code = "INVITATION_UNAVAILABLE"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
