"""`devinsights refresh-analytics` and the scheduler in `serve`, against the fake GitHub.

The command runs as a user runs it (a subprocess); the scheduler runs in a real uvicorn.
"""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datastore import demo, keys
from datastore.embedded import EmbeddedStore
from tests.fake_github import TOKEN, FakeGitHub, fake_github, person
from tests.web.servers import Served, cli_env, devinsights, run_cli, serving, settings_for

PEOPLE = ("alice-dev", "bob-senior", "charlie-junior")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with fake_github({login: person(login, commits=10 + 5 * i, pulls=2, reviewed=1)
                      for i, login in enumerate(PEOPLE)}) as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, github: FakeGitHub) -> dict[str, str]:
    env = cli_env(tmp_path, DEVINSIGHTS_GITHUB_TOKEN=TOKEN, DEVINSIGHTS_GITHUB_API_URL=github.url,
                  DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    loaded = run_cli("demo-data", env=env)
    assert loaded.returncode == 0, loaded.stderr
    return env


def sources(path: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        store = EmbeddedStore(path)
        try:
            found = await store.batch_get([keys.github_data(demo.DEMO_ORG, p) for p in PEOPLE])
        finally:
            await store.close()
        return {item["githubUsername"]: item["dataSource"] for item in found.values()}
    return asyncio.run(read())


def test_everything_due_is_refreshed_and_summed_up_in_one_line(
        env: dict[str, str], github: FakeGitHub) -> None:
    result = run_cli("refresh-analytics", "--stale-within", "2d", env=env)
    assert result.returncode == 0, result.stderr
    calls = len(github.seen)
    assert result.stdout == f"3 refreshed, 0 unchanged, 0 failed, {calls} GitHub API calls\n"
    assert set(sources(env["DEVINSIGHTS_SQLITE_PATH"]).values()) == {"REAL GitHub API"}
    assert result.stderr == ""  # no progress bar off a terminal


def test_what_is_not_due_is_left_alone(env: dict[str, str], github: FakeGitHub) -> None:
    assert run_cli("refresh-analytics", "--stale-within", "2d", env=env).returncode == 0
    github.seen.clear()
    result = run_cli("refresh-analytics", "--org", demo.DEMO_ORG, "--stale-within", "1h",
                     env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0 refreshed, 0 unchanged, 0 failed, 0 GitHub API calls\n"
    assert github.seen == []


def test_a_second_run_finds_nothing_changed_and_spends_no_rate_limit(
        env: dict[str, str], github: FakeGitHub) -> None:
    assert run_cli("refresh-analytics", "--stale-within", "2d", env=env).returncode == 0
    spent = github.spent()
    result = run_cli("refresh-analytics", "--stale-within", "2d", env=env)
    assert result.stdout.startswith("0 refreshed, 3 unchanged, 0 failed")
    # A new process has no ETag cache: the same answers are fetched (and charged) again.
    assert github.spent() == 2 * spent


def test_a_person_github_does_not_know_fails_the_run_and_is_named(
        env: dict[str, str], github: FakeGitHub) -> None:
    del github.users["charlie-junior"]
    result = run_cli("refresh-analytics", "--stale-within", "2d", env=env)
    assert result.returncode == 1
    assert "2 refreshed, 0 unchanged, 1 failed" in result.stdout
    assert result.stderr == (f"failed: {demo.DEMO_ORG}/charlie-junior: GitHub has no user "
                             "'charlie-junior': check the member's GitHub username\n")


def test_a_spent_rate_limit_stops_the_run_and_says_until_when(
        env: dict[str, str], github: FakeGitHub) -> None:
    github.remaining["search"] = 0
    result = run_cli("refresh-analytics", "--stale-within", "2d", env=env)
    assert result.returncode == 1
    assert "0 refreshed, 0 unchanged, 3 failed" in result.stdout
    assert "GitHub's rate limit stopped the run until" in result.stdout
    assert len(github.requests_to("^/search/")) <= 2


def test_an_unknown_organization_is_a_failure(env: dict[str, str]) -> None:
    result = run_cli("refresh-analytics", "--org", "org-nope", env=env)
    assert result.returncode == 1
    assert result.stderr == "failed: org-nope: no such organization\n"


def test_without_credentials_it_says_which_settings_to_set(tmp_path: Path) -> None:
    result = run_cli("refresh-analytics", env=cli_env(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("devinsights refresh-analytics: this server has no "
                                    "GitHub credentials: set DEVINSIGHTS_GITHUB_TOKEN")


@pytest.mark.parametrize("value", ["soon", "5w", "1 h"])
def test_a_duration_it_cannot_read_exits_2(env: dict[str, str], value: str) -> None:
    result = run_cli("refresh-analytics", "--stale-within", value, env=env)
    assert result.returncode == 2
    assert "is not a duration such as 30m, 6h or 1d" in result.stderr


def test_a_terminal_sees_a_progress_bar(env: dict[str, str]) -> None:
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run([*devinsights(), "refresh-analytics", "--stale-within", "2d"],
                                 env=env, stdout=subprocess.PIPE, stderr=terminal, text=True,
                                 timeout=60, check=False)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: everything is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert process.returncode == 0
    text = shown.decode()
    assert f"[{'#' * 30}] 3/3" in text
    assert "1/3" in text


# The scheduler inside `serve`


def test_the_scheduler_refreshes_what_expires_and_the_server_goes_on(
        tmp_path: Path, github: FakeGitHub) -> None:
    # Twice a day is more than the demo data's 24 hours: all three are due at once.
    settings = settings_for(tmp_path, github_token=TOKEN, github_api_url=github.url,
                            github_refresh_seconds=86400.0)
    with serving(settings) as served:
        deadline = time.monotonic() + 20
        while len(set(sources(settings.sqlite_path or "").values()) - {"REAL GitHub API"}) \
                or len(sources(settings.sqlite_path or "")) < 3:
            assert time.monotonic() < deadline, "the scheduler refreshed nothing"
            time.sleep(0.1)
        line = next(e for e in _wait_for(served, "analytics refreshed"))
        assert (line["refreshed"], line["failed"]) == (3, 0)
        assert line["apiCalls"] == len(github.seen)


def test_the_scheduler_logs_a_rate_limit_and_the_server_stays_ready(
        tmp_path: Path, github: FakeGitHub) -> None:
    import httpx

    github.remaining["search"] = 0
    settings = settings_for(tmp_path, github_token=TOKEN, github_api_url=github.url,
                            github_refresh_seconds=86400.0)
    with serving(settings) as served:
        line = next(e for e in _wait_for(served, "analytics refreshed"))
        assert line["failed"] == 3
        assert "rate limit" in line["failures"][0]
        assert httpx.get(f"{served.url}/readyz", timeout=5).status_code == 200


def _wait_for(served: Served, message: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        found = [e for e in served.logs.entries() if e.get("message") == message]
        if found or time.monotonic() > deadline:
            assert found, f"no {message!r} log line"
            return found
        time.sleep(0.05)


def test_serving_the_api_imports_no_github_client(tmp_path: Path) -> None:
    probe = ("import sys, server\n"
             "server.create_app(server.config.from_env({'DEVINSIGHTS_JWT_SECRET': 'x' * 32,"
             " 'DEVINSIGHTS_GITHUB_TOKEN': 't'}))\n"
             "print(sorted(m for m in ('gidgethub', 'httpx', 'datastore.github_api')"
             " if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=cli_env(tmp_path), timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


def test_of_two_servers_on_one_store_only_the_leaseholder_refreshes(
        tmp_path: Path, github: FakeGitHub) -> None:
    settings = settings_for(tmp_path, github_token=TOKEN, github_api_url=github.url,
                            github_refresh_seconds=86400.0)
    with serving(settings) as first, serving(settings):
        line = next(e for e in _wait_for(first, "analytics refreshed"))
        time.sleep(2)  # the other scheduler has tried by now, and found the lease held
        runs = [e for e in first.logs.entries() if e.get("message") == "analytics refreshed"]

    assert len(runs) == 1
    assert line["refreshed"] == 3
    assert line["apiCalls"] == len(github.seen)  # GitHub was asked once, not twice
