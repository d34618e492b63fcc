"""The `devinsights` command line, run as a user runs it: the installed script, in a subprocess;
and the app it serves, on a real socket."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from datastore import members
from datastore.demo import DEMO_ADMIN, DEMO_ORG
from datastore.embedded import EmbeddedStore
from schema.possible_types import FILE_NAME as POSSIBLE_TYPES_NAME
from server import SCHEMA_FILE, create_app
from tests.dynamo_proxy import DynamoProxy
from tests.web.servers import (
    APP_ORIGIN,
    Served,
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
from web.settings import Settings, SettingsError

SECRET = "cli-tests-hs256-secret-0123456789abcdefgh"
VIEWER = {"query": "{ viewer { name role } organization { name } }"}
DASHBOARD = {"query": "{ teamReport { summary { analyzedMembers } } teamGitHubData { edges { "
                      "node { githubUsername codeQuality { rating } burnoutRisk { riskLevel } "
                      "} } } }"}
POSSIBLE_TYPES_FILE = SCHEMA_FILE.with_name(POSSIBLE_TYPES_NAME)
VITE = "http://localhost:5173"


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_cli("--help", env=cli_env(tmp_path))

    assert result.returncode == 0
    for command in ("serve", "create-table", "demo-data", "token", "export-schema"):
        assert command in result.stdout


def test_a_command_is_required(tmp_path: Path) -> None:
    result = run_cli(env=cli_env(tmp_path))

    assert result.returncode == 2
    assert "COMMAND" in result.stderr


# token


def test_token_without_a_secret_exits_non_zero_and_says_what_to_set(tmp_path: Path) -> None:
    result = run_cli("token", env=cli_env(tmp_path))

    assert result.returncode != 0
    assert result.stdout == ""
    assert "DEVINSIGHTS_JWT_SECRET" in result.stderr


def test_token_mints_an_hs256_token_for_the_given_user_and_org(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET, DEVINSIGHTS_JWT_ISSUER="https://i",
                  DEVINSIGHTS_JWT_AUDIENCE="api")
    result = run_cli("token", "--user", "user-bob-002", "--org", DEMO_ORG, "--email",
                     "bob@startup.com", "--ttl", "120", env=env)

    assert result.returncode == 0
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"],
                        audience="api", issuer="https://i")
    assert (claims["sub"], claims["org"], claims["email"]) == ("user-bob-002", DEMO_ORG,
                                                               "bob@startup.com")
    assert claims["exp"] - claims["iat"] == 120


def test_token_defaults_to_the_demo_admin(tmp_path: Path) -> None:
    result = run_cli("token", env=cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET))

    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["org"], claims["name"]) == (DEMO_ADMIN, DEMO_ORG,
                                                              "Alice Developer")


def test_token_refuses_an_id_that_cannot_be_part_of_a_key(tmp_path: Path) -> None:
    result = run_cli("token", "--user", "a#b", env=cli_env(tmp_path,
                                                           DEVINSIGHTS_JWT_SECRET=SECRET))

    assert result.returncode == 2
    assert "--user 'a#b'" in result.stderr


def test_a_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = run_cli("token", env=cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET="too-short"))

    assert result.returncode == 2
    assert "DEVINSIGHTS_JWT_SECRET must be at least 32 bytes" in result.stderr


# serve


def test_serve_without_a_key_refuses_and_says_how_to_configure_one(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "0", env=cli_env(tmp_path))

    assert result.returncode == 2
    assert "DEVINSIGHTS_JWT_SECRET" in result.stderr
    assert "--demo" in result.stderr


def test_serve_demo_prints_a_url_and_a_token_that_work_and_stops_cleanly(
        tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "demo.sqlite3"))
    with serve_process([*devinsights(), "serve", "--demo", "--port", "0"], env,
                       until="GraphiQL with the token") as served:
        wait_until_ready(served.url)
        response = httpx.post(f"{served.url}/graphql", json=VIEWER, timeout=10,
                              headers={"Authorization": f"Bearer {served.token}"})
        dashboard = httpx.post(f"{served.url}/graphql", json=DASHBOARD, timeout=10,
                               headers={"Authorization": f"Bearer {served.token}"})
        page = httpx.get(f"{served.url}/graphql", headers={"Accept": "text/html"})
        local = httpx.options(f"{served.url}/graphql", headers=preflight_from(VITE))

        served.process.send_signal(signal.SIGTERM)
        # uvicorn finishes the graceful shutdown, then re-raises the signal for supervisors.
        assert served.process.wait(timeout=20) in (0, -signal.SIGTERM)

    assert response.json() == {"data": {"viewer": {"name": "Alice Developer", "role": "ADMIN"},
                                        "organization": {"name": "My Startup"}}}
    # A full dashboard: everyone with a GitHub username analyzed, from the bundled fixture.
    assert dashboard.json() == {"data": {
        "teamReport": {"summary": {"analyzedMembers": 3}},
        "teamGitHubData": {"edges": [
            {"node": {"githubUsername": "alice-dev", "codeQuality": {"rating": "Good"},
                      "burnoutRisk": {"riskLevel": "LOW"}}},
            {"node": {"githubUsername": "bob-senior", "codeQuality": {"rating": "Excellent"},
                      "burnoutRisk": {"riskLevel": "CRITICAL"}}},
            {"node": {"githubUsername": "charlie-junior",
                      "codeQuality": {"rating": "Needs Improvement"},
                      "burnoutRisk": {"riskLevel": "MEDIUM"}}}]}}}
    assert page.status_code == 200
    assert local.headers["access-control-allow-origin"] == VITE
    cors = [line for line in served.lines if line.startswith("CORS:")]
    assert len(cors) == 1
    assert "http://localhost:*" in cors[0]
    assert "DEVINSIGHTS_CORS_ORIGINS or --cors-origins" in cors[0]
    assert "random secret" in "\n".join(served.lines)
    assert served.token not in "\n".join(served.log_lines)
    assert any('"stopped"' in line for line in served.log_lines)


def test_token_accepts_a_ttl_up_to_the_servers_longest_lifetime(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET,
                  DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS="600")

    minted = run_cli("token", "--ttl", "600", env=env)
    refused = run_cli("token", "--ttl", "601", env=env)

    claims = jwt.decode(minted.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600
    assert refused.returncode == 2
    assert "tokens may live at most 600 seconds" in refused.stderr


def test_serve_demo_prints_a_token_its_server_accepts_when_tokens_may_live_one_hour(
        tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "hour.sqlite3"),
                  DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS="3600")
    with serve_process([*devinsights(), "serve", "--demo", "--port", "0"], env,
                       until="GraphiQL with the token") as served:
        wait_until_ready(served.url)
        response = httpx.post(f"{served.url}/graphql", json=VIEWER, timeout=10,
                              headers={"Authorization": f"Bearer {served.token}"})

    assert response.status_code == 200
    assert "Admin token (valid 1 h):" in served.lines


def test_serve_demo_is_idempotent_and_uses_a_configured_secret(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "again.sqlite3"),
                  DEVINSIGHTS_JWT_SECRET=SECRET)
    for _ in range(2):
        with serve_process([*devinsights(), "serve", "--demo", "--port", "0"], env,
                           until="GraphiQL with the token") as served:
            wait_until_ready(served.url)
            claims = jwt.decode(served.token, SECRET, algorithms=["HS256"])

    assert claims["sub"] == DEMO_ADMIN
    assert asyncio.run(_people(tmp_path / "again.sqlite3")) == 4


async def _people(path: Path) -> int:
    store = EmbeddedStore(path)
    try:
        found, _page = await members.list_page(store, DEMO_ORG)
        return len(found)
    finally:
        await store.close()


def test_serve_runs_against_dynamodb(tmp_path: Path, moto_endpoint: str) -> None:
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  DEVINSIGHTS_STORE="dynamodb", DEVINSIGHTS_DYNAMODB_TABLE="cli-serve",
                  DEVINSIGHTS_DYNAMODB_ENDPOINT_URL=moto_endpoint)
    assert run_cli("create-table", env=env).returncode == 0
    with serve_process([*devinsights(), "serve", "--demo", "--port", "0"], env,
                       until="GraphiQL with the token") as served:
        wait_until_ready(served.url)
        ready = httpx.get(f"{served.url}/readyz").json()
        response = httpx.post(f"{served.url}/graphql", json=VIEWER, timeout=10,
                              headers={"Authorization": f"Bearer {served.token}"})

    assert ready == {"status": "ready", "store": "dynamodb"}
    assert response.json()["data"]["viewer"]["name"] == "Alice Developer"


def test_serve_in_table_mode_refuses_a_table_without_a_stream_in_one_line(
        tmp_path: Path, moto_endpoint: str, moto_client: Any) -> None:
    moto_client.create_table(
        TableName="no-stream", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}])
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  DEVINSIGHTS_STORE="dynamodb", DEVINSIGHTS_DYNAMODB_TABLE="no-stream",
                  DEVINSIGHTS_DYNAMODB_ENDPOINT_URL=moto_endpoint, DEVINSIGHTS_EVENTS="table",
                  DEVINSIGHTS_JWT_SECRET="s" * 32)

    result = run_cli("serve", "--port", "0", env=env)

    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert said == [
        "devinsights serve: table no-stream has no stream, which subscriptions across "
        "processes read; run `devinsights create-table` (it enables the stream on an "
        "existing table), or set DEVINSIGHTS_EVENTS=process with a single process"]


# demo-data


def test_demo_data_loads_the_demo_organization_and_can_run_again(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "d.sqlite3"))

    first = run_cli("demo-data", env=env)
    second = run_cli("demo-data", env=env)

    assert (first.returncode, second.returncode) == (0, 0)
    assert DEMO_ORG in first.stdout
    assert asyncio.run(_people(tmp_path / "d.sqlite3")) == 4


# create-table


def test_create_table_prints_each_step_and_is_safe_to_run_again(
        tmp_path: Path, moto_endpoint: str) -> None:
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    args = ("create-table", "--endpoint-url", moto_endpoint, "--table", "cli-created",
            "--region", "us-east-1")

    first = run_cli(*args, env=env)
    second = run_cli(*args, env=env)

    assert first.returncode == 0, first.stderr
    assert "created table cli-created" in first.stdout
    assert "TTL enabled on expiresAt" in first.stdout
    assert second.returncode == 0
    assert "already exists" in second.stdout


def test_create_table_on_an_endpoint_without_ttl_pitr_or_streams_warns_and_exits_0(
        tmp_path: Path, moto_endpoint: str, dynamo_proxy: DynamoProxy) -> None:
    dynamo_proxy.reset()
    dynamo_proxy.lacking = frozenset({"ttl", "pitr", "streams"})  # like dynalite
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    args = ("create-table", "--endpoint-url", dynamo_proxy.url, "--table", "cli-bare",
            "--region", "us-east-1")

    try:
        runs = [run_cli(*args, env=env) for _ in range(2)]
    finally:
        dynamo_proxy.reset()

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
        warnings = [line for line in run.stdout.splitlines() if line.startswith("warning:")]
        assert [w.split(" (")[0] for w in warnings] == [
            "warning: this endpoint has no DynamoDB Streams",
            "warning: this endpoint has no TTL",
            "warning: this endpoint has no point-in-time recovery"]
    assert "already exists" in runs[1].stdout


def test_create_table_against_an_unreachable_endpoint_exits_1_naming_it(
        tmp_path: Path) -> None:
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_MAX_ATTEMPTS="1")
    result = run_cli("create-table", "--endpoint-url", "http://127.0.0.1:9", env=env)

    assert result.returncode == 1
    assert "http://127.0.0.1:9" in result.stderr


# export-schema


def test_export_schema_prints_the_sdl(tmp_path: Path) -> None:
    result = run_cli("export-schema", env=cli_env(tmp_path))

    assert result.returncode == 0
    assert "type Query {" in result.stdout
    assert "type Subscription {" in result.stdout


def test_export_schema_check_passes_on_the_committed_schema(tmp_path: Path) -> None:
    result = run_cli("export-schema", "--check", env=cli_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert str(SCHEMA_FILE) in result.stdout
    assert str(POSSIBLE_TYPES_FILE) in result.stdout


def test_export_schema_check_fails_on_a_stale_file_and_says_how_to_fix_it(
        tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")

    result = run_cli("export-schema", "--check", "--path", str(stale), env=cli_env(tmp_path))

    assert result.returncode == 1
    assert "export-schema --write" in result.stderr


def test_export_schema_write_produces_files_that_check_accepts(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"

    written = run_cli("export-schema", "--write", "--path", str(target), env=cli_env(tmp_path))
    checked = run_cli("export-schema", "--check", "--path", str(target), env=cli_env(tmp_path))

    assert (written.returncode, checked.returncode) == (0, 0)
    assert target.read_text() == SCHEMA_FILE.read_text()
    assert (tmp_path / "possibleTypes.json").read_text() == POSSIBLE_TYPES_FILE.read_text()


def test_export_schema_check_fails_on_stale_possible_types_and_says_how_to_fix_it(
        tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert run_cli("export-schema", "--write", "--path", str(target),
                   env=cli_env(tmp_path)).returncode == 0
    (tmp_path / "possibleTypes.json").write_text('{"Error": []}\n')

    result = run_cli("export-schema", "--check", "--path", str(target), env=cli_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'possibleTypes.json'} is out of date with the code; run "
        "`devinsights export-schema --write` and commit the result"]


# create_app


def test_create_app_refuses_to_build_without_a_way_to_verify_tokens() -> None:
    with pytest.raises(SettingsError, match="serve --demo"):
        create_app(Settings())


def test_serve_on_a_port_in_use_exits_1_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), env=cli_env(
            tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET,
            DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "p.sqlite3")))

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


# CORS: which browser origins may call the API


def preflight_from(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}


def refusals(served: Served) -> list[str]:
    return [line for line in served.logs.lines if "refused a CORS preflight" in line]


@pytest.fixture(scope="module")
def demo_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Settings as `serve --demo` makes them: local frontends allowed besides APP_ORIGIN."""
    settings = settings_for(tmp_path_factory.mktemp("demo"), allow_local_origins=True)
    with serving(settings) as served:
        yield served


