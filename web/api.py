"""What every endpoint shares: settings, the schema, the authenticator, the store, the broker."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from datastore.feeds import Feed
from datastore.store import CallLog, Store
from resolvers.context import ApiSettings, Caller
from resolvers.events import ActivityBroker
from web.auth import Authenticator
from web.logs import request_logger
from web.quota import UsageMeter
from web.settings import Settings

if TYPE_CHECKING:  # prometheus-client loads only when metrics are on
    from web.metrics import Metrics

MAX_LOGGED_NAME = 100


class StoreNotOpen(RuntimeError):
    """A request arrived before the app's lifespan opened the store, or after it closed it."""


@dataclass
class Api:
    settings: Settings
    schema: strawberry.Schema
    authenticator: Authenticator
    api_settings: ApiSettings
    broker: ActivityBroker
    store: Store | None = None  # opened and closed by the app's lifespan
    meter: UsageMeter | None = None  # None when quotas are off
    feed: Feed | None = None  # what every process writes, when events come from the store
    metrics: Metrics | None = None  # None when GET /metrics is off

    def require_store(self) -> Store:
        if self.store is None:
            raise StoreNotOpen("the store is not open")
        return self.store


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass
class RequestLog:
    """The one log line of a request or a subscription, filled in as it runs."""

    kind: str
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, Any] = field(default_factory=dict)
    calls: CallLog = field(default_factory=CallLog)
    metrics: Metrics | None = None

    def caller(self, caller: Caller) -> None:
        self.fields["org"] = caller.org_id
        self.fields["user"] = caller.user_id

    def operation(self, name: str | None) -> None:
        names = self.fields.setdefault("operations", [])
        names.append(name[:MAX_LOGGED_NAME] if name else None)

    def emit(self, status: int | str, *, level: int = 20) -> None:
        seconds = time.perf_counter() - self.started
        duration_ms = round(seconds * 1000, 2)
        fields = dict(self.fields)
        names = fields.pop("operations", [])
        if self.metrics is not None:
            self.metrics.request(self.kind, names, status, seconds)
        if len(names) == 1:
            fields["operation"] = names[0]
        elif names:
            fields["operations"] = names
        line = {"requestId": self.request_id, "kind": self.kind, **fields,
                "status": status, "durationMs": duration_ms,
                "storeCalls": self.calls.total, "storeCallsByOp": dict(self.calls.calls),
                "failedStoreCalls": self.calls.failed,
                "readCapacityUnits": round(self.calls.read_units, 2),
                "writeCapacityUnits": round(self.calls.write_units, 2)}
        what = f"{fields.get('method', self.kind)} {fields.get('path', '')}".strip()
        request_logger().log(level, "%s %s", what, status, extra={"fields": line})
