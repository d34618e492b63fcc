"""What a client may send before the API does any work for it, against a real uvicorn server.

Variables are bounded where the request is validated, before GraphQL runs. Over raw sockets:
headers are bounded in count and bytes as they arrive (431 before the parser holds more),
and a connection that sends its headers or its body too slowly is closed (408). The server
here runs with one-second timeouts; every bound asserted is several times that, so a slow
machine passes and a server that never closes fails.
"""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024
TIMEOUT = 1.0  # the header and body timeouts of this module's server
CLOSED_WITHIN = 5.0  # seconds: the timeout, plus everything a loaded machine may add


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("edge"), header_timeout_seconds=TIMEOUT,
               body_timeout_seconds=TIMEOUT) as s:
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


# Headers, over raw sockets


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed_after: float  # seconds from when the test started waiting

    def error(self) -> dict[str, Any]:
        first: dict[str, Any] = orjson.loads(self.body)["errors"][0]
        return first


def open_socket(server: Server) -> socket.socket:
    url = urlsplit(server.served.url)
    tally.add(HOSTILE)
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10)


def until_closed(sock: socket.socket, *, drip: bytes = b"", every: float = 0.25) -> Answer:
    """What the server answers until it closes the connection, sending ``drip`` (a byte at a
    time, every ``every`` seconds) meanwhile; fails if it is still open after CLOSED_WITHIN."""
    started = time.monotonic()
    received = b""
    pending = list(drip)
    with sock:
        while True:
            elapsed = time.monotonic() - started
            assert elapsed < CLOSED_WITHIN, f"the connection was still open after {elapsed:.1f} s"
            if pending:
                try:
                    sock.sendall(bytes([pending.pop(0)]))
                except (BrokenPipeError, ConnectionResetError):
                    pending = []
            readable, _, _ = select.select([sock], [], [], every)
            if not readable:
                continue
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return Answer(status, headers, body, time.monotonic() - started)


def request(path: str = "/healthz", headers: list[tuple[str, str]] | None = None,
            method: str = "GET", connection: str = "close") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: edge.test", f"Connection: {connection}",
             *(f"{name}: {value}" for name, value in headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sent(server: Server, data: bytes) -> Answer:
    sock = open_socket(server)
    sock.sendall(data)
    return until_closed(sock)


def assert_refused(server: Server, answer: Answer, status: int, code: str, says: str) -> None:
    assert answer.status == status, answer
    assert answer.closed_after < CLOSED_WITHIN
    assert answer.headers["connection"] == "close"
    error = answer.error()
    assert error["extensions"]["code"] == code
    assert says in error["message"]
    line = server.served.logs.request(answer.headers["x-request-id"])
    assert (line["status"], line["error"]) == (status, error["message"])


def padding(count: int) -> list[tuple[str, str]]:
    return [(f"X-Pad-{i}", "v") for i in range(count)]


def test_as_many_headers_as_the_limit_are_answered(server: Server) -> None:
    answer = sent(server, request(headers=padding(MAX_HEADERS - 2)))  # with Host, Connection

    assert answer.status == 200


def test_one_header_more_than_the_limit_is_431(server: Server) -> None:
    answer = sent(server, request(headers=padding(MAX_HEADERS - 1)))

    assert_refused(server, answer, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
                   f"at most {MAX_HEADERS} header fields")


def test_two_thousand_headers_are_431(server: Server) -> None:
    answer = sent(server, request(headers=padding(2000)))

    assert_refused(server, answer, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "header fields")


def big_header(total: int) -> list[tuple[str, str]]:
    """One header that makes the header section ``total`` bytes (names, values, ": ", CRLF)."""
    others = len("Host") + len("edge.test") + len("Connection") + len("close") + 2 * 4
    return [("X-Pad", "a" * (total - others - len("X-Pad") - 4))]


def test_headers_of_exactly_the_most_bytes_are_answered(server: Server) -> None:
    answer = sent(server, request(headers=big_header(MAX_HEADER_BYTES)))

    assert answer.status == 200


def test_headers_one_byte_over_the_most_bytes_are_431(server: Server) -> None:
    answer = sent(server, request(headers=big_header(MAX_HEADER_BYTES + 1)))

    assert_refused(server, answer, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
                   f"larger than {MAX_HEADER_BYTES} bytes")


def test_a_megabyte_header_is_431(server: Server) -> None:
    answer = sent(server, request(headers=[("X-Big", "a" * 1_000_000)]))

    assert_refused(server, answer, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "larger than")


def test_a_header_that_never_ends_is_431_once_past_the_limit_not_buffered_further(
        server: Server) -> None:
    sock = open_socket(server)
    # 100 KiB of one header, unfinished: the parser would keep all of it and wait for more.
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge.test\r\nX-Endless: " + b"a" * 100_000)

    answer = until_closed(sock)

    assert_refused(server, answer, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "larger than")


def test_a_url_longer_than_a_body_may_be_is_414_before_it_ends(server: Server) -> None:
    sock = open_socket(server)
    sock.sendall(b"GET /graphql?query=" + b"a" * (1024 * 1024 + 16 * 1024))

    answer = until_closed(sock)

    assert_refused(server, answer, 414, "URI_TOO_LONG", "URL is longer than")


def test_a_websocket_handshake_with_too_many_headers_is_431(server: Server) -> None:
    handshake = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                 ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                 ("Sec-WebSocket-Version", "13"),
                 ("Sec-WebSocket-Protocol", "graphql-transport-ws")]

    answer = sent(server, request("/graphql", handshake + padding(MAX_HEADERS)))

    assert_refused(server, answer, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "header fields")


