"""GraphQL over WebSocket at ``/graphql``, speaking ``graphql-transport-ws``.

The token arrives in ``connection_init`` as ``{"Authorization": "Bearer <token>"}`` (a
browser cannot set headers on a WebSocket) and is checked by the same authenticator as HTTP;
a bad one closes the socket with 4403 and the reason. Each ``subscribe`` runs as its own
task with its own per-request context, so its events can only come from the caller's org.
A subscription streams ``next`` messages; a query or a mutation (graphql-ws clients send
every operation over the socket) gets one ``next`` with its result, then ``complete``, and
runs as over HTTP: the same quota count, context, error masking, limits and error codes.
Cross-site pages are refused at the handshake unless their origin is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from graphql import GraphQLError, get_operation_ast, parse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.exceptions import MissingQueryError
from strawberry.http.websocket_origin import is_same_origin
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from datastore.errors import StoreError, StoreThrottled
from datastore.store import current_calls
from resolvers import activity
from resolvers.context import Caller, Context, read_membership
from web import edge
from web.api import Api, RequestLog, StoreNotOpen
from web.auth import BEARER_HINT
from web.http import error_body, formatted, is_request_error, variables_problem
from web.settings import CorsPolicy

log = logging.getLogger("devinsights.subscriptions")

PROTOCOL = "graphql-transport-ws"
MAX_OPERATIONS = 100
MAX_CLOSE_REASON = 123  # bytes, the WebSocket limit


SINGLE_RESULT = (OperationType.QUERY, OperationType.MUTATION)


class _Closed(Exception):
    """The connection was closed; stop reading."""


class _AccessEnded(Exception):
    """The caller is no longer an active member: the socket closes with this reason."""


class _Refused(Exception):
    """The operation ends with an ``error`` message carrying these GraphQL errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__()
        self.errors = errors


def operation_type(query: str, name: str | None, max_tokens: int) -> OperationType | None:
    """The type of the operation to run, or None when the document does not parse or has no
    such operation (execution then says why, as it does over HTTP)."""
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, name)
    return None if operation is None else OperationType(operation.operation.value)


def origin_allowed(websocket: WebSocket, cors: CorsPolicy) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: nothing to hijack
    if is_same_origin(origin, websocket.headers.get("host")):
        return True
    return cors.allows(origin)


def _reason(text: str) -> str:
    return text.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")


class SubscriptionServer:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def endpoint(self, websocket: WebSocket) -> None:
        if not origin_allowed(websocket, self.api.settings.cors):
            log.warning("refused a WebSocket from a cross-site origin",
                        extra={"fields": {"origin": websocket.headers.get("origin")}})
            await websocket.close(code=1008)  # before accept: the handshake gets a 403
            return
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.accept()
            await websocket.close(code=4406, reason=f"Subprotocol not acceptable; use {PROTOCOL}")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        metrics = self.api.metrics
        with metrics.websockets.track_inprogress() if metrics else contextlib.nullcontext():
            await Connection(self.api, websocket).run()


