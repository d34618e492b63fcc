"""Optional OpenTelemetry tracing: each GraphQL operation, its resolvers and every store call
as spans, sent over OTLP/HTTP when ``DEVINSIGHTS_OTLP_ENDPOINT`` is set.

The packages are the ``tracing`` extra (``pip install 'devinsights-api[tracing]'``) and are
imported only when tracing is on. Spans carry names and shapes only: the operation's name
and type, each resolver's field and path, each store call's operation and outcome. Never
the query text or arguments (they hold invitation tokens and emails) and never keys or
items: a trace backend is a log, and nothing secret goes to a log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing.opentelemetry import OpenTelemetryExtension

from datastore.store import Store
from web.metrics import BoundedNames

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SERVICE = "devinsights-api"
INSTALL = "pip install 'devinsights-api[tracing]'"


class TracingUnavailable(RuntimeError):
    """Tracing is configured but its packages are not installed."""


def otlp_provider(endpoint: str) -> TracerProvider:
    """A provider that batches spans to an OTLP/HTTP collector at ``endpoint``."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise TracingUnavailable(f"DEVINSIGHTS_OTLP_ENDPOINT is set but OpenTelemetry is not "
                                 f"installed; run: {INSTALL}") from None
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def _no_arguments(_args: dict[str, Any], _info: Any) -> dict[str, Any]:
    return {}


class PrivateTracing(OpenTelemetryExtension):
    """Strawberry's OpenTelemetry extension without the query text and the arguments."""

    def __init__(self, *, tracer_provider: Any, names: BoundedNames) -> None:
        super().__init__(arg_filter=_no_arguments, tracer_provider=tracer_provider)
        self._names = names

    def on_operation(self) -> Generator[None, None, None]:
        from opentelemetry.trace import SpanKind

        context = self.execution_context
        span = self._tracer.start_span(self._span_name(context.operation_name),
                                       kind=SpanKind.SERVER)
        span.set_attribute("component", "graphql")
        self._span_holder[LifecycleStep.OPERATION] = span
        try:
            yield
        finally:
            if context.operation_name:
                span.update_name(self._span_name(context.operation_name))
            with contextlib.suppress(Exception):  # no document or no such operation
                span.set_attribute("graphql.operation.type",
                                   context.operation_type.value.lower())
            errors = context.pre_execution_errors or (
                context.result.errors if context.result is not None else None)
            if errors:
                span.set_attribute("graphql.errors", len(errors))
            span.end()

    def _span_name(self, operation_name: str | None) -> str:
        """Strawberry's span name, with the name bounded as /metrics bounds its labels."""
        name = self._names(operation_name)
        return "GraphQL Query" if name == "anonymous" else f"GraphQL Query: {name}"


def schema_extension(provider: Any) -> Callable[[], SchemaExtension]:
    names = BoundedNames()  # one set per app, shared by its requests
    return lambda: PrivateTracing(tracer_provider=provider, names=names)


def trace_store(store: Store, provider: Any) -> Callable[[], None]:
    """Make each store attempt a span (``store.get``, ``store.transact``, ...) in the
    current trace. The store's method is replaced on this instance only, so a server
    without tracing runs the store's code unchanged."""
    from opentelemetry.trace import StatusCode

    tracer = provider.get_tracer("devinsights.store")
    if "_attempt" in vars(store):
        raise RuntimeError("this store is traced already")
    attempt = store._attempt

    async def traced(op: str, request: Any) -> Any:
        with tracer.start_as_current_span(f"store.{op}", record_exception=False,
                                          set_status_on_exception=False) as span:
            span.set_attribute("db.system", "dynamodb" if store.name == "dynamodb"
                               else "sqlite")
            span.set_attribute("db.operation", op)
            try:
                return await attempt(op, request)
            except Exception as exc:
                # The kind of failure only: a message may name a key, and keys hold emails.
                span.set_status(StatusCode.ERROR, type(exc).__name__)
                raise

    store._attempt = traced  # type: ignore[method-assign]

    def untrace() -> None:
        del store._attempt  # the class's method again

    return untrace