# Slow clients


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
        server: Server) -> None:
    answer = until_closed(open_socket(server))

    assert answer.status == 0  # nothing to answer: it sent no request
    assert TIMEOUT * 0.5 < answer.closed_after < CLOSED_WITHIN


def test_headers_sent_a_byte_at_a_time_get_a_408_within_the_header_timeout(
        server: Server) -> None:
    sock = open_socket(server)
    sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: edge.test\r\n")

    answer = until_closed(sock, drip=b"X-Slow: " + b"s" * 100)

    assert_refused(server, answer, 408, "REQUEST_TIMEOUT",
                   f"headers did not arrive within {TIMEOUT:g} seconds")


def authorized_post(declared: int, body: bytes) -> bytes:
    return request("/graphql", [("Authorization", f"Bearer {token()}"),
                                ("Content-Type", "application/json"),
                                ("Content-Length", str(declared))], method="POST") + body


def test_a_body_that_stalls_gets_a_408_within_the_body_timeout(server: Server) -> None:
    answer = sent(server, authorized_post(100, b'{"query": '))

    assert_refused(server, answer, 408, "REQUEST_TIMEOUT",
                   f"body did not arrive within {TIMEOUT:g} seconds")


def test_a_body_sent_a_byte_at_a_time_gets_a_408_within_the_body_timeout(
        server: Server) -> None:
    sock = open_socket(server)
    sock.sendall(authorized_post(1000, b'{"query": "'))

    answer = until_closed(sock, drip=b"a" * 100)

    assert_refused(server, answer, 408, "REQUEST_TIMEOUT", "body did not arrive")


def test_a_body_still_trickling_in_after_the_answer_is_cut_off(server: Server) -> None:
    # No token: the answer (401) comes before the body is read, so nobody reads it; uvicorn
    # alone keeps such a kept-alive connection for as long as bytes keep coming.
    sock = open_socket(server)
    sock.sendall(request("/graphql", [("Content-Type", "application/json"),
                                      ("Content-Length", "1000")], method="POST",
                         connection="keep-alive") + b"{")

    answer = until_closed(sock, drip=b"a" * 100)

    assert answer.status == 401
    assert answer.closed_after < CLOSED_WITHIN


def test_forty_slow_connections_are_all_closed_within_the_timeouts(server: Server) -> None:
    opened = time.monotonic()
    slow_heads = [open_socket(server) for _ in range(20)]
    for sock in slow_heads:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: edge.test\r\n")
    stalled_bodies = [open_socket(server) for _ in range(20)]
    for sock in stalled_bodies:
        sock.sendall(authorized_post(100, b'{"qu'))

    answers = [until_closed(sock) for sock in slow_heads + stalled_bodies]

    assert [a.status for a in answers] == [408] * 40
    assert time.monotonic() - opened < CLOSED_WITHIN
