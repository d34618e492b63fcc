"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: the store does)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from web.api import Api

log = logging.getLogger("devinsights.health")

READY_TIMEOUT_SECONDS = 2.0


class Health:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def alive(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def ready(self, request: Request) -> JSONResponse:
        reason = await self._store_problem()
        if reason is None:
            return JSONResponse({"status": "ready", "store": self._store_name()},
                                headers={"Cache-Control": "no-store"})
        log.warning("not ready: %s", reason, extra={"fields": {"reason": reason}})
        return JSONResponse({"status": "unavailable", "store": self._store_name(),
                             "reason": reason}, status_code=503,
                            headers={"Cache-Control": "no-store", "Retry-After": "5"})

    def _store_name(self) -> str:
        return self.api.store.name if self.api.store is not None else self.api.settings.store

    async def _store_problem(self) -> str | None:
        store = self.api.store
        if store is None:
            return "the store is not open"
        try:
            await asyncio.wait_for(store.ping(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"the store did not answer within {READY_TIMEOUT_SECONDS:g}s"
        except Exception as exc:  # any failure means "not ready"; the reason says which
            return f"the store failed a ping: {type(exc).__name__}: {exc}"[:300]
        return None
