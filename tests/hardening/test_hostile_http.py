"""Hostile requests against a real uvicorn server on 127.0.0.1 with the demo organization.

Each one gets a clear 4xx or a GraphQL error with a code, quickly; afterwards the server
still answers /healthz and a normal query, and not one item of the table changed (read
straight from the SQLite file, every partition). The one attribute requests may change is
the organization's API call counter, which counts them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from datastore import demo, keys
from tests.hardening import tally
from tests.web.servers import Served, bearer, serving, settings_for, token

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
# Under graphql-response+json a request that fails before execution is a 400 (no data).
HEADERS = {**bearer(token()), "Content-Type": JSON, "Accept": GRAPHQL_RESPONSE}
MAX_BODY = 1024 * 1024
MAX_TOKENS = 2000
MAX_BATCH = 10
# Every refusal here takes milliseconds; the bound only has to tell that from minutes.
FAST_SECONDS = 3.0
HOSTILE = "hostile requests sent"

VIEWER = "query Viewer { viewer { name role } }"
SET_LANGUAGE = """mutation SetLanguage($language: String!) {
  updateMyPreferences(input: {language: $language}) {
    __typename
    ... on MutationError { code message }
    ... on ValidationError { field }
  }
}"""
INVITE = """mutation Invite($input: InviteMemberInput!) {
  inviteMember(input: $input) {
    __typename
    ... on MutationError { code message }
    ... on ValidationError { field }
  }
}"""
RECORD = """mutation Record($input: RecordGitHubDataInput!) {
  recordGitHubData(input: $input) {
    __typename
    ... on MutationError { code message }
    ... on ValidationError { field }
  }
}"""
RENAME = """mutation Rename($name: String!, $version: Int!) {
  updateOrganizationSettings(input: {expectedVersion: $version, name: $name}) {
    __typename
    ... on MutationError { code message }
    ... on ValidationError { field }
  }
}"""


@dataclass
class Server:
    served: Served
    sqlite_path: Path

    def table(self) -> dict[tuple[str, str], Any]:
        """Every item of every partition, but the organization's API call counter."""
        counter = keys.organization(demo.DEMO_ORG)
        uri = f"file:{self.sqlite_path}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute("SELECT pk, sk, body FROM items").fetchall()
        items = {}
        for pk, sk, body in rows:
            item = orjson.loads(body)
            if (pk, sk) == (counter.pk, counter.sk):
                item.get("usage", {}).pop("apiCalls", None)
            items[pk, sk] = item
        return items


