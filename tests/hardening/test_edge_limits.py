"""What a client may send before the API does any work for it, against a real uvicorn server.

Variables are bounded where the request is validated, before GraphQL runs. Over raw sockets:
headers are bounded in count and bytes as they arrive (431 before the parser holds more),
and a connection that sends its headers or its body too slowly is closed (408). The server
here runs with one-second timeouts; every bound asserted is several times that, so a slow
machine passes and a server that never closes fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.hardening import tally
from tests.hardening.test_hostile_http import (
    HEADERS,
    HOSTILE,
    RECORD,
    SET_LANGUAGE,
    Server,
    analytics,
    assert_still_serving,
    connect,
    refused,
    serve,
)
from tests.web.servers import bearer, token

MAX_VALUES = 10_000
MAX_DEPTH = 16
TIMEOUT = 1.0  # the header and body timeouts of this module's server
CLOSED_WITHIN = 5.0  # seconds: the timeout, plus everything a loaded machine may add


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("edge")) as s:
        yield s


@pytest.fixture(autouse=True)
def unharmed(server: Server) -> Iterator[None]:
    """After every test: the server still serves, and the table is as it was before."""
    before = server.table()
    yield
    assert_still_serving(server)
    assert server.table() == before, "a refused request changed the table"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with connect(server) as c:
        yield c


def post(client: httpx.Client, body: Any) -> httpx.Response:
    tally.add(HOSTILE)
    return client.post("/graphql", content=orjson.dumps(body), headers=HEADERS)


def issues(count: int) -> dict[str, Any]:
    """RecordGitHubData's variables holding exactly ``count`` values, ``issues`` included."""
    # The object, input, its 4 members, codeQuality's 1 member: 7 values before the issues.
    return analytics(codeQuality={"issues": [""] * (count - 7)})


def nested(levels: int) -> dict[str, Any]:
    """Variables ``levels`` deep, the variables object being the first level."""
    value: Any = "en"
    for _ in range(levels - 1):
        value = [value]
    return {"language": value}


# Variables


def test_a_150000_entry_list_variable_is_400_before_graphql_runs(client: httpx.Client) -> None:
    body = {"query": RECORD, "variables": analytics(codeQuality={"issues": [""] * 150_000})}

    error = refused(post(client, body), 400, f"at most {MAX_VALUES} values")

    assert error["extensions"]["code"] == "BAD_REQUEST"


def test_variables_of_exactly_the_most_values_reach_graphql(client: httpx.Client) -> None:
    over = post(client, {"query": RECORD, "variables": issues(MAX_VALUES + 1)})
    at = post(client, {"query": RECORD, "variables": issues(MAX_VALUES)})

    refused(over, 400, f"at most {MAX_VALUES} values")
    assert at.status_code == 200  # the mutation's own validation answers: over 50 issues
    assert at.json()["data"]["recordGitHubData"]["__typename"] == "ValidationError"


def test_variables_nested_past_the_depth_limit_are_400(client: httpx.Client) -> None:
    over = post(client, {"query": SET_LANGUAGE, "variables": nested(MAX_DEPTH + 1)})
    at = post(client, {"query": SET_LANGUAGE, "variables": nested(MAX_DEPTH)})

    refused(over, 400, f"at most {MAX_DEPTH} levels deep")
    error = refused(at, 400, "$language")  # GraphQL's own answer: a list is not a String
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_deeply_nested_object_is_refused_like_a_list(client: httpx.Client) -> None:
    value: Any = {}
    for _ in range(200):  # orjson, at either end, nests no deeper than 254
        value = {"a": value}

    refused(post(client, {"query": SET_LANGUAGE, "variables": {"language": value}}), 400,
            f"at most {MAX_DEPTH} levels deep")


def test_variables_over_the_limit_in_a_get_query_string_are_400(client: httpx.Client) -> None:
    tally.add(HOSTILE)
    response = client.get("/graphql", headers=HEADERS, params={
        "query": "query Q($language: [String]) { __typename }",
        "variables": orjson.dumps(nested(MAX_DEPTH + 1)).decode()})

    refused(response, 400, f"at most {MAX_DEPTH} levels deep")


def test_one_operation_of_a_batch_over_the_limit_refuses_the_whole_batch(
        client: httpx.Client) -> None:
    batch = [{"query": SET_LANGUAGE, "variables": {"language": "never"}},
             {"query": RECORD, "variables": issues(MAX_VALUES + 1)}]

    refused(post(client, batch), 400, f"at most {MAX_VALUES} values")


def test_the_variable_limits_are_settings(tmp_path: Path) -> None:
    with serve(tmp_path, max_variable_values=5, max_variable_depth=2) as small:
        before = small.table()
        with connect(small) as client:
            five = post(client, {"query": SET_LANGUAGE, "variables": {"language": "en", "x": [
                1, 2]}})
            six = post(client, {"query": SET_LANGUAGE, "variables": {"language": "en", "x": [
                1, 2, 3]}})
            deep = post(client, {"query": SET_LANGUAGE, "variables": {"language": [["en"]]}})
        assert small.table() != before  # the one that ran set the language

    assert five.status_code == 200
    refused(six, 400, "at most 5 values")
    refused(deep, 400, "at most 2 levels deep")


async def test_a_websocket_operation_over_the_limit_gets_an_error_and_the_socket_stays_open(
        server: Server) -> None:
    async with ws_connect(server.served.ws_url,
                          subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": bearer(token())})
                      .decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(orjson.dumps({"id": "big", "type": "subscribe", "payload": {
            "query": RECORD, "variables": issues(MAX_VALUES + 1)}}).decode())
        error = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(orjson.dumps({"id": "small", "type": "subscribe", "payload": {
            "query": "{ viewer { name } }"}}).decode())
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))

    assert (error["id"], error["type"]) == ("big", "error")
    assert f"at most {MAX_VALUES} values" in error["payload"][0]["message"]
    assert error["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert answer == {"id": "small", "type": "next",
                      "payload": {"data": {"viewer": {"name": "Alice Developer"}}}}
