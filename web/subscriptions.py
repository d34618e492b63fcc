"""Subscriptions over WebSocket at ``/graphql``, speaking ``graphql-transport-ws``.

The token arrives in ``connection_init`` as ``{"Authorization": "Bearer <token>"}`` (a
browser cannot set headers on a WebSocket) and is checked by the same authenticator as HTTP;
a bad one closes the socket with 4403 and the reason. Each ``subscribe`` runs as its own
task with its own per-request context, so its events can only come from the caller's org.
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
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.http.websocket_origin import is_same_origin, normalize_origin
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from datastore.errors import StoreError
from datastore.store import current_calls
from resolvers.context import Caller, make_context
from web.api import Api, RequestLog, StoreNotOpen
from web.auth import InvalidToken, KeysUnavailable, bearer_token

log = logging.getLogger("devinsights.subscriptions")

PROTOCOL = "graphql-transport-ws"
MAX_OPERATIONS = 100
MAX_CLOSE_REASON = 123  # bytes, the WebSocket limit


class _Closed(Exception):
    """The connection was closed; stop reading."""


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...]) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: nothing to hijack
    if is_same_origin(origin, websocket.headers.get("host")):
        return True
    return "*" in allowed or normalize_origin(origin) in allowed


def _reason(text: str) -> str:
    return text.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")


class SubscriptionServer:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def endpoint(self, websocket: WebSocket) -> None:
        if not origin_allowed(websocket, self.api.settings.cors_origins):
            log.warning("refused a WebSocket from a cross-site origin",
                        extra={"fields": {"origin": websocket.headers.get("origin")}})
            await websocket.close(code=1008)  # before accept: the handshake gets a 403
            return
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.accept()
            await websocket.close(code=4406, reason=f"Subprotocol not acceptable; use {PROTOCOL}")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        await Connection(self.api, websocket).run()


class Connection:
    """One WebSocket: its caller once acknowledged, and its running operations by id."""

    def __init__(self, api: Api, websocket: WebSocket) -> None:
        self.api = api
        self.websocket = websocket
        self.caller: Caller | None = None
        self.init_received = False
        self._expiry: asyncio.Task[None] | None = None
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
            timers = [t for t in (deadline, self._expiry) if t is not None]
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
        headers = {str(k).lower(): v for k, v in (payload or {}).items()}
        authorization = headers.get("authorization")
        try:
            verified = await self.api.authenticator.verify(
                bearer_token(authorization if isinstance(authorization, str) else None))
        except InvalidToken as exc:
            log.info("WebSocket refused: %s", exc, extra={"fields": {"reason": str(exc)}})
            await self.close(4403, f"Forbidden: {exc}")
            raise _Closed from None
        except KeysUnavailable as exc:
            await self.close(1011, f"{exc}; try again shortly")
            raise _Closed from None
        self.caller = verified.caller
        self._expiry = asyncio.create_task(self._close_when_expired(verified.expires_at))
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
                {"message": f"at most {MAX_OPERATIONS} subscriptions per connection"}]})
            return
        self.operations[op_id] = asyncio.create_task(
            self._operation(op_id, self.caller, payload["query"], payload.get("variables"),
                            payload.get("operationName") or None))

    async def _operation(self, op_id: str, caller: Caller, query: str,
                         variables: dict[str, Any] | None, name: str | None) -> None:
        rl = RequestLog("subscription", fields={"path": "/graphql"})
        rl.caller(caller)
        rl.operation(name)
        token = current_calls.set(rl.calls)
        events, status = 0, "complete"
        try:
            context = await make_context(
                self.api.require_store(), caller, self.api.api_settings, self.api.broker,
                request_id=rl.request_id, calls=rl.calls)
            results: AsyncGenerator[ExecutionResult, None] = await self.api.schema.subscribe(
                query, variable_values=variables, context_value=context, operation_name=name)
            async with contextlib.aclosing(results):
                async for result in results:
                    if isinstance(result, PreExecutionError):
                        status = "error"
                        await self.send({"id": op_id, "type": "error", "payload": [
                            e.formatted for e in result.errors or ()]})
                        return
                    payload: dict[str, Any] = {"data": result.data}
                    if result.errors:
                        payload["errors"] = [e.formatted for e in result.errors]
                    await self.send({"id": op_id, "type": "next", "payload": payload})
                    events += 1
            await self.send({"id": op_id, "type": "complete"})
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except _Closed:
            status = "closed"
        except (StoreError, StoreNotOpen):
            status = "error"
            await self._send_error(op_id, "the store is unavailable; try again shortly")
        except Exception:
            status = "error"
            log.exception("subscription failed", extra={"fields": {"requestId": rl.request_id}})
            await self._send_error(op_id, "internal server error")
        finally:
            current_calls.reset(token)
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]
            rl.fields["events"] = events
            rl.emit(status)

    async def _send_error(self, op_id: str, message: str) -> None:
        with contextlib.suppress(_Closed):
            await self.send({"id": op_id, "type": "error", "payload": [{"message": message}]})

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