@pytest.mark.parametrize("origin", [VITE, "http://127.0.0.1:3000", "http://localhost"])
def test_a_demo_run_answers_a_preflight_from_a_local_frontend_on_any_port(
        demo_served: Served, origin: str) -> None:
    response = httpx.options(demo_served.graphql_url, headers=preflight_from(origin))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type"} <= {h.strip() for h in allowed.split(",")}
    assert "origin" in response.headers["vary"].lower()


def test_a_demo_run_lets_a_local_frontend_read_a_response(demo_served: Served) -> None:
    response = httpx.post(demo_served.graphql_url, json=VIEWER,
                          headers={**bearer(token()), "Origin": VITE})

    assert response.json()["data"]["viewer"]["name"] == "Alice Developer"
    assert response.headers["access-control-allow-origin"] == VITE
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_a_demo_run_still_allows_the_configured_origins(demo_served: Served) -> None:
    response = httpx.options(demo_served.graphql_url, headers=preflight_from(APP_ORIGIN))

    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example:5173",
                                    "http://evil.example/?http://localhost:5173",
                                    "http://127.0.0.1.evil.example"])
def test_a_demo_run_refuses_other_origins_and_logs_one_line_naming_the_setting(
        demo_served: Served, origin: str) -> None:
    secret = token(jti=origin)  # a token of its own, to look for in the log

    response = httpx.options(demo_served.graphql_url,
                             headers={**preflight_from(origin), **bearer(secret)})

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    lines = [json.loads(line) for line in refusals(demo_served)]
    assert [e["origin"] for e in lines].count(origin) == 1
    entry = next(e for e in lines if e["origin"] == origin)
    assert (entry["logger"], entry["level"], entry["status"]) == ("devinsights.request",
                                                                  "info", 400)
    assert "DEVINSIGHTS_CORS_ORIGINS" in entry["message"]
    assert origin in entry["message"]
    assert secret not in demo_served.logs.text


