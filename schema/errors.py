"""Expected failures as data, and masking of unexpected ones.

Every mutation returns a union of its success type and the error types it can produce; each
error implements ``MutationError`` with a stable ``code``. Anything unexpected is replaced by a
generic message with ``extensions.code`` and the request id, and logged without details that
could carry secrets.
"""

from __future__ import annotations

import datetime
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import StreamExecutionResult
from strawberry.types.field import StrawberryField
from strawberry.types.union import StrawberryUnion

from datastore import errors as store_errors
from datastore import github_settings as github
from datastore.keys import InvalidKeyPart
from resolvers.cursors import InvalidCursor
from resolvers.validation import InputInvalid

log = logging.getLogger("devinsights.errors")


@strawberry.enum(description="Every code an expected failure of a mutation can carry.")
class ErrorCode(enum.Enum):
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CANNOT_SUSPEND_SELF = "CANNOT_SUSPEND_SELF"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    GITHUB_RATE_LIMITED = "GITHUB_RATE_LIMITED"
    GITHUB_UNAVAILABLE = "GITHUB_UNAVAILABLE"
    GITHUB_USER_NOT_FOUND = "GITHUB_USER_NOT_FOUND"
    INVITATION_UNAVAILABLE = "INVITATION_UNAVAILABLE"
    LAST_ADMIN = "LAST_ADMIN"
    MEMBER_LIMIT_REACHED = "MEMBER_LIMIT_REACHED"
    MEMBER_NOT_ACTIVE = "MEMBER_NOT_ACTIVE"
    NOT_FOUND = "NOT_FOUND"
    OWNER_PROTECTED = "OWNER_PROTECTED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    VALIDATION = "VALIDATION"
    VERSION_CONFLICT = "VERSION_CONFLICT"


@strawberry.interface(description="An expected failure of a mutation, returned as data in "
                                  "the mutation's result union.")
class MutationError:
    message: str
    code: ErrorCode


@strawberry.type(description="Nothing with this id exists in your organization.")
class NotFound(MutationError):
    pass


@strawberry.type(description="Your role or status does not allow this mutation.")
class PermissionDenied(MutationError):
    pass


@strawberry.type(description="The organization's plan allows no more members.")
class MemberLimitReached(MutationError):
    max_members: int


@strawberry.enum
class InvitationUnavailableReason(enum.Enum):
    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"
    WRONG_EMAIL = "wrong_email"
    SUPERSEDED = "superseded"


@strawberry.type(description="The invitation cannot be used; `reason` says why.")
class InvitationUnavailable(MutationError):
    reason: InvitationUnavailableReason


@strawberry.type(description="The object changed since you read the `expectedVersion` you "
                             "sent; read it again and retry.")
class VersionConflict(MutationError):
    pass


@strawberry.type(description="The organization must keep one active admin.")
class LastAdmin(MutationError):
    pass


@strawberry.type
class AlreadyExists(MutationError):
    pass


@strawberry.type(description="Nobody can suspend themself; another admin has to.")
class CannotSuspendSelf(MutationError):
    pass


@strawberry.type(description="The owner stays an active admin: transfer ownership before "
                             "removing, demoting or suspending them.")
class OwnerProtected(MutationError):
    pass


@strawberry.type(description="The person is suspended; reactivate them first.")
class MemberNotActive(MutationError):
    pass


@strawberry.type(description="Someone in the organization already uses this email.")
class EmailTaken(MutationError):
    pass


@strawberry.type(description="A value of the input is invalid; `field` names it.")
class ValidationError(MutationError):
    field: str


@strawberry.type(description="GitHub could not be reached, failed or timed out, or this "
                             "server has no GitHub credentials; nothing was changed. Try "
                             "again later.")
class GitHubUnavailable(MutationError):
    pass


@strawberry.type(description="GitHub's rate limit is spent; nothing was changed. Try again "
                             "after `resetsAt`.")
class GitHubRateLimited(MutationError):
    resets_at: datetime.datetime
    secondary: bool = strawberry.field(
        description="GitHub's secondary (abuse) limit rather than the hourly one.")


@strawberry.type(description="GitHub has no user of the member's GitHub username; nothing "
                             "was changed. Correct the username (updateMember).")
class GitHubUserNotFound(MutationError):
    github_username: str


def from_github(exc: github.GitHubError) -> MutationError:
    message = str(exc)
    if isinstance(exc, github.GitHubRateLimited):
        return GitHubRateLimited(message=message, code=ErrorCode.GITHUB_RATE_LIMITED,
                                 resets_at=exc.resets_at, secondary=exc.secondary)
    if isinstance(exc, github.GitHubUserNotFound):
        return GitHubUserNotFound(message=message, code=ErrorCode.GITHUB_USER_NOT_FOUND,
                                  github_username=exc.username)
    return GitHubUnavailable(message=message, code=ErrorCode.GITHUB_UNAVAILABLE)


def not_found(message: str) -> NotFound:
    return NotFound(message=message, code=ErrorCode.NOT_FOUND)


def denied(message: str) -> PermissionDenied:
    return PermissionDenied(message=message, code=ErrorCode.PERMISSION_DENIED)


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError(message=message, code=ErrorCode.VALIDATION, field=field)


