"""Expected failures as data, and masking of unexpected ones.

Every mutation returns a union of its success type and the error types it can produce; each
error implements ``Error`` with a stable ``code``. Anything unexpected is replaced by a
generic message with ``extensions.code`` and the request id, and logged without details that
could carry secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from datastore import errors as store_errors
from datastore.keys import InvalidKeyPart
from resolvers.cursors import InvalidCursor
from resolvers.validation import InputInvalid

log = logging.getLogger("devinsights.errors")


@strawberry.interface(description="An expected failure of a mutation, returned as data.")
class Error:
    message: str
    code: str


@strawberry.type
class NotFound(Error):
    pass


@strawberry.type
class PermissionDenied(Error):
    pass


@strawberry.type
class MemberLimitReached(Error):
    max_members: int


@strawberry.type
class InvitationUnavailable(Error):
    reason: str = strawberry.field(
        description="invalid, expired, used, revoked or wrong_email")


@strawberry.type
class VersionConflict(Error):
    pass


@strawberry.type
class LastAdmin(Error):
    pass


@strawberry.type
class AlreadyExists(Error):
    pass


@strawberry.type
class EmailTaken(Error):
    pass


@strawberry.type
class ValidationError(Error):
    field: str


def not_found(message: str) -> NotFound:
    return NotFound(message=message, code="NOT_FOUND")


def denied(message: str) -> PermissionDenied:
    return PermissionDenied(message=message, code="PERMISSION_DENIED")


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError(message=message, code="VALIDATION", field=field)


def from_domain(exc: store_errors.DomainError) -> Error:
    """The typed error for an expected failure raised by a datastore operation."""
    message = str(exc)
    if isinstance(exc, store_errors.NotFound):
        return NotFound(message=message, code=exc.code)
    if isinstance(exc, store_errors.MemberLimitReached):
        return MemberLimitReached(message=message, code=exc.code, max_members=exc.max_members)
    if isinstance(exc, store_errors.InvitationUnavailable):
        return InvitationUnavailable(message=message, code=exc.code, reason=exc.reason)
    if isinstance(exc, store_errors.VersionConflict):
        return VersionConflict(message=message, code=exc.code)
    if isinstance(exc, store_errors.LastAdmin):
        return LastAdmin(message=message, code=exc.code)
    if isinstance(exc, store_errors.AlreadyExists):
        return AlreadyExists(message=message, code=exc.code)
    if isinstance(exc, store_errors.EmailTaken):
        return EmailTaken(message=message, code=exc.code)
    if isinstance(exc, store_errors.ActorNotAllowed):
        return PermissionDenied(message=message, code=exc.code)
    raise exc  # a domain error without a typed result is a bug: let it be masked


ERROR_TYPES = (NotFound, PermissionDenied, MemberLimitReached, InvitationUnavailable,
               VersionConflict, LastAdmin, AlreadyExists, EmailTaken, ValidationError)


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


class MaskUnexpectedErrors(SchemaExtension):
    """Keep expected errors with their codes; mask everything else with a request id."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        cleaned = []
        for error in result.errors:
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
                log.error("unexpected error", extra={
                    "request_id": request_id, "path": list(error.path or []),
                    "error_type": type(original).__name__, "where": where})
                code, message = "INTERNAL_SERVER_ERROR", "Unexpected error."
            extensions = {"code": code}
            if request_id:
                extensions["requestId"] = request_id
            cleaned.append(GraphQLError(message, nodes=error.nodes, source=error.source,
                                        positions=error.positions, path=error.path,
                                        extensions=extensions))
        result.errors = cleaned
