"""Who is calling, what it costs their organization, and the context they run in.

HTTP (web/http.py) and WebSocket (web/subscriptions.py) both come through here, so identity,
quota and membership are decided the same way whichever transport a client uses:

1. ``identify``: the bearer token, verified (one Authorization header, no more).
2. ``admit``: the caller's membership and organization, read strongly consistent, become the
   context; then, and only if the caller is an active member, the operation is counted
   against the organization's quota. A token of someone removed, suspended or never admitted
   costs the organization nothing; such a caller gets what their membership allows (a 401
   for a bad token, FORBIDDEN fields for a member who is no longer active), as before.

A refusal carries what each transport needs: an HTTP status and headers, and the WebSocket
close code for refusals that end a connection (identity), or none for those that end one
operation (quota).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from datastore.store import CallLog
from resolvers.context import Caller, Context, make_context
from web.api import Api, RequestLog
from web.auth import BEARER_HINT, InvalidToken, KeysUnavailable, Verified, bearer_token
from web.quota import QuotaExceeded


@dataclass
class Refusal(Exception):
    """The request or operation does not run; the message says why and what to do."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)
    close_code: int | None = None  # the WebSocket close code, when the socket ends with it
    retry_after: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)


async def identify(api: Api, authorization: Sequence[str]) -> Verified:
    """The verified token of the request's ``Authorization`` header(s)."""
    if len(authorization) > 1:
        # Which one counts would depend on every proxy on the way.
        raise Refusal(400, "BAD_REQUEST", f"send one Authorization header, not "
                                          f"{len(authorization)}: {BEARER_HINT}",
                      close_code=4400)
    try:
        return await api.authenticator.verify(
            bearer_token(authorization[0] if authorization else None))
    except InvalidToken as exc:
        # RFC 6750: no error code when the request had no credentials at all.
        challenge = ('Bearer realm="devinsights"' if exc.missing
                     else 'Bearer realm="devinsights", error="invalid_token"')
        raise Refusal(401, "UNAUTHENTICATED", str(exc),
                      headers={"WWW-Authenticate": challenge}, close_code=4403) from None
    except KeysUnavailable as exc:
        raise Refusal(503, "SERVICE_UNAVAILABLE", f"{exc}; try again shortly",
                      close_code=1011) from None


async def admit(api: Api, caller: Caller, rl: RequestLog, calls: CallLog, *,
                operations: int = 1) -> Context:
    """The context of the caller's next ``operations`` operations, counted against the
    organization's quota if the caller is an active member of it."""
    context = await make_context(api.require_store(), caller, api.api_settings, api.broker,
                                 request_id=rl.request_id, calls=calls)
    if api.meter is not None and context.active_member is not None:
        try:
            await api.meter.admit(caller.org_id, operations)
        except QuotaExceeded as exc:
            rl.fields["quota"] = "exceeded"
            if api.metrics is not None:
                api.metrics.quota_refusals.inc()
            raise Refusal(429, "QUOTA_EXCEEDED", str(exc),
                          headers={"Retry-After": str(exc.retry_after)},
                          retry_after=exc.retry_after) from None
    return context
