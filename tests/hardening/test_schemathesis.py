"""A schemathesis GraphQL run of every query and mutation against the real server.

The committed schema (schema/schema.graphql) drives the generation; each case is sent by
the demo admin to a uvicorn server on 127.0.0.1 with the demo organization. Every response
must be free of server errors (no 5xx, no error outside the caller's own input), of nulls in
non-null fields, and of INTERNAL_SERVER_ERROR. Queries the schema rejects (negative cases)
must be refused. The run is bounded: a number of examples per operation and a time budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.graphql import nodes
from schemathesis.specs.graphql import scalars
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
)

from datastore import demo
from schema.node import global_id
from tests.hardening import tally
from tests.web.servers import Served, bearer, serving, settings_for, token

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"
SCHEMA = schemathesis.graphql.from_path(SCHEMA_FILE)
Operation = APIOperation[Any, Any, Any, Any]


def operations() -> list[Operation]:
    found = []
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot read the schema: {result.err()}"
        found.append(result.ok())
    return found


OPERATIONS = operations()
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 10}
BUDGET_SECONDS = 60.0
# Ids of people who exist, so that member(userId:) and friends reach real data, and their
# global ids, so that node(id:) and nodes(ids:) do; never the admin's own, so that the run
# cannot demote or remove the caller and refuse itself.
USER_IDS = [p["user_id"] for p in demo.PEOPLE if p["user_id"] != demo.DEMO_ADMIN]
KNOWN_IDS = USER_IDS + [global_id("Member", demo.DEMO_ORG, u) for u in USER_IDS]
CASES = "schemathesis cases tried"


def no_internal_error(ctx: CheckContext, response: schemathesis.Response,
                      case: schemathesis.Case[Operation]) -> bool | None:
    """Nothing in any response is masked as unexpected."""
    if "json" not in response.headers.get("content-type", [""])[0]:
        return None
    body = response.json()
    payloads = body if isinstance(body, list) else [body]
    codes = [(error.get("extensions") or {}).get("code")
             for payload in payloads for error in payload.get("errors") or []]
    assert "INTERNAL_SERVER_ERROR" not in codes, f"an unexpected error: {body}"
    return None


CHECKS = {
    GenerationMode.POSITIVE: [not_a_server_error, response_schema_conformance,
                              no_internal_error],
    GenerationMode.NEGATIVE: [not_a_server_error, negative_data_rejection, no_internal_error],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(settings_for(tmp_path_factory.mktemp("schemathesis"))) as s:
        yield s


@pytest.fixture(scope="module")
def deadline() -> float:
    return time.monotonic() + BUDGET_SECONDS


@pytest.fixture(scope="module", autouse=True)
def known_ids() -> Iterator[None]:
    """IDs are often people of the demo organization, and anything at all otherwise."""
    previous = scalars.CUSTOM_SCALARS.get("ID")
    schemathesis.graphql.scalar("ID", st.one_of(
        st.sampled_from(KNOWN_IDS), st.text(max_size=300)).map(nodes.String))
    yield
    if previous is None:
        scalars.CUSTOM_SCALARS.pop("ID", None)
    else:
        scalars.CUSTOM_SCALARS["ID"] = previous


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_server_error_and_no_null_in_a_non_null_field(
        operation: Operation, mode: GenerationMode, served: Served,
        deadline: float) -> None:
    headers = bearer(token())
    tried = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        nonlocal tried
        if time.monotonic() > deadline:
            return
        tried += 1
        # A new connection per case: the test server's sockets lack TCP_NODELAY, so a reused
        # connection waits out a delayed ACK (40 ms) on every request.
        case.call_and_validate(base_url=served.graphql_url, headers=headers,
                               checks=CHECKS[mode])

    try:
        run()
    finally:
        tally.add(CASES, tried)