@contextmanager
def serve(tmp: Path, **changes: Any) -> Iterator[Server]:
    settings = settings_for(tmp, **changes)
    assert settings.sqlite_path is not None
    with serving(settings) as served:
        yield Server(served, Path(settings.sqlite_path))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default limits: 1 MB bodies, depth 12, 30 aliases, 2000 tokens, batches of 10."""
    with serve(tmp_path_factory.mktemp("hostile")) as s:
        yield s


def connect(server: Server, timeout: float = 30) -> httpx.Client:
    # A connection per request: the test server's sockets lack TCP_NODELAY, so a kept-alive
    # connection waits out a delayed ACK (40 ms) on every request.
    return httpx.Client(base_url=server.served.url, timeout=timeout,
                        limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with connect(server) as c:
        yield c


@pytest.fixture(autouse=True)
def unharmed(server: Server) -> Iterator[None]:
    """After every test: the server still serves, and the table is as it was before."""
    before = server.table()
    yield
    assert_still_serving(server)
    assert server.table() == before, "a hostile request changed the table"


def assert_still_serving(server: Server) -> None:
    with connect(server, timeout=10) as fresh:
        assert fresh.get("/healthz").status_code == 200
        answer = fresh.post("/graphql", content=orjson.dumps({"query": VIEWER}),
                            headers=HEADERS)
    assert answer.status_code == 200
    assert answer.json() == {"data": {"viewer": {"name": "Alice Developer", "role": "ADMIN"}}}


def post(client: httpx.Client, body: Any) -> httpx.Response:
    tally.add(HOSTILE)
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post("/graphql", content=content, headers=HEADERS)


def refused(response: httpx.Response, status: int, says: str) -> dict[str, Any]:
    """The first error of a request refused before it ran, which says what was wrong."""
    assert response.status_code == status, response.text[:500]
    assert response.elapsed.total_seconds() < FAST_SECONDS
    body = response.json()
    assert "data" not in body
    errors = body["errors"]
    assert all(e.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR" for e in errors)
    assert says in errors[0]["message"], errors
    first: dict[str, Any] = errors[0]
    return first


def validation_error(response: httpx.Response, field: str) -> None:
    """The mutation answered, quickly, with a ValidationError naming ``field``."""
    assert response.status_code == 200, response.text[:500]
    assert response.elapsed.total_seconds() < FAST_SECONDS
    body = response.json()
    assert "errors" not in body, body["errors"]
    [result] = body["data"].values()
    assert result["__typename"] == "ValidationError", result
    assert (result["code"], result["field"]) == ("VALIDATION", field)
    assert result["message"]


# Bodies


def test_malformed_json_is_400_and_says_so(client: httpx.Client) -> None:
    error = refused(post(client, b'{"query": "{ viewer { name } }",'), 400, "not valid JSON")

    assert error["extensions"]["code"] == "BAD_REQUEST"


def test_a_body_that_is_not_utf8_is_400_and_says_so(client: httpx.Client) -> None:
    body = b'{"query": "{ viewer { name } }", "variables": {"x": "\xc3\x28\xff"}}'

    error = refused(post(client, body), 400, "not valid UTF-8")

    assert error["extensions"]["code"] == "BAD_REQUEST"


def ten_megabytes() -> bytes:
    return orjson.dumps({"query": SET_LANGUAGE, "variables": {"language": "x" * 10_000_000}})


def in_chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_ten_megabyte_body_is_413_and_the_server_keeps_serving(client: httpx.Client,
                                                                  chunked: bool) -> None:
    body = ten_megabytes()
    tally.add(HOSTILE)
    response = client.post("/graphql", content=in_chunks(body) if chunked else body,
                           headers=HEADERS)

    error = refused(response, 413, f"larger than {MAX_BODY} bytes")
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["connection"] == "close"


# Query shapes


def nested(levels: int) -> str:
    return "{ viewer { " + "invitedBy { " * levels + "name" + " }" * levels + " } }"


def test_a_query_nested_past_the_depth_limit_is_refused(client: httpx.Client) -> None:
    refused(post(client, {"query": nested(40)}), 400, "exceeds maximum operation depth of 12")


def test_depth_reached_through_fragments_is_refused(client: httpx.Client) -> None:
    chain = "\n".join(f"fragment F{i} on Member {{ invitedBy {{ ...F{i + 1} }} }}"
                      for i in range(20))
    query = f"query Deep {{ viewer {{ ...F0 }} }}\n{chain}\nfragment F20 on Member {{ name }}"

    refused(post(client, {"query": query}), 400, "'Deep' exceeds maximum operation depth")


def test_an_alias_bomb_is_refused_by_the_alias_limit(client: httpx.Client) -> None:
    aliases = " ".join(f"a{i}: viewer {{ name }}" for i in range(300))

    refused(post(client, {"query": f"{{ {aliases} }}"}), 400, "300 aliases found. Allowed: 30")


def fragment_bomb(levels: int, spreads: int, leaf: str) -> str:
    """``levels`` fragments, each spreading the one below ``spreads`` times."""
    lines = [f"fragment F0 on Query {{ {leaf} }}"]
    lines += [f"fragment F{i} on Query {{ {' '.join([f'...F{i - 1}'] * spreads)} }}"
              for i in range(1, levels)]
    return "\n".join([f"query Bomb {{ ...F{levels - 1} }}", *lines])


def test_a_fragment_bomb_is_refused_without_expanding_it(client: httpx.Client) -> None:
    # 10^7 aliases once expanded. Strawberry's limiters expanded every spread: half a minute
    # for this one, an hour for 10^9, all of it holding the event loop.
    query = fragment_bomb(8, 10, "a: viewer { name }")

    refused(post(client, {"query": query}), 400, "10000000 aliases found. Allowed: 30")


def test_a_fragment_bomb_within_the_limits_runs_its_field_once(client: httpx.Client) -> None:
    response = post(client, {"query": fragment_bomb(8, 10, "viewer { name }")})

    assert response.status_code == 200
    assert response.elapsed.total_seconds() < FAST_SECONDS
    assert response.json() == {"data": {"viewer": {"name": "Alice Developer"}}}


@pytest.mark.parametrize(("query", "says"), [
    ("fragment A on Query { ...B } fragment B on Query { ...A } { ...A }",
     "Cannot spread fragment 'A' within itself"),
    ("{ viewer { ...Nowhere } }", "Unknown fragment 'Nowhere'"),
], ids=["cycle", "unknown"])
def test_a_broken_fragment_is_a_validation_error(client: httpx.Client, query: str,
                                                 says: str) -> None:
    refused(post(client, {"query": query}), 400, says)


def test_ten_thousand_tokens_are_refused_by_the_token_limit(client: httpx.Client) -> None:
    query = "{ viewer { " + "name " * 10_000 + "} }"

    refused(post(client, {"query": query}), 400, f"more than {MAX_TOKENS} tokens")


def test_a_batch_beyond_the_limit_is_400_and_runs_none_of_it(client: httpx.Client) -> None:
    batch = [{"query": SET_LANGUAGE, "variables": {"language": f"batch-{i}"}}
             for i in range(MAX_BATCH + 1)]

    error = refused(post(client, batch), 400, f"at most {MAX_BATCH} operations")
    assert error["extensions"]["code"] == "BAD_REQUEST"


def test_an_unknown_operation_name_is_400_and_names_it(client: httpx.Client) -> None:
    body = {"query": f"{VIEWER}\n{SET_LANGUAGE}", "operationName": "DropTables",
            "variables": {"language": "never"}}

    refused(post(client, body), 400, '"DropTables"')


def test_a_mutation_over_get_is_405_and_writes_nothing(client: httpx.Client) -> None:
    tally.add(HOSTILE)
    response = client.get("/graphql", headers=HEADERS, params={
        "query": SET_LANGUAGE, "variables": '{"language": "via-get"}'})

    refused(response, 405, "mutations need POST")
    assert response.headers["allow"] == "POST"


# Variables


@pytest.mark.parametrize(("query", "variables", "names"), [
    (SET_LANGUAGE, {"language": 42}, "$language"),
    (SET_LANGUAGE, {"language": None}, "$language"),
    (SET_LANGUAGE, {}, "$language"),
    (SET_LANGUAGE, {"language": ["en", "de"]}, "$language"),
    (INVITE, {"input": {"email": 5}}, "$input"),
    (INVITE, {"input": {"email": "x@startup.com", "role": "OWNER"}}, "$input"),
    (INVITE, {"input": {"email": "x@startup.com", "isAdmin": True}}, "$input"),
    ("query Page($first: Int) { members(first: $first) { edges { cursor } } }",
     {"first": 2**40}, "$first"),
    ("query Page($first: Int) { members(first: $first) { edges { cursor } } }",
     {"first": "ten"}, "$first"),
], ids=["int for string", "null for non-null", "missing", "list for string",
        "int in an input", "unknown enum value", "unknown input field", "int over 32 bits",
        "string for int"])
def test_a_variable_of_the_wrong_type_is_400_naming_it(client: httpx.Client, query: str,
                                                       variables: dict[str, Any],
                                                       names: str) -> None:
    error = refused(post(client, {"query": query, "variables": variables}), 400, names)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] != "Unexpected error."


# Huge inputs


MEGABYTE_STRING = "n" * 1_000_000
# Far over the schema's 50 entries, within the 10,000 values `variables` may hold (the edge
# limits of tests/hardening/test_edge_limits.py refuse more before GraphQL runs).
FIVE_THOUSAND = [""] * 5_000


def analytics(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"githubUsername": "hostile-user", "codeQuality": {},
                              "metrics": {}, "burnoutRisk": {}}
    values.update(changes)
    return {"input": values}


@pytest.mark.parametrize(("query", "variables", "field"), [
    (INVITE, {"input": {"email": "new@startup.com", "name": MEGABYTE_STRING}}, "name"),
    (INVITE, {"input": {"email": f"{MEGABYTE_STRING}@startup.com"}}, "email"),
    (SET_LANGUAGE, {"language": MEGABYTE_STRING}, "language"),
    (RENAME, {"name": MEGABYTE_STRING, "version": 1}, "name"),
    (RECORD, analytics(githubUsername=MEGABYTE_STRING), "githubUsername"),
    (RECORD, analytics(codeQuality={"analysis": MEGABYTE_STRING}),
     "codeQuality.analysis"),
    (RECORD, analytics(codeQuality={"issues": FIVE_THOUSAND}), "codeQuality.issues"),
    (RECORD, analytics(metrics={"languages": [{"name": "", "percent": 0}] * 3_000}),
     "metrics.languages"),
], ids=["1 MB name", "1 MB email", "1 MB language", "1 MB organization name",
        "1 MB username", "1 MB analysis", "5,000 issues", "3,000 languages"])
def test_a_huge_input_is_a_validation_error_and_writes_nothing(
        client: httpx.Client, query: str, variables: dict[str, Any], field: str) -> None:
    response = post(client, {"query": query, "variables": variables})

    validation_error(response, field)


@pytest.mark.parametrize("query", [
    "query Q($v: String!) { githubData(username: $v) { githubUsername } }",
    "query Q($v: String!) { memberByEmail(email: $v) { name } }",
    "query Q($v: ID!) { member(userId: $v) { name } }",
    "query Q($v: String) { teamReport(date: $v) { reportDate } }",
    "query Q($v: String) { members(after: $v) { edges { cursor } } }",
], ids=["githubData", "memberByEmail", "member", "teamReport", "members cursor"])
def test_a_megabyte_argument_of_a_query_is_answered_quickly(client: httpx.Client,
                                                            query: str) -> None:
    response = post(client, {"query": query, "variables": {"v": MEGABYTE_STRING}})

    assert response.status_code == 200
    assert response.elapsed.total_seconds() < FAST_SECONDS
    body = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert MEGABYTE_STRING[:1000] not in error["message"]


# Introspection


INTROSPECTION = "{ __schema { queryType { name } } }"


def test_introspection_is_allowed_by_default(client: httpx.Client) -> None:
    response = post(client, {"query": INTROSPECTION})

    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_introspection_disabled_by_settings_is_a_validation_error(
        tmp_path: Path) -> None:
    with serve(tmp_path, introspection=False) as closed:
        before = closed.table()
        with connect(closed) as client:
            refused(post(client, {"query": INTROSPECTION}), 400, "introspection has been disabled")
            refused(post(client, {"query": "{ __type(name: \"Member\") { name } }"}), 400,
                    "introspection has been disabled")
            typename = post(client, {"query": "{ __typename }"})
        assert typename.json() == {"data": {"__typename": "Query"}}
        assert_still_serving(closed)
        assert closed.table() == before


# What would otherwise say "Did you mean ...?": a field, an argument, a type, an enum literal,
# an enum value of a variable, an input field.
SUGGESTED = [
    ({"query": "{ membrs { totalCount } }"}, "Cannot query field 'membrs'"),
    ({"query": "{ members(frist: 1) { totalCount } }"}, "Unknown argument 'frist'"),
    ({"query": "query ($r: Rol) { members(role: $r) { totalCount } }"}, "Unknown type 'Rol'"),
    ({"query": "{ members(role: ADMN) { totalCount } }"}, "ADMN"),
    ({"query": "query ($r: Role) { members(role: $r) { totalCount } }",
      "variables": {"r": "ADMN"}}, "ADMN"),
    ({"query": 'mutation { updateMyPreferences(input: {langage: "de"}) { __typename } }'},
     "langage"),
]


@pytest.mark.parametrize(("body", "says"), SUGGESTED, ids=[s for _, s in SUGGESTED])
def test_introspection_off_also_removes_suggestions(tmp_path: Path, body: dict[str, Any],
                                                    says: str) -> None:
    answers = {}
    for introspection in (True, False):
        with serve(tmp_path / str(introspection), introspection=introspection) as s, \
                connect(s) as client:
            answers[introspection] = refused(post(client, body), 400, says)["message"]
    assert "Did you mean" in answers[True]  # the case does produce a suggestion
    assert "Did you mean" not in answers[False]
    assert answers[False].startswith(answers[True].split(" Did you mean")[0].rstrip("."))