class Connection:
    """One WebSocket: its caller once acknowledged, and its running operations by id."""

    def __init__(self, api: Api, websocket: WebSocket) -> None:
        self.api = api
        self.websocket = websocket
        self.caller: Caller | None = None
        self.init_received = False
        self._expiry: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            while True:
                message = await self._receive()
                if message is None:
                    break
                await self._handle(message)
        except _Closed:
            pass
        finally:
            timers = [t for t in (deadline, self._expiry, self._watch) if t is not None]
            tasks = list(self.operations.values())
            for task in (*timers, *tasks):
                task.cancel()
            for task in (*timers, *tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.api.settings.ws_init_timeout_seconds)
        if not self.init_received:
            await self.close(4408, "Connection initialisation timeout")

    async def _receive(self) -> dict[str, Any] | None:
        try:
            text = await self.websocket.receive_text()
        except WebSocketDisconnect:
            return None
        except KeyError:  # a binary frame
            await self.close(4400, "Messages must be text")
            raise _Closed from None
        except RuntimeError:  # closed by us meanwhile
            return None
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.close(4400, "Messages must be JSON objects with a type")
            raise _Closed
        return message

    async def _handle(self, message: dict[str, Any]) -> None:
        match message["type"]:
            case "connection_init":
                await self._init(message.get("payload"))
            case "ping":
                await self.send({"type": "pong"})
            case "pong":
                pass
            case "subscribe":
                await self._subscribe(message)
            case "complete":
                task = self.operations.pop(str(message.get("id")), None)
                if task is not None:
                    task.cancel()
            case other:
                await self.close(4400, f"Unknown message type {other[:40]!r}")
                raise _Closed

    async def _init(self, payload: Any) -> None:
        if self.init_received:
            await self.close(4429, "Too many initialisation requests")
            raise _Closed
        self.init_received = True
        if payload is not None and not isinstance(payload, dict):
            await self.close(4400, "The connection_init payload must be an object")
            raise _Closed
        sent = [v for k, v in (payload or {}).items() if str(k).lower() == "authorization"]
        try:
            if not all(isinstance(v, str) for v in sent):
                raise edge.Refusal(401, "UNAUTHENTICATED", "the Authorization value must be a "
                                   f"string: {BEARER_HINT}", close_code=4403)
            verified = await edge.identify(self.api, sent)
        except edge.Refusal as refusal:
            log.info("WebSocket refused: %s", refusal.message,
                     extra={"fields": {"reason": refusal.message}})
            code = refusal.close_code or 4403
            await self.close(code, f"Forbidden: {refusal.message}" if code == 4403
                             else refusal.message)
            raise _Closed from None
        self.caller = verified.caller
        self._expiry = asyncio.create_task(self._close_when_expired(verified.expires_at))
        self._watch = asyncio.create_task(self._watch_membership(verified.caller))
        await self.send({"type": "connection_ack"})

    async def _close_when_expired(self, expires_at: float) -> None:
        # A socket outlives requests; it must not outlive the token that opened it.
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.close(4403, "Forbidden: the token has expired; reconnect with a new one")

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if self.caller is None:
            await self.close(4401, "Unauthorized")
            raise _Closed
        op_id, payload = message.get("id"), message.get("payload")
        if (not isinstance(op_id, str) or not op_id or not isinstance(payload, dict)
                or not isinstance(payload.get("query"), str)
                or not isinstance(payload.get("variables") or {}, dict)
                or not isinstance(payload.get("operationName") or "", str)):
            await self.close(4400, "A subscribe message needs an id and a payload with a query")
            raise _Closed
        if op_id in self.operations:
            await self.close(4409, _reason(f"Subscriber for {op_id} already exists"))
            raise _Closed
        if len(self.operations) >= MAX_OPERATIONS:
            await self.send({"id": op_id, "type": "error", "payload": [
                {"message": f"at most {MAX_OPERATIONS} operations at once per connection"}]})
            return
        problem = variables_problem(payload.get("variables"), self.api.settings)
        if problem is not None:
            await self.send({"id": op_id, "type": "error", "payload": [
                {"message": problem, "extensions": {"code": "BAD_REQUEST"}}]})
            return
        self.operations[op_id] = asyncio.create_task(
            self._operation(op_id, self.caller, payload["query"], payload.get("variables"),
                            payload.get("operationName") or None))

    async def _operation(self, op_id: str, caller: Caller, query: str,
                         variables: dict[str, Any] | None, name: str | None) -> None:
        kind = operation_type(query, name, self.api.settings.max_tokens)
        streams = kind is OperationType.SUBSCRIPTION
        rl = RequestLog("subscription" if streams else "websocket", fields={"path": "/graphql"},
                        metrics=self.api.metrics)
        rl.caller(caller)
        rl.operation(name)
        token = current_calls.set(rl.calls)  # the quota flush belongs to the operation too
        status = "complete"
        try:
            if streams:
                await self._stream(op_id, caller, query, variables, name, rl)
            else:
                await self._execute(op_id, caller, query, variables, name, rl)
            await self.send({"id": op_id, "type": "complete"})
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except _Closed:
            status = "closed"
        except _AccessEnded as ended:
            status = "ended"
            rl.fields["error"] = str(ended)
            await self._end_access(str(ended))
        except _Refused as refused:
            status = "error"
            rl.fields["error"] = refused.errors[0].get("message")
            await self._send_errors(op_id, refused.errors)
        except StoreThrottled as exc:
            status = "error"
            log.warning("store busy: %s", exc, extra={"fields": {"requestId": rl.request_id}})
            await self._send_errors(op_id, error_body(
                "the data store is busy; retry in a moment", "STORE_BUSY", rl.request_id
            )["errors"])
        except (StoreError, StoreNotOpen) as exc:
            status = "error"
            log.warning("store unavailable: %s", exc,
                        extra={"fields": {"requestId": rl.request_id}})
            await self._send_errors(op_id, error_body(
                "the store is unavailable; try again shortly", "SERVICE_UNAVAILABLE",
                rl.request_id)["errors"])
        except Exception:
            status = "error"
            log.exception("operation failed", extra={"fields": {"requestId": rl.request_id}})
            await self._send_errors(op_id, error_body(
                "internal server error", "INTERNAL_SERVER_ERROR", rl.request_id)["errors"])
        finally:
            current_calls.reset(token)
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]
            if kind is not None:
                rl.fields["operationType"] = kind.value
            rl.emit(status)

    async def _stream(self, op_id: str, caller: Caller, query: str,
                      variables: dict[str, Any] | None, name: str | None,
                      rl: RequestLog) -> None:
        rl.fields["events"] = 0
        context = await self._admit(caller, rl)
        results: AsyncGenerator[ExecutionResult, None] = await self.api.schema.subscribe(
            query, variable_values=variables, context_value=context, operation_name=name)
        metrics = self.api.metrics
        with metrics.subscriptions.track_inprogress() if metrics else contextlib.nullcontext():
            async with contextlib.aclosing(results):
                async for result in results:
                    if isinstance(result, PreExecutionError):
                        raise _Refused(formatted(result, True)["errors"])
                    payload: dict[str, Any] = {"data": result.data}
                    if result.errors:
                        payload["errors"] = [e.formatted for e in result.errors]
                    await self.send({"id": op_id, "type": "next", "payload": payload})
                    rl.fields["events"] += 1
        ended = context.extra.get(activity.ENDED)
        if ended is not None:
            raise _AccessEnded(ended)

    async def _execute(self, op_id: str, caller: Caller, query: str,
                       variables: dict[str, Any] | None, name: str | None,
                       rl: RequestLog) -> None:
        """One result, as ``POST /graphql`` would give it (web/http.py)."""
        context = await self._admit(caller, rl)
        try:
            result = await self.api.schema.execute(
                query, variable_values=variables, context_value=context, operation_name=name,
                allowed_operation_types=SINGLE_RESULT)
        except CannotGetOperationTypeError as exc:
            raise _Refused([dict(GraphQLError(exc.as_http_error_reason()).formatted)]) from None
        except InvalidOperationTypeError:  # only if the two parses above disagreed
            raise _Refused(error_body("this operation could not be run over the socket",
                                      "BAD_REQUEST", rl.request_id)["errors"]) from None
        except MissingQueryError:
            raise _Refused(error_body("the request has no `query`", "BAD_REQUEST",
                                      rl.request_id)["errors"]) from None
        if is_request_error(result):
            raise _Refused(formatted(result, True)["errors"])
        await self.send({"id": op_id, "type": "next", "payload": formatted(result, False)})

    async def _end_access(self, reason: str) -> None:
        """Every subscription of the socket gets an error with the reason, then the socket
        closes with 4403: nothing it was opened for is allowed any more."""
        for op_id in list(self.operations):
            await self._send_errors(op_id, [{"message": reason,
                                             "extensions": {"code": "FORBIDDEN"}}])
        await self.close(4403, f"Forbidden: {reason}")

    async def _watch_membership(self, caller: Caller) -> None:
        """While subscriptions are open and quiet, re-read the membership every
        ``membership_recheck_seconds``, so a socket of someone removed or suspended in
        another process (whose events this one never sees) closes within that time."""
        interval = self.api.api_settings.membership_recheck_seconds
        while True:
            await asyncio.sleep(interval)
            if not self.operations:
                continue
            try:
                member, _org = await read_membership(self.api.require_store(), caller)
            except (StoreError, StoreNotOpen) as exc:
                log.warning("could not recheck a subscriber's membership: %s",
                            type(exc).__name__)
                continue
            ended = activity.access_ended(member)
            if ended is not None:
                await self._end_access(ended)
                return

    async def _admit(self, caller: Caller, rl: RequestLog) -> Context:
        """The operation's context, counted against the quota as one call over HTTP is (a
        subscription counts once, when it starts)."""
        try:
            return await edge.admit(self.api, caller, rl, rl.calls)
        except edge.Refusal as refusal:
            errors = error_body(refusal.message, refusal.code, rl.request_id)["errors"]
            if refusal.retry_after is not None:
                errors[0]["extensions"]["retryAfter"] = refusal.retry_after
            raise _Refused(errors) from None

    async def _send_errors(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        with contextlib.suppress(_Closed):
            await self.send({"id": op_id, "type": "error", "payload": errors})

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            if self.websocket.application_state is not WebSocketState.CONNECTED:
                raise _Closed
            try:
                await self.websocket.send_text(orjson.dumps(message).decode())
            except (WebSocketDisconnect, RuntimeError, OSError):
                raise _Closed from None

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, OSError):
                    await self.websocket.close(code=code, reason=_reason(reason))
