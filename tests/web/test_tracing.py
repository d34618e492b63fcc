"""OpenTelemetry tracing: the operation, its resolvers and each store call as spans, nested,
with nothing of the request's data in them; to an in-memory exporter, and over OTLP/HTTP to
a local collector from a real `devinsights serve`."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.web.servers import (
    SECRET,
    bearer,
    cli_env,
    devinsights,
    run_cli,
    serve_process,
    serving,
    settings_for,
    token,
    wait_until_ready,
)

VIEWER = {"query": "query Viewer { viewer { name } organization { name } }",
          "operationName": "Viewer"}
INVITE = {"query": 'mutation Invite { inviteMember(input: {email: "secret.person@x.io", '
                   "role: VIEWER}) { ... on InviteMemberSuccess { token } } }",
          "operationName": "Invite"}


def attributes(spans: list[ReadableSpan]) -> str:
    return repr([dict(s.attributes or {}) for s in spans]) + repr([s.name for s in spans])


def test_an_operation_its_resolvers_and_store_calls_are_nested_spans(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with serving(settings_for(tmp_path), tracer_provider=provider) as served:
        exporter.clear()  # the demo's loading and the readiness pings
        viewer = httpx.post(f"{served.url}/graphql", json=VIEWER, headers=bearer(token()))
        viewer_spans = list(exporter.get_finished_spans())
        exporter.clear()
        invite = httpx.post(f"{served.url}/graphql", json=INVITE, headers=bearer(token()))
        invite_spans = list(exporter.get_finished_spans())

    assert viewer.status_code == 200, viewer.text
    assert "errors" not in viewer.json(), viewer.text
    by_name = {s.name: s for s in viewer_spans}
    operation = by_name["GraphQL Query: Viewer"]
    assert dict(operation.attributes or {})["graphql.operation.type"] == "query"
    assert {"GraphQL Parsing", "GraphQL Validation", "GraphQL Resolving: viewer"} <= set(by_name)
    resolver = by_name["GraphQL Resolving: viewer"]
    assert resolver.parent is not None
    assert resolver.parent.span_id == operation.context.span_id
    stores = [s for s in viewer_spans if s.name.startswith("store.")]
    assert stores, [s.name for s in viewer_spans]
    assert all(dict(s.attributes or {})["db.system"] == "sqlite" for s in stores)

    secret_token = invite.json()["data"]["inviteMember"]["token"]
    # A store call a resolver makes is a child of that resolver's span, in its trace.
    named = {s.name: s for s in invite_spans}
    invite_resolver = named["GraphQL Resolving: inviteMember"]
    transact = named["store.transact"]
    assert transact.parent is not None
    assert transact.parent.span_id == invite_resolver.context.span_id
    assert transact.context.trace_id == named["GraphQL Query: Invite"].context.trace_id
    seen = attributes(invite_spans)
    assert "GraphQL Query: Invite" in seen
    assert "store.transact" in seen
    for private in ("secret.person@x.io", secret_token, "inviteMember(input", SECRET):
        assert private not in seen


@contextmanager
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A local OTLP/HTTP collector: what it is sent, decoded."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name="otlp", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/traces", received
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_serve_sends_its_spans_over_otlp_and_flushes_them_when_it_stops(
        tmp_path: Path) -> None:
    with collector() as (url, received):
        env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET, DEVINSIGHTS_OTLP_ENDPOINT=url,
                      DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "t.sqlite3"))
        assert run_cli("demo-data", env=env).returncode == 0
        with serve_process([*devinsights(), "serve", "--port", "0"], env,
                           until="GraphiQL:") as served:
            wait_until_ready(served.url)
            answer = httpx.post(f"{served.url}/graphql", json=VIEWER, headers=bearer(token()))
        # Stopped: the spans still batched were sent as it shut down.

    assert answer.status_code == 200, answer.text
    spans = [span for request in received for resource in request.resource_spans
             for scope in resource.scope_spans for span in scope.spans]
    services = {a.value.string_value for request in received
                for resource in request.resource_spans
                for a in resource.resource.attributes if a.key == "service.name"}
    names = {s.name for s in spans}
    assert services == {"devinsights-api"}
    assert {"GraphQL Query: Viewer", "GraphQL Resolving: viewer"} <= names
    assert any(n.startswith("store.") for n in names)


def test_an_endpoint_that_is_not_a_url_is_refused_in_one_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET, DEVINSIGHTS_OTLP_ENDPOINT="nope")

    result = run_cli("serve", "--port", "0", env=env)

    assert result.returncode == 2
    assert result.stderr.strip().endswith("must be an http(s) URL such as "
                                          "http://localhost:4318/v1/traces, not 'nope'")


async def test_span_names_take_only_bounded_operation_names() -> None:
    from schema import build_schema
    from web.tracing import schema_extension

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    schema = build_schema(tracing=schema_extension(provider))
    long = "A" * 101

    for name in ("Fine", long):
        await schema.execute(f"query {name} {{ __typename }}", operation_name=name)
    await schema.execute("{ __typename }")

    names = [s.name for s in exporter.get_finished_spans() if s.name.startswith("GraphQL Q")]
    assert names == ["GraphQL Query: Fine", "GraphQL Query: other", "GraphQL Query"]
