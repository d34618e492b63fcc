"""How the `devinsights` command fails: one line on stderr that says what to fix, no traceback,
exit 2 for a bad setting or flag and 1 otherwise. Run as a user runs it, in a subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.web.servers import cli_env, run_cli

SECRET = "cli-tests-hs256-secret-0123456789abcdefgh"


def failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The one line the command printed on stderr, after checking how it failed."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, result.stderr
    return lines[0]


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return cli_env(tmp_path, DEVINSIGHTS_JWT_SECRET=SECRET, **extra)


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n")
    return path


# The embedded store's file


@pytest.mark.parametrize("command", ["demo-data", "serve"])
def test_a_sqlite_path_in_a_folder_that_cannot_be_made_exits_2_naming_the_flag(
        tmp_path: Path, text_file: Path, command: str) -> None:
    path = text_file / "data" / "devinsights.sqlite3"  # its "folder" is a file
    port = ("--port", "0") if command == "serve" else ()

    line = failure(run_cli(command, "--sqlite-path", str(path), *port,
                           env=serve_env(tmp_path)), 2)

    assert line.startswith(f"devinsights {command}: --sqlite-path {path} cannot be opened")
    assert "writable directory" in line
    assert "DEVINSIGHTS_SQLITE_PATH" not in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_sqlite_path_in_a_read_only_folder_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run_cli("demo-data", "--sqlite-path", str(folder / "d.sqlite3"),
                         env=serve_env(tmp_path))
    finally:
        folder.chmod(0o755)

    assert "--sqlite-path" in failure(result, 2)


def test_a_sqlite_path_to_a_file_that_is_not_sqlite_exits_2_saying_so(
        tmp_path: Path, text_file: Path) -> None:
    result = run_cli("demo-data", "--sqlite-path", str(text_file), env=serve_env(tmp_path))

    line = failure(result, 2)
    assert "file is not a database" in line
    assert text_file.read_text() == "not a database\n"


def test_a_bad_sqlite_path_from_the_environment_names_the_variable(
        tmp_path: Path, text_file: Path) -> None:
    result = run_cli("demo-data", env=serve_env(tmp_path,
                                                DEVINSIGHTS_SQLITE_PATH=str(text_file)))

    line = failure(result, 2)
    assert line.startswith("devinsights demo-data: DEVINSIGHTS_SQLITE_PATH ")
    assert "--sqlite-path" not in line


def test_serve_on_a_store_that_cannot_open_exits_2_before_uvicorn_starts(
        tmp_path: Path, text_file: Path) -> None:
    result = run_cli("serve", "--port", "0", "--sqlite-path", str(text_file),
                     env=serve_env(tmp_path))

    assert "file is not a database" in failure(result, 2)  # not uvicorn's 3 and traceback
    assert result.stdout == ""


# create-table


def test_create_table_with_an_endpoint_that_is_not_a_url_exits_2_naming_the_flag(
        tmp_path: Path) -> None:
    result = run_cli("create-table", "--endpoint-url", "not-a-url", env=cli_env(tmp_path))

    assert failure(result, 2) == (
        "devinsights create-table: --endpoint-url must be an http(s) URL such as "
        "http://localhost:8001, not 'not-a-url'")


def test_create_table_with_a_region_that_is_not_one_exits_2_naming_the_flag(
        tmp_path: Path) -> None:
    result = run_cli("create-table", "--region", "us east", env=cli_env(tmp_path))

    assert "--region must be an AWS region" in failure(result, 2)


# export-schema


def test_export_schema_write_to_a_missing_folder_exits_2_and_writes_nothing(
        tmp_path: Path) -> None:
    target = tmp_path / "missing" / "schema.graphql"

    result = run_cli("export-schema", "--write", "--path", str(target), env=cli_env(tmp_path))

    line = failure(result, 2)
    assert f"the folder {target.parent} does not exist" in line
    assert not target.parent.exists()


# serve: where it listens


def test_serve_on_a_port_out_of_range_blames_the_flag_that_was_given(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "70000", env=serve_env(tmp_path))

    line = failure(result, 2)
    assert line.startswith("devinsights serve: --port must be between 0 and 65535")
    assert "DEVINSIGHTS_PORT" not in line


def test_serve_on_a_port_out_of_range_from_the_environment_blames_the_variable(
        tmp_path: Path) -> None:
    result = run_cli("serve", env=serve_env(tmp_path, DEVINSIGHTS_PORT="70000"))

    line = failure(result, 2)
    assert line.startswith("devinsights serve: DEVINSIGHTS_PORT must be between 0 and 65535")
    assert "--port" not in line


def test_serve_on_a_host_that_does_not_resolve_says_so_and_to_pass_another_host(
        tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "no-such-host.invalid", "--port", "0",
                     env=serve_env(tmp_path))

    line = failure(result, 2)
    assert "--host no-such-host.invalid cannot be resolved" in line
    assert "pass another --host" in line
    assert "port" not in line


# token


@pytest.mark.parametrize(("args", "says"), [
    (("--ttl", "0"), "--ttl must be at least 1 second, not 0"),
    (("--ttl", "86401"), "--ttl 86401 is longer than the server accepts: tokens may live at "
                         "most 86400 seconds (DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS)"),
    (("--user", "a#b"), "--user 'a#b': user id must be 1-256 characters without '#'"),
    (("--org", ""), "--org '': organization id must be"),
])
def test_token_with_a_bad_flag_value_exits_2_naming_the_flag(
        tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = run_cli("token", *args, env=serve_env(tmp_path))

    assert says in failure(result, 2)
    assert result.stdout == ""


@pytest.mark.parametrize("args", [("token", "--ttl", "soon"), ("token", "--bogus"),
                                  ("export-schema", "--write", "--check"), ("no-such-command",)])
def test_a_command_line_argparse_refuses_is_one_line_pointing_at_help(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    line = failure(run_cli(*args, env=serve_env(tmp_path)), 2)

    assert line.endswith("--help`")


# set-plan: the operator's decision (issue 11, finding 10)


def test_set_plan_changes_the_plan_and_its_seats_and_refuses_what_does_not_fit(
        tmp_path: Path) -> None:
    env = serve_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    assert run_cli("demo-data", env=env).returncode == 0
    done = run_cli("set-plan", "org-xyz-789", "enterprise", env=env)
    assert done.returncode == 0, done.stderr
    assert "org-xyz-789 is on the enterprise plan with 1000 seats (4 taken)" in done.stdout
    seats = run_cli("set-plan", "org-xyz-789", "free", "--max-members", "4", env=env)
    assert "free plan with 4 seats (4 taken)" in seats.stdout
    # The demo has 4 members: 3 seats cannot hold them, and nothing changes.
    line = failure(run_cli("set-plan", "org-xyz-789", "free", "--max-members", "3", env=env),
                   1)
    assert "org-xyz-789 has 4 members; the free plan with 3 seats cannot hold them" in line
    again = run_cli("set-plan", "org-xyz-789", "free", "--max-members", "4", env=env)
    assert "free plan with 4 seats (4 taken)" in again.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (("org-missing", "pro"), 1, "no organization 'org-missing' in this store"),
    (("org-xyz-789", "platinum"), 2, "invalid choice: 'platinum'"),
    (("org-xyz-789", "pro", "--max-members", "0"), 2, "--max-members must be at least 1"),
    (("a#b", "pro"), 2, "ORG 'a#b': organization id must be"),
])
def test_set_plan_with_a_bad_argument_says_which(tmp_path: Path, args: tuple[str, ...],
                                                 code: int, says: str) -> None:
    env = serve_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    assert says in failure(run_cli("set-plan", *args, env=env), code)