def test_without_demo_a_local_frontend_is_refused(served_plain: Served) -> None:
    response = httpx.options(served_plain.graphql_url, headers=preflight_from(VITE))

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert any(json.loads(line)["origin"] == VITE for line in refusals(served_plain))


def test_without_demo_a_local_frontend_listed_in_the_setting_is_allowed(
        tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, cors_origins=(VITE,))) as served:
        listed = httpx.options(served.graphql_url, headers=preflight_from(VITE))
        other_port = httpx.options(served.graphql_url,
                                   headers=preflight_from("http://localhost:5174"))

    assert listed.headers["access-control-allow-origin"] == VITE
    assert other_port.status_code == 400


@pytest.fixture(scope="module")
def served_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(settings_for(tmp_path_factory.mktemp("plain"))) as served:
        yield served


@pytest.mark.parametrize(("settings", "origin", "allowed"), [
    (Settings(allow_local_origins=True), VITE, True),
    (Settings(allow_local_origins=True), "http://[::1]:8080", True),
    (Settings(allow_local_origins=True), "http://localhost:5173.evil.example", False),
    (Settings(allow_local_origins=True), "null", False),
    (Settings(), VITE, False),
    (Settings(cors_origins=(VITE,)), VITE, True),
    (Settings(cors_origins=("*",)), "https://anything.example", True),
])
def test_the_cors_policy_is_one_rule_for_http_and_websocket(
        settings: Settings, origin: str, allowed: bool) -> None:
    assert settings.cors.allows(origin) is allowed