def from_domain(exc: store_errors.DomainError) -> MutationError:
    """The typed error for an expected failure raised by a datastore operation."""
    message = str(exc)
    code = ErrorCode(exc.code)
    if isinstance(exc, store_errors.NotFound):
        return NotFound(message=message, code=code)
    if isinstance(exc, store_errors.MemberLimitReached):
        return MemberLimitReached(message=message, code=code, max_members=exc.max_members)
    if isinstance(exc, store_errors.InvitationUnavailable):
        return InvitationUnavailable(message=message, code=code,
                                     reason=InvitationUnavailableReason(exc.reason))
    if isinstance(exc, store_errors.VersionConflict):
        return VersionConflict(message=message, code=code)
    if isinstance(exc, store_errors.LastAdmin):
        return LastAdmin(message=message, code=code)
    if isinstance(exc, store_errors.AlreadyExists):
        return AlreadyExists(message=message, code=code)
    if isinstance(exc, store_errors.EmailTaken):
        return EmailTaken(message=message, code=code)
    if isinstance(exc, store_errors.CannotSuspendSelf):
        return CannotSuspendSelf(message=message, code=code)
    if isinstance(exc, store_errors.OwnerProtected):
        return OwnerProtected(message=message, code=code)
    if isinstance(exc, store_errors.MemberNotActive):
        return MemberNotActive(message=message, code=code)
    if isinstance(exc, store_errors.ActorNotAllowed):
        return PermissionDenied(message=message, code=code)
    raise exc  # a domain error without a typed result is a bug: let it be masked


ERROR_TYPES = (NotFound, PermissionDenied, MemberLimitReached, InvitationUnavailable,
               VersionConflict, LastAdmin, AlreadyExists, EmailTaken, ValidationError,
               CannotSuspendSelf, MemberNotActive, OwnerProtected, GitHubUnavailable,
               GitHubRateLimited, GitHubUserNotFound)


class ExpectedFailures(FieldExtension):
    """A mutation's expected failures become its typed errors.

    The resolver returns only its success; what it raises becomes the typed error, which
    must be one its result union declares (checked once, when the schema is built, for the
    union, and on every call for the value): an undeclared one is a bug and is masked.
    """

    def __init__(self) -> None:
        self.declared: tuple[type, ...] = ()

    def apply(self, field: StrawberryField) -> None:
        union = field.type
        if not isinstance(union, StrawberryUnion):
            raise TypeError(f"mutation {field.python_name} must return a result union")
        self.declared = tuple(t for t in union.types if isinstance(t, type))

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any,
                            info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            result = await next_(source, info, **kwargs)
        except store_errors.DomainError as exc:
            result = from_domain(exc)
        except github.GitHubError as exc:
            result = from_github(exc)
        except InputInvalid as exc:
            result = invalid(exc.field, str(exc))
        except InvalidKeyPart as exc:  # an id the input did not check first
            result = invalid("input", str(exc))
        if not isinstance(result, self.declared):
            raise TypeError(f"{type(result).__name__} is not declared in the result of "
                            f"{info.field_name}")
        return result


class ForbiddenError(GraphQLError):
    """A query field the caller may not read; raised by permission classes."""


def _classify(error: GraphQLError) -> tuple[str, str] | None:
    """(code, public message) for errors safe to show, None for ones to mask."""
    original = error.original_error
    if original is None:
        return None  # parse, validation and limit errors: graphql-core wrote them, keep them
    if not error.path:
        # Request errors (a variable of the wrong type, a missing one): graphql-core's message
        # describes the caller's own input; nothing of the server's state is in it.
        return "BAD_USER_INPUT", error.message
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return str((original.extensions or {})["code"]), original.message
    if isinstance(original, PermissionError):
        return "FORBIDDEN", str(original) or "you may not read this field"
    if isinstance(original, InvalidCursor | InvalidKeyPart | InputInvalid
                  | store_errors.InvalidRequest):
        return "BAD_USER_INPUT", str(original)
    if isinstance(original, store_errors.StoreThrottled):
        return "STORE_BUSY", "the data store is busy; retry in a moment"
    if isinstance(original, store_errors.StoreUnavailable):
        return "STORE_UNAVAILABLE", "the data store is unavailable; retry in a moment"
    return "", ""


def with_request_code(error: GraphQLError) -> GraphQLError:
    """Give parse and validation errors (graphql-core's own) a code clients can branch on."""
    if error.path or (error.extensions or {}).get("code"):
        return error
    code = ("GRAPHQL_PARSE_FAILED" if error.message.startswith("Syntax Error")
            else "GRAPHQL_VALIDATION_FAILED")
    return GraphQLError(error.message, nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path,
                        extensions={**(error.extensions or {}), "code": code})


class RewriteErrors(SchemaExtension):
    """Passes every error a client gets through ``rewrite``: a query's or mutation's result
    (``on_operation``) and each event of a subscription (``on_stream_result``, which
    ``on_operation`` never sees)."""

    def rewrite(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        raise NotImplementedError

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = self.rewrite(result.errors)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self.rewrite(errors)  # type: ignore[union-attr]
        yield


class MaskUnexpectedErrors(RewriteErrors):
    """Keep expected errors with their codes; mask everything else with a request id."""

    def rewrite(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        cleaned = []
        for error in errors:
            verdict = _classify(error)
            if verdict is None:
                cleaned.append(error)
                continue
            code, message = verdict
            if not code:
                original = error.original_error
                frame = original.__traceback__ if original else None
                while frame is not None and frame.tb_next is not None:
                    frame = frame.tb_next
                where = (f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}"
                         if frame else "?")
                log.error("unexpected error", extra={"fields": {
                    "requestId": request_id, "path": list(error.path or []),
                    "errorType": type(original).__name__, "where": where}})
                code, message = "INTERNAL_SERVER_ERROR", "Unexpected error."
            extensions = {"code": code}
            if request_id:
                extensions["requestId"] = request_id
            cleaned.append(GraphQLError(message, nodes=error.nodes, source=error.source,
                                        positions=error.positions, path=error.path,
                                        extensions=extensions))
        return cleaned
