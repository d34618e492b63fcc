"""Every command in the README runs, as written, in a test (or in .ci/run).

Each shell or Python block in README.md is preceded by `<!-- check: KIND -->`, naming how it
is exercised here. Only the address is changed: the README's 127.0.0.1:8000 and
localhost:8001 become the test's servers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import reset_moto
from tests.web.servers import (
    Served,
    cli_env,
    serve_process,
    serving,
    wait_until_ready,
)
from web.settings import OPTIONS, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"
README_DYNAMODB = "http://localhost:8001"
SECRET = "readme-tests-hs256-secret-0123456789abcdef"
COMMAND_LANGUAGES = {"sh", "bash", "shell", "console", "python"}
CHECKS = {"make-run", "ci", "live-shell", "live-python", "cli", "dynamodb-setup",
          "dynamodb-serve", "org-move"}
BLOCK = re.compile(r"(?:<!-- check: (?P<check>[\w-]+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```",
                   re.DOTALL)


@dataclass(frozen=True)
class Block:
    check: str | None
    lang: str
    body: str


def blocks(check: str | None = None) -> list[Block]:
    found = [Block(m["check"], m["lang"], m["body"]) for m in BLOCK.finditer(README.read_text())]
    return [b for b in found if check is None or b.check == check]


def need_curl() -> None:
    if shutil.which("curl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is missing; .ci/run installs it (CI=true: no skipping)")
        pytest.skip("curl is not installed")


def test_every_command_block_in_the_readme_is_checked_by_a_test() -> None:
    commands = [b for b in blocks() if b.lang in COMMAND_LANGUAGES]

    assert commands
    for block in commands:
        assert block.check in CHECKS, f"README block without a known check: {block.body!r}"
    assert {b.check for b in commands} == CHECKS


def test_the_readme_documents_every_setting_and_no_other() -> None:
    documented = set(re.findall(r"`(DEVINSIGHTS_[A-Z0-9_]+)`", README.read_text()))

    assert documented - {"DEVINSIGHTS_GRAPHIQL_ASSETS"} == {o.env for o in OPTIONS}


def test_ci_runs_exactly_make_test() -> None:
    (block,) = blocks("ci")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()

    assert block.body.strip() == "make test"
    assert ci[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in ci
    assert ci[-1] == "make test"


# Against a live server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("readme")
    with serving(Settings(sqlite_path=str(data / "db.sqlite3"), jwt_secret=SECRET)) as s:
        yield s


def shell(body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_curl_query_and_mutation_work(live: Served, tmp_path: Path) -> None:
    need_curl()
    (block,) = blocks("live-shell")
    env = cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET)

    result = shell(block.body.replace(README_URL, live.url), env)

    assert result.returncode == 0, result.stderr
    assert '{"data":{"viewer":{"name":"Alice Developer","role":"ADMIN"}' in result.stdout
    assert '"updateMyPreferences":{"__typename":"UpdateMyPreferencesSuccess"' in result.stdout
    assert '"errors"' not in result.stdout


def test_the_python_gql_example_works(live: Served, tmp_path: Path) -> None:
    (block,) = blocks("live-python")
    token = subprocess.run([str(Path(sys.executable).with_name("devinsights")), "token"],
                           env=cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET),
                           capture_output=True, text=True, check=True).stdout.strip()

    result = subprocess.run([sys.executable, "-c", block.body.replace(README_URL, live.url)],
                            env=cli_env(tmp_path, TOKEN=token), capture_output=True,
                            text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert "My Startup ['Alice Developer'" in result.stdout
    assert "'__typename': 'UpdateMyPreferencesSuccess'" in result.stdout


def test_the_cli_commands_succeed(tmp_path: Path) -> None:
    (block,) = blocks("cli")
    env = cli_env(tmp_path, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    for line in block.body.strip().splitlines():
        result = shell(line, env)
        assert result.returncode == 0, f"{line}: {result.stderr}"


def test_the_move_to_dynamodb_moves_the_demo(tmp_path: Path, moto_endpoint: str) -> None:
    (block,) = blocks("org-move")
    reset_moto(moto_endpoint)  # the README's table name: start without one of that name
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  DEVINSIGHTS_DYNAMODB_ENDPOINT_URL=moto_endpoint,
                  PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert shell("devinsights demo-data", env).returncode == 0

    moved = subprocess.run(["bash", "-euo", "pipefail", "-c", block.body], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           check=False)
    there = shell("DEVINSIGHTS_STORE=dynamodb DEVINSIGHTS_DYNAMODB_TABLE=devinsights "
                  "devinsights org export org-xyz-789", env)

    assert moved.returncode == 0, moved.stderr
    assert "imported org-xyz-789 into the DynamoDB table devinsights" in moved.stdout
    exported = (tmp_path / "org.jsonl").read_text().splitlines()
    assert there.stdout.splitlines()[1:] == exported[1:]


# Long-running commands


def test_make_run_serves_graphiql_and_prints_a_token_that_works(tmp_path: Path) -> None:
    for index, block in enumerate(blocks("make-run")):
        # make takes SERVE_FLAGS from the environment, as from its command line.
        env = cli_env(tmp_path, SERVE_FLAGS="--port 0",
                      DEVINSIGHTS_SQLITE_PATH=str(tmp_path / f"run-{index}.sqlite3"))
        with serve_process(["bash", "-euo", "pipefail", "-c", block.body], env, cwd=ROOT,
                           until="GraphiQL with the token", timeout=600) as served:
            wait_until_ready(served.url)
            page = httpx.get(f"{served.url}/graphql", headers={"Accept": "text/html"})
            response = httpx.post(f"{served.url}/graphql", timeout=10,
                                  json={"query": "{ viewer { name } }"},
                                  headers={"Authorization": f"Bearer {served.token}"})

        assert page.status_code == 200
        assert "GraphiQL" in page.text
        assert response.json() == {"data": {"viewer": {"name": "Alice Developer"}}}


def test_the_dynamodb_commands_create_a_table_and_serve_from_it(
        tmp_path: Path, moto_endpoint: str) -> None:
    (setup,) = blocks("dynamodb-setup")
    (serve,) = blocks("dynamodb-serve")
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  DEVINSIGHTS_PORT="0",
                  PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    script = (setup.body + serve.body).replace(README_DYNAMODB, moto_endpoint)

    with serve_process(["bash", "-euo", "pipefail", "-c", script], env, cwd=ROOT,
                       until="GraphiQL with the token") as served:
        wait_until_ready(served.url)
        ready = httpx.get(f"{served.url}/readyz").json()

    assert "TTL" in "\n".join(served.lines)
    assert ready == {"status": "ready", "store": "dynamodb"}
