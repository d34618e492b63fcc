"""``GET /metrics``: Prometheus' text format, for the operator's scraper only.

Off unless ``DEVINSIGHTS_METRICS_TOKEN`` is set; then the scraper sends it as a bearer token
and nothing else opens the endpoint (a tenant's JWT is refused like any other wrong
token). Every figure is a count of this server's own work, never a tenant's data: the
labels are operation names (bounded: at most MAX_OPERATION_NAMES per process, then
``other``), status codes, store operation names and outcome words.

Under ``--workers`` each worker writes its figures to files in a directory the parent
makes (prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR set before the
workers start), and whichever worker answers ``/metrics`` sums them all.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.requests import Request
from starlette.responses import Response

from datastore.store import Units

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when imported
MAX_OPERATION_NAMES = 200
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)


class BoundedNames:
    """Client-chosen operation names as labels: the name when it is a GraphQL name of at
    most 100 characters among the first ``limit`` this process has seen, else ``other``
    (``anonymous`` without one). A label per name would let any client grow the server's
    memory and the scraper's or trace backend's series without bound, and a name is only
    what the client wrote: it could carry anything."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._names:
            return name
        if NAME.fullmatch(name) is None:
            return "other"
        with self._lock:
            if len(self._names) >= self.limit:
                return "other"
            self._names.add(name)
        return name


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """This server's counters; one per app (tests run many apps in one process)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("devinsights_requests", "Requests and WebSocket operations "
                                "answered, by kind, GraphQL operation name and status.",
                                ["kind", "operation", "status"], registry=r)
        self.latency = Histogram("devinsights_request_duration_seconds", "Time to answer a "
                                 "request or to finish a WebSocket operation, by kind.",
                                 ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_calls = Counter("devinsights_store_calls", "Store calls (each attempt), "
                                   "by store operation and outcome.",
                                   ["operation", "outcome"], registry=r)
        self.capacity = Counter("devinsights_store_capacity_units", "Capacity units the "
                                "store reported, by store operation and read or write.",
                                ["operation", "kind"], registry=r)
        self.websockets = Gauge("devinsights_websockets_open", "WebSocket connections open.",
                                registry=r, multiprocess_mode="livesum")
        self.subscriptions = Gauge("devinsights_subscriptions_active", "Subscriptions "
                                   "streaming now.", registry=r,
                                   multiprocess_mode="livesum")
        self.quota_refusals = Counter("devinsights_quota_refusals", "Operations refused "
                                      "because the organization's quota was spent.",
                                      registry=r)
        self.jwks_refreshes = Counter("devinsights_jwks_refreshes", "Fetches of the identity "
                                      "provider's JWKS, by outcome.", ["outcome"], registry=r)
        self.github_calls = Counter("devinsights_github_api_calls", "GitHub API responses, "
                                    "by HTTP status.", ["status"], registry=r)
        self._operation = BoundedNames()

    # What the server reports

    def request(self, kind: str, names: Sequence[str | None], status: int | str,
                seconds: float) -> None:
        label = str(status)
        for name in names or (None,):
            self.requests.labels(kind, self._operation(name), label).inc()
        self.latency.labels(kind).observe(seconds)

    def store_call(self, op: str, units: Units, failed: bool) -> None:
        self.store_calls.labels(op, "failed" if failed else "ok").inc()
        if units.read:
            self.capacity.labels(op, "read").inc(units.read)
        if units.write:
            self.capacity.labels(op, "write").inc(units.write)

    def jwks_refreshes_by(self, outcome: str) -> None:
        self.jwks_refreshes.labels(outcome).inc()

    def github_response(self, status: int) -> None:
        self.github_calls.labels(str(status)).inc()

    # The endpoint

    def allowed(self, request: Request) -> bool:
        given = request.headers.getlist("authorization")
        if len(given) != 1:
            return False
        scheme, _, credential = given[0].partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode(), self._token)

    async def endpoint(self, request: Request) -> Response:
        if not self.allowed(request):
            return Response('{"error": "send the metrics token as a bearer token"}',
                            status_code=401, media_type="application/json",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"',
                                     "Cache-Control": "no-store"})
        if multiprocess():
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

