"""GraphQL over HTTP at /graphql, against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from datastore.errors import StoreUnavailable
from datastore.store import Store
from tests.web.conftest import MAX_BATCH
from tests.web.servers import APP_ORIGIN, Served, bearer, token

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
VIEWER = "query Viewer { viewer { name role } }"
PREFERENCES = "query Prefs { viewer { preferences { language } } }"
SET_LANGUAGE = """mutation SetLanguage($language: String!) {
  updateMyPreferences(input: {language: $language}) {
    __typename
    ... on UpdateMyPreferencesSuccess { member { preferences { language } } }
  }
}"""


def post(client: httpx.Client, body: object, *, accept: str | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {**bearer(token()), "Content-Type": JSON, **(headers or {})}
    if accept is not None:
        sent["Accept"] = accept
    return client.post("/graphql", content=orjson.dumps(body), headers=sent)


def language(client: httpx.Client) -> str | None:
    response = post(client, {"query": PREFERENCES})
    value: str | None = response.json()["data"]["viewer"]["preferences"]["language"]
    return value


def only_error(response: httpx.Response) -> str:
    body = response.json()
    assert "data" not in body
    assert len(body["errors"]) == 1
    message: str = body["errors"][0]["message"]
    return message


# POST, and content negotiation


def test_a_query_over_post_returns_its_data_as_json(client: httpx.Client) -> None:
    response = post(client, {"query": VIEWER})

    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.json() == {"data": {"viewer": {"name": "Alice Developer",
                                                   "role": "ADMIN"}}}


def test_a_client_that_accepts_graphql_response_json_gets_it(client: httpx.Client) -> None:
    response = post(client, {"query": VIEWER},
                    accept=f"{GRAPHQL_RESPONSE}, {JSON};q=0.9")

    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["data"]["viewer"]["name"] == "Alice Developer"


@pytest.mark.parametrize("query", ["{ viewer { name ", "{ noSuchField }"],
                         ids=["parse error", "validation error"])
def test_a_request_error_is_400_without_data_under_graphql_response_json(
        client: httpx.Client, query: str) -> None:
    response = post(client, {"query": query}, accept=GRAPHQL_RESPONSE)

    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"]


@pytest.mark.parametrize(("query", "code"), [
    ("{ viewer { name ", "GRAPHQL_PARSE_FAILED"),
    ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
], ids=["parse error", "validation error"])
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
def test_a_request_error_carries_a_code_clients_can_branch_on(
        client: httpx.Client, query: str, code: str, accept: str) -> None:
    response = post(client, {"query": query}, accept=accept)

    assert response.json()["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize("accept", [None, JSON, "*/*"])
def test_a_request_error_is_200_with_errors_under_application_json(
        client: httpx.Client, accept: str | None) -> None:
    response = post(client, {"query": "{ viewer { name "}, accept=accept)

    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert "data" not in response.json()
    assert response.json()["errors"][0]["message"].startswith("Syntax Error")


def test_variables_of_the_wrong_type_are_a_request_error(client: httpx.Client) -> None:
    response = post(client, {"query": SET_LANGUAGE, "variables": {"language": 42}},
                    accept=GRAPHQL_RESPONSE)

    assert response.status_code == 400
    assert only_error(response)


def test_an_unknown_operation_name_is_a_request_error(client: httpx.Client) -> None:
    response = post(client, {"query": VIEWER, "operationName": "Nope"},
                    accept=GRAPHQL_RESPONSE)

    assert response.status_code == 400
    assert "Nope" in only_error(response)


def test_an_accept_header_that_allows_nothing_we_produce_is_406(
        client: httpx.Client) -> None:
    response = post(client, {"query": VIEWER}, accept="text/csv")

    assert response.status_code == 406
    assert "Accept" in only_error(response)


def test_a_mutation_runs_over_post(client: httpx.Client) -> None:
    response = post(client, {"query": SET_LANGUAGE, "variables": {"language": "de"},
                             "operationName": "SetLanguage"})

    assert response.status_code == 200
    result = response.json()["data"]["updateMyPreferences"]
    assert result["member"]["preferences"]["language"] == "de"
    assert language(client) == "de"


# GET


def test_a_query_runs_over_get(client: httpx.Client) -> None:
    response = client.get("/graphql", params={"query": VIEWER}, headers=bearer(token()))

    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["role"] == "ADMIN"


def test_get_takes_variables_as_a_json_parameter(client: httpx.Client) -> None:
    query = "query Find($email: String!) { memberByEmail(email: $email) { name } }"
    response = client.get("/graphql", headers=bearer(token()), params={
        "query": query, "variables": '{"email": "bob@startup.com"}'})

    assert response.json()["data"]["memberByEmail"] == {"name": "Bob Senior"}


def test_a_mutation_over_get_is_405_allows_post_and_changes_nothing(
        client: httpx.Client) -> None:
    before = language(client)
    response = client.get("/graphql", headers=bearer(token()), params={
        "query": SET_LANGUAGE, "variables": '{"language": "via-get"}'})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in only_error(response)
    assert language(client) == before


def test_a_subscription_over_http_is_refused_with_where_to_go(client: httpx.Client) -> None:
    response = post(client, {"query": "subscription { activity { id } }"})

    assert response.status_code == 400
    assert "WebSocket" in only_error(response)


# Malformed requests


@pytest.mark.parametrize(("body", "says"), [
    (b'{"query": ', "not valid JSON"),
    (b'{"query": "\xff\xfe"}', "UTF-8"),
    (b"", "empty"),
    (b'{"variables": {}}', "no `query`"),
    (b'{"query": 7}', "`query` must be a string"),
    (b'"just a string"', "JSON object"),
    (b'{"query": "{ viewer { name } }", "variables": [1, 2]}', "`variables`"),
    (b'{"query": "{ viewer { name } }", "variables": "{}"}', "`variables`"),
    (b'{"query": "{ viewer { name } }", "operationName": 3}', "`operationName`"),
], ids=["bad json", "bad utf-8", "empty", "no query", "query not a string",
        "not an object", "variables a list", "variables a string", "bad operation name"])
def test_a_malformed_body_is_400_with_what_is_wrong(client: httpx.Client, body: bytes,
                                                    says: str) -> None:
    response = client.post("/graphql", content=body,
                           headers={**bearer(token()), "Content-Type": JSON})

    assert response.status_code == 400
    assert says in only_error(response)


def test_get_without_a_query_is_400(client: httpx.Client) -> None:
    response = client.get("/graphql", headers={**bearer(token()), "Accept": JSON})

    assert response.status_code == 400


@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/graphql", "application/json; charset=latin-1",
])
def test_a_post_without_a_json_content_type_is_415(client: httpx.Client,
                                                   content_type: str | None) -> None:
    headers = bearer(token())
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/graphql", content=b'{"query": "{ viewer { name } }"}',
                           headers=headers)

    assert response.status_code == 415
    assert "application/json" in only_error(response)


def test_graphql_response_json_is_accepted_as_a_request_content_type(
        client: httpx.Client) -> None:
    response = post(client, {"query": VIEWER}, headers={"Content-Type": GRAPHQL_RESPONSE})

    assert response.status_code == 200


def test_a_body_over_one_megabyte_is_413(client: httpx.Client) -> None:
    body = orjson.dumps({"query": "{ viewer { name } }", "variables": {"x": "a" * 1_100_000}})
    response = client.post("/graphql", content=body,
                           headers={**bearer(token()), "Content-Type": JSON})

    assert response.status_code == 413
    assert "1048576 bytes" in only_error(response)


def test_a_chunked_body_over_the_limit_is_413_without_a_content_length(
        client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ viewer { name } }", "variables": {"x": "'
        for _ in range(40):
            yield b"a" * 32_768
        yield b'"}}'

    response = client.post("/graphql", content=chunks(),
                           headers={**bearer(token()), "Content-Type": JSON})

    assert response.status_code == 413


# CSRF and CORS


def test_a_simple_cross_site_form_post_cannot_run_a_mutation(client: httpx.Client) -> None:
    before = language(client)
    form = httpx.QueryParams({"query": 'mutation { updateMyPreferences(input: '
                                       '{language: "csrf"}) { __typename } }'})
    response = client.post("/graphql", content=str(form).encode(), headers={
        **bearer(token()), "Origin": "https://evil.example",
        "Content-Type": "application/x-www-form-urlencoded"})

    assert response.status_code == 415
    assert language(client) == before


def test_a_cors_preflight_from_a_configured_origin_is_answered(client: httpx.Client) -> None:
    response = client.options("/graphql", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


def test_a_cors_preflight_from_another_origin_is_refused(client: httpx.Client) -> None:
    response = client.options("/graphql", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_a_cross_origin_response_exposes_the_request_id_to_a_configured_origin(
        client: httpx.Client) -> None:
    response = post(client, {"query": VIEWER}, headers={"Origin": APP_ORIGIN})

    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


# Batches


def test_a_batch_runs_each_operation_in_order(client: httpx.Client) -> None:
    response = post(client, [
        {"query": SET_LANGUAGE, "variables": {"language": "batch-1"}},
        {"query": PREFERENCES},
    ])

    assert response.status_code == 200
    first, second = response.json()
    assert first["data"]["updateMyPreferences"]["__typename"] == "UpdateMyPreferencesSuccess"
    assert second["data"]["viewer"]["preferences"]["language"] == "batch-1"


def test_a_batch_over_the_limit_is_400(client: httpx.Client) -> None:
    response = post(client, [{"query": VIEWER}] * (MAX_BATCH + 1))

    assert response.status_code == 400
    assert f"at most {MAX_BATCH}" in only_error(response)


# Request ids and logs


def test_every_response_carries_a_request_id_that_its_log_line_has(
        client: httpx.Client, served: Served) -> None:
    response = post(client, {"query": VIEWER, "operationName": "Viewer"})

    line = served.logs.request(response.headers["x-request-id"])
    assert line["status"] == 200
    assert line["org"] == "org-xyz-789"
    assert line["operation"] == "Viewer"
    assert line["method"] == "POST"
    assert line["durationMs"] >= 0
    assert line["storeCalls"] == sum(line["storeCallsByOp"].values()) >= 1


def test_the_log_never_holds_the_token_or_the_variables(client: httpx.Client,
                                                        served: Served) -> None:
    secret_token = token()
    query = "query Find($email: String!) { memberByEmail(email: $email) { name } }"
    response = client.post("/graphql", content=orjson.dumps(
        {"query": query, "variables": {"email": "private-marker@startup.com"}}),
        headers={**bearer(secret_token), "Content-Type": JSON})

    served.logs.request(response.headers["x-request-id"])
    assert secret_token not in served.logs.text
    assert secret_token.split(".")[2] not in served.logs.text
    assert "private-marker" not in served.logs.text


def test_the_graphiql_page_is_served_to_a_browser(client: httpx.Client) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]


# Failures of the store, on a server whose store the test controls


def test_an_unexpected_error_is_masked_with_the_request_id(
        held_store: tuple[Served, Store]) -> None:
    served, store = held_store

    async def fail_queries(op: str, request: object) -> None:
        if op == "query":
            raise RuntimeError("disk on fire: secret detail")

    store.fault_hook = fail_queries
    with httpx.Client(base_url=served.url) as client:
        response = post(client, {"query": "{ members { edges { node { name } } } }"})

    body = response.json()
    assert response.status_code == 200
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "secret detail" not in response.text


def test_a_store_that_fails_before_the_query_runs_is_503(
        held_store: tuple[Served, Store]) -> None:
    served, store = held_store

    async def unavailable(op: str, request: object) -> None:
        raise StoreUnavailable("the embedded store failed: disk I/O error")

    store.fault_hook = unavailable
    with httpx.Client(base_url=served.url) as client:
        response = post(client, {"query": VIEWER})

    assert response.status_code == 503
    assert "disk" not in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


def test_a_client_that_disconnects_mid_body_is_not_a_server_error(served: Served) -> None:
    import socket
    import time

    host, port = served.url.removeprefix("http://").split(":")
    before = len(served.logs.lines)  # the server is shared: look only at this test's lines
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token().encode() + b"\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"query\": ")
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "disconnected" not in "".join(
            served.logs.lines[before:]):
        time.sleep(0.05)
    lines = "\n".join(served.logs.lines[before:])
    assert "the client disconnected" in lines
    assert '"level":"error"' not in lines
    assert '"exception"' not in lines
