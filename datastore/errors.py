"""Domain errors of the store: every backend turns its own failures into these, in one place."""

from __future__ import annotations


class StoreError(Exception):
    """Base of everything the store raises on purpose.

    ``read_units`` and ``write_units`` are what the failed call cost, where the backend can
    tell (DynamoDB charges a failed conditional write; it does not say how much, so the
    DynamoDB backend estimates it by DynamoDB's own rule).
    """

    read_units: float = 0.0
    write_units: float = 0.0


class ConditionFailed(StoreError):
    """A conditional write found the item not in the expected state; nothing was written."""


CONDITION_FAILED = "ConditionalCheckFailed"


class TransactionCanceled(StoreError):
    """A transaction wrote nothing because a condition did not hold; ``reasons`` has one
    entry per action (None where it passed).

    Only ``ConditionalCheckFailed`` is the caller's failure: backends turn cancellations made
    only of conflicts and throttling into StoreThrottled (retried), and any other reason
    into TransactionRejected.
    """

    def __init__(self, reasons: list[str | None]) -> None:
        self.reasons = reasons
        failed = [f"action {i}: {r}" for i, r in enumerate(reasons) if r]
        super().__init__("transaction canceled, nothing written (" + "; ".join(failed) + ")")

    def failed(self, index: int) -> bool:
        """Whether the condition of action ``index`` did not hold."""
        return index < len(self.reasons) and self.reasons[index] == CONDITION_FAILED


class TransactionRejected(StoreError):
    """The store refused a transaction for a reason that is our bug (a validation error, an
    idempotency token reused with other actions, ...); nothing was written."""

    def __init__(self, reasons: list[str | None]) -> None:
        self.reasons = reasons
        super().__init__("transaction rejected by the store: "
                         + ", ".join(r or "None" for r in reasons))


class ItemTooLarge(StoreError):
    """An item exceeds DynamoDB's 400 KB item limit (checked before sending, on every backend)."""


class InvalidRequest(StoreError):
    """The request can never succeed as written (bad key, bad cursor, too many actions)."""


class StoreThrottled(StoreError):
    """The store kept refusing for capacity after bounded retries."""


class StoreUnavailable(StoreError):
    """The store could not be reached or timed out.

    ``sent`` is False only when the request certainly never reached the store (the
    connection was never made, or the local transaction was rolled back): then even a
    non-idempotent write may be retried. ``transient`` is False for failures a retry cannot
    fix (the table does not exist).
    """

    def __init__(self, message: str, *, sent: bool = True, transient: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
        self.transient = transient


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


class ActorNotAllowed(DomainError):
    """The person making the change lost the right to make it (removed, suspended, demoted)
    between the start of the request and the write; nothing was written."""

    code = "PERMISSION_DENIED"


class NotOwner(ActorNotAllowed):
    """Only the organization's owner may do this (transfer ownership)."""


class CannotSuspendSelf(DomainError):
    """An admin tried to suspend themself; another admin has to do it."""

    code = "CANNOT_SUSPEND_SELF"


class MemberNotActive(DomainError):
    """The person is suspended, and what was asked needs an active member."""

    code = "MEMBER_NOT_ACTIVE"


class OwnerProtected(DomainError):
    """The owner must stay an active admin: they can be neither removed, demoted nor
    suspended until they transfer ownership."""

    code = "OWNER_PROTECTED"


class InvitationUnavailable(DomainError):
    """The invitation is unknown, expired, revoked, already used, or superseded by a newer
    invitation of the same email; ``reason`` says which (invalid, expired, revoked, used,
    wrong_email, superseded)."""

    code = "INVITATION_UNAVAILABLE"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
