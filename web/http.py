"""GraphQL over HTTP at ``/graphql``, following the GraphQL-over-HTTP spec.

- POST with a JSON body runs queries and mutations; GET runs queries only (a mutation over
  GET is 405), so a link or an image tag can never change anything.
- The response media type is negotiated from ``Accept``: under
  ``application/graphql-response+json`` a request that fails before execution (parse,
  validation, variables) is a 400 with no ``data``; under ``application/json`` it is a 200,
  as legacy clients expect.
- A POST must declare a JSON content type. Browsers cannot send that cross-site without a
  CORS preflight, so a simple cross-site form or text/plain POST never reaches the schema.
  A preflight refused for its origin is logged once, naming the origin and the setting that
  would allow it, since the browser shows the page's developer only a bare CORS error.
- Every GraphQL request needs a bearer token; without a valid one the answer is a 401 that
  says what was wrong, with no ``data``.
- Every store call a request makes is counted in its log line (the quota flush and failed
  calls included); a client that sends ``X-DevInsights-Cost: 1`` also gets each operation's
  calls and consumed capacity in ``extensions.cost``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from datastore.errors import StoreError, StoreThrottled
from datastore.store import CallLog, current_calls
from resolvers.context import Caller
from schema.errors import with_request_code
from web import edge
from web.api import Api, RequestLog, StoreNotOpen, new_request_id
from web.logs import request_logger
from web.settings import CorsPolicy, Settings

log = logging.getLogger("devinsights.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
HTML = "text/html"
REQUEST_TYPES = (JSON, GRAPHQL_RESPONSE)
COST_HEADER = "x-devinsights-cost"
MAX_LOGGED_ORIGIN = 200  # an Origin header is the client's to make as long as it likes

IdePage = Callable[[Request], Awaitable[Response]]


class HttpError(Exception):
    """Ends a request early with a status and a message for the client."""

    def __init__(self, status: int, message: str, *, code: str = "BAD_REQUEST",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None


# Content negotiation


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def _quality(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The q of the most specific range that matches ``media``, and how specific it was."""
    kind = media.split("/")[0]
    best: tuple[float, int] = (0.0, -1)
    for candidate, q in ranges:
        specificity = (2 if candidate == media else 1 if candidate == f"{kind}/*"
                       else 0 if candidate == "*/*" else -1)
        if specificity > best[1]:
            best = (q, specificity)
    return best


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither of ours.

    No Accept header, or only a wildcard, means a legacy client: answer application/json.
    When both are named explicitly with the same q, the newer graphql-response+json wins.
    """
    if not accept or not accept.strip():
        return JSON
    ranges = _media_ranges(accept)
    scored = []
    for media in (GRAPHQL_RESPONSE, JSON):
        q, specificity = _quality(media, ranges)
        if q > 0:
            named = specificity == 2
            scored.append((q, specificity, named == (media == GRAPHQL_RESPONSE), media))
    return max(scored)[3] if scored else None


def wants_cost(request: Request) -> bool:
    return request.headers.get(COST_HEADER, "").strip().lower() in ("1", "true", "yes")


def wants_html(accept: str | None) -> bool:
    return any(media == HTML and q > 0 for media, q in _media_ranges(accept or ""))


# Reading the request


def _content_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    media, *params = (p.strip() for p in raw.split(";"))
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"').lower()
    return media.lower(), parsed


def check_content_type(request: Request) -> None:
    media, params = _content_type(request)
    if media not in REQUEST_TYPES:
        shown = media or "no Content-Type"
        raise HttpError(415, f"POST /graphql needs Content-Type: application/json, not "
                             f"{shown}", code="UNSUPPORTED_MEDIA_TYPE")
    if params.get("charset", "utf-8") != "utf-8":
        raise HttpError(415, "the body must be UTF-8: send Content-Type: application/json "
                             "without a charset, or with charset=utf-8",
                        code="UNSUPPORTED_MEDIA_TYPE")


async def read_body(request: Request, limit: int, within: float) -> bytes:
    """The body, read no further than ``limit`` bytes whatever Content-Length claims, and
    ``within`` seconds: a client that stalls mid-body does not hold the request."""
    too_large = HttpError(413, f"the request body is larger than {limit} bytes",
                          code="PAYLOAD_TOO_LARGE", headers={"Connection": "close"})
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer; not a server error, so no 500 and no traceback.
        raise HttpError(400, "the client disconnected before sending the whole body",
                        code="CLIENT_DISCONNECTED") from None
    except TimeoutError:
        raise HttpError(408, f"the request body did not arrive within {within:g} seconds",
                        code="REQUEST_TIMEOUT", headers={"Connection": "close"}) from None
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the request body is not valid UTF-8") from None
    if not text.strip():
        raise HttpError(400, "the request body is empty; send a JSON object with a `query`")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"the request body is not valid JSON ({exc})") from None


def params_from(raw: Any, settings: Settings) -> GraphQLParams:
    if not isinstance(raw, dict):
        raise HttpError(400, "the request must be a JSON object with a `query` string")
    query = raw.get("query")
    if query is None:
        raise HttpError(400, "the request has no `query`; persisted queries are not supported")
    if not isinstance(query, str):
        raise HttpError(400, "`query` must be a string")
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise HttpError(400, "`variables` must be a JSON object (or null)")
    problem = variables_problem(variables, settings)
    if problem is not None:
        raise HttpError(400, problem)
    name = raw.get("operationName")
    if name is not None and not isinstance(name, str):
        raise HttpError(400, "`operationName` must be a string (or null)")
    extensions = raw.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise HttpError(400, "`extensions` must be a JSON object (or null)")
    return GraphQLParams(query, variables, name or None)


def params_from_query_string(request: Request, settings: Settings) -> GraphQLParams:
    raw: dict[str, Any] = {}
    for name in ("query", "operationName"):
        if name in request.query_params:
            raw[name] = request.query_params[name]
    for name in ("variables", "extensions"):
        text = request.query_params.get(name)
        if text:
            try:
                raw[name] = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise HttpError(400, f"the `{name}` parameter is not valid JSON") from None
    return params_from(raw, settings)


def variables_problem(variables: Any, settings: Settings) -> str | None:
    """What makes ``variables`` too big to run, or None.

    Checked before GraphQL sees them: coercing a 150,000-entry list left megabytes of memory
    behind in the process. Lists and objects are counted by their length, level by level, so
    the walk stops soon after a limit is passed and costs nothing for a handful of scalars.
    """
    if not variables or not isinstance(variables, dict):
        return None
    most, deepest = settings.max_variable_values, settings.max_variable_depth
    count = 1 + len(variables)
    level: list[Any] = [variables]
    depth = 1
    while level:
        below: list[Any] = []
        for container in level:
            for value in (container.values() if isinstance(container, dict) else container):
                if isinstance(value, dict | list):
                    count += len(value)
                    below.append(value)
        if count > most:
            return (f"`variables` may hold at most {most} values (every list, object, "
                    "member and item counts); send less per request")
        if below and depth == deepest:
            return f"`variables` may nest lists and objects at most {deepest} levels deep"
        level, depth = below, depth + 1
    return None


# Results


def is_request_error(result: ExecutionResult) -> bool:
    """True when execution never started: parse, validation or variable coercion failed.

    Field errors always carry a path; errors raised before execution never do.
    """
    if isinstance(result, PreExecutionError):
        return True
    return result.data is None and bool(result.errors) and all(
        e.path is None for e in result.errors or ())


def formatted(result: ExecutionResult, request_error: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not request_error:
        out["data"] = result.data
    if result.errors:
        errors = [with_request_code(e) for e in result.errors] if request_error \
            else result.errors
        out["errors"] = [e.formatted for e in errors]
    if result.extensions:
        out["extensions"] = result.extensions
    return out


def error_body(message: str, code: str, request_id: str) -> dict[str, Any]:
    return {"errors": [{"message": message,
                        "extensions": {"code": code, "requestId": request_id}}]}


def respond(payload: Any, status: int, media: str, request_id: str,
            headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=media,
                    headers={"X-Request-Id": request_id, "Cache-Control": "no-store",
                             "Vary": "Accept, Authorization", **(headers or {})})


# The endpoint


class GraphQLHttp:
    """The HTTP side of ``/graphql``; ``ide`` serves GraphiQL to browsers that ask for HTML."""

    def __init__(self, api: Api, ide: IdePage | None = None) -> None:
        self.api = api
        self.ide = ide

    async def endpoint(self, request: Request) -> Response:
        if (request.method == "GET" and "query" not in request.query_params
                and self.ide is not None and wants_html(request.headers.get("accept"))):
            return await self.ide(request)
        rl = RequestLog("http", fields={"method": request.method, "path": request.url.path},
                        metrics=self.api.metrics)
        media = negotiate(request.headers.get("accept"))
        calls = current_calls.set(rl.calls)  # the quota flush belongs to the request too
        try:
            if media is None:
                raise HttpError(406, f"this endpoint answers {GRAPHQL_RESPONSE} or {JSON}; "
                                     "send an Accept header that allows one of them",
                                code="NOT_ACCEPTABLE")
            response = await self._handle(request, media, rl)
        except HttpError as exc:
            rl.fields["error"] = exc.message
            response = respond(error_body(exc.message, exc.code, rl.request_id), exc.status,
                               media or JSON, rl.request_id, exc.headers)
        except Exception:
            log.exception("request failed", extra={"fields": {"requestId": rl.request_id}})
            response = respond(error_body("internal server error", "INTERNAL_SERVER_ERROR",
                                          rl.request_id), 500, media or JSON, rl.request_id)
        finally:
            current_calls.reset(calls)
        rl.emit(response.status_code, level=logging.WARNING if response.status_code >= 500
                else logging.INFO)
        return response

    async def _handle(self, request: Request, media: str, rl: RequestLog) -> Response:
        limit = self.api.settings.max_body_bytes
        if request.method == "POST":
            check_content_type(request)
        caller = await self._authenticate(request, rl)
        if request.method in ("GET", "HEAD"):
            if len(request.url.query.encode()) > limit:
                raise HttpError(413, f"the query string is longer than {limit} bytes",
                                code="PAYLOAD_TOO_LARGE")
            params = params_from_query_string(request, self.api.settings)
            status, payload = await self._run(params, caller, media, rl, get=True,
                                              cost=wants_cost(request))
            return respond(payload, status, media, rl.request_id)
        raw = decode_json(await read_body(request, limit, self.api.settings.body_timeout_seconds))
        if isinstance(raw, list):
            return await self._run_batch(raw, caller, media, rl, cost=wants_cost(request))
        status, payload = await self._run(params_from(raw, self.api.settings), caller,
                                          media, rl, get=False,
                                          cost=wants_cost(request))
        return respond(payload, status, media, rl.request_id)

    async def _authenticate(self, request: Request, rl: RequestLog) -> Caller:
        try:
            verified = await edge.identify(self.api, request.headers.getlist("authorization"))
        except edge.Refusal as refusal:
            raise _http_error(refusal) from None
        rl.caller(verified.caller)
        return verified.caller

    async def _run_batch(self, raw: list[Any], caller: Caller, media: str,
                         rl: RequestLog, *, cost: bool) -> Response:
        limit = self.api.settings.max_batch
        if not raw:
            raise HttpError(400, "the batch is empty")
        if len(raw) > limit:
            raise HttpError(400, f"a batch may hold at most {limit} operations, got {len(raw)}")
        batch = [params_from(entry, self.api.settings) for entry in raw]
        # One after another: a later mutation may depend on an earlier one. The first
        # counts the whole batch against the quota: all of it runs, or none.
        payloads = [(await self._run(p, caller, media, rl, get=False, cost=cost,
                                     count=len(batch) if i == 0 else 0))[1]
                    for i, p in enumerate(batch)]
        return respond(payloads, 200, media, rl.request_id)

    async def _run(self, params: GraphQLParams, caller: Caller, media: str, rl: RequestLog,
                   *, get: bool, cost: bool, count: int = 1) -> tuple[int, dict[str, Any]]:
        """Run one operation, counting ``count`` operations against the quota first (the
        first of a request counts them all, the others 0). Its cost is what it called."""
        rl.operation(params.operation_name)
        allowed = ((OperationType.QUERY,) if get
                   else (OperationType.QUERY, OperationType.MUTATION))
        request_error_status = 400 if media == GRAPHQL_RESPONSE else 200
        calls = CallLog(parent=rl.calls)
        token = current_calls.set(calls)
        try:
            context = await edge.admit(self.api, caller, rl, calls, operations=count)
            result = await self.api.schema.execute(
                params.query, variable_values=params.variables, context_value=context,
                operation_name=params.operation_name, allowed_operation_types=allowed)
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise HttpError(400, "subscriptions run over WebSocket at /graphql with the "
                                     "graphql-transport-ws protocol") from None
            raise HttpError(405, "mutations need POST; GET runs queries only",
                            code="METHOD_NOT_ALLOWED", headers={"Allow": "POST"}) from None
        except CannotGetOperationTypeError as exc:
            error = GraphQLError(exc.as_http_error_reason())
            return request_error_status, {"errors": [error.formatted]}
        except MissingQueryError:
            raise HttpError(400, "the request has no `query`") from None
        except edge.Refusal as refusal:
            raise _http_error(refusal) from None
        except StoreThrottled as exc:
            log.warning("store busy: %s", exc, extra={"fields": {"requestId": rl.request_id}})
            raise HttpError(503, "the data store is busy; retry in a moment",
                            code="STORE_BUSY", headers={"Retry-After": "1"}) from None
        except (StoreError, StoreNotOpen) as exc:
            log.warning("store unavailable: %s", exc,
                        extra={"fields": {"requestId": rl.request_id}})
            raise HttpError(503, "the store is unavailable; try again shortly",
                            code="SERVICE_UNAVAILABLE") from None
        finally:
            current_calls.reset(token)
        request_error = is_request_error(result)
        status = request_error_status if request_error else 200
        payload = formatted(result, request_error)
        if cost:
            payload.setdefault("extensions", {})["cost"] = calls.cost()
        return status, payload


def _http_error(refusal: edge.Refusal) -> HttpError:
    return HttpError(refusal.status, refusal.message, code=refusal.code,
                     headers=refusal.headers)


# CORS


class LoggedCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, plus one request-log line for a preflight refused for its origin."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        origin = request_headers["origin"]
        if response.status_code == 400 and not self.is_allowed_origin(origin):
            shown = origin[:MAX_LOGGED_ORIGIN]
            request_logger().info(
                "refused a CORS preflight from %s: add it to DEVINSIGHTS_CORS_ORIGINS "
                "(or --cors-origins) to allow it", shown,
                extra={"fields": {"requestId": new_request_id(), "kind": "preflight",
                                  "method": "OPTIONS", "status": 400, "origin": shown,
                                  "allowWith": "DEVINSIGHTS_CORS_ORIGINS"}})
        return response


def cors_middleware(policy: CorsPolicy) -> Middleware:
    return Middleware(
        LoggedCORSMiddleware, allow_origins=list(policy.origins),
        allow_origin_regex=policy.origin_regex, allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Accept", "X-DevInsights-Cost"],
        expose_headers=["X-Request-Id"], max_age=600)
