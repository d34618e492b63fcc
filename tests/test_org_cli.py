"""`devinsights org export | import | delete` as an operator runs them: the demo moved from the
embedded store to DynamoDB (moto's server) and back, each in a subprocess."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.test_cli import failure
from tests.web.servers import cli_env, run_cli


def test_move_the_demo_from_the_embedded_store_to_dynamodb(tmp_path: Path,
                                                           moto_endpoint: str) -> None:
    embedded = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "start.sqlite3"))
    aws = cli_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  DEVINSIGHTS_STORE="dynamodb", DEVINSIGHTS_DYNAMODB_TABLE="moved",
                  DEVINSIGHTS_DYNAMODB_ENDPOINT_URL=moto_endpoint)
    assert run_cli("demo-data", env=embedded).returncode == 0
    assert run_cli("create-table", env=aws).returncode == 0
    file = tmp_path / "org.jsonl"

    exported = run_cli("org", "export", "org-xyz-789", "--output", str(file), env=embedded)
    imported = run_cli("org", "import", str(file), env=aws)
    again = run_cli("org", "import", str(file), env=aws)
    back = run_cli("org", "export", "org-xyz-789", env=aws)

    assert exported.returncode == 0, exported.stderr
    lines = file.read_bytes().splitlines()
    assert exported.stderr.strip() == f"exported {len(lines) - 2} items of org-xyz-789 to {file}"
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600  # it holds people's emails
    assert not list(tmp_path.glob("*.partial"))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported org-xyz-789 into the DynamoDB table moved")
    assert f": {len(lines) - 2} items written" in imported.stdout
    assert imported.stderr == ""  # no progress bar off a terminal
    assert "as the file has it; nothing to do" in again.stdout
    assert back.stdout.encode().splitlines()[1:] == lines[1:]

    deleted = run_cli("org", "delete", "org-xyz-789", "--yes", env=aws)
    nothing = run_cli("org", "delete", "org-xyz-789", "--yes", env=aws)
    gone = run_cli("org", "export", "org-xyz-789", env=aws)

    assert deleted.stdout.strip().endswith(f": {len(lines) - 2} items"), deleted.stderr
    assert "nothing to do" in nothing.stdout
    assert "no organization 'org-xyz-789'" in failure(gone, 1)


def test_the_org_commands_refuse_clearly_and_change_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "s.sqlite3"))
    assert run_cli("demo-data", env=env).returncode == 0
    file = tmp_path / "org.jsonl"
    assert run_cli("org", "export", "org-xyz-789", "-o", str(file), env=env).returncode == 0
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(file.read_bytes().splitlines(keepends=True)[:4]))

    unconfirmed = run_cli("org", "delete", "org-xyz-789", env=env)
    over = run_cli("org", "import", str(file), env=env)
    short = run_cli("org", "import", str(cut), env=env)
    missing = run_cli("org", "import", str(tmp_path / "nope.jsonl"), env=env)
    bad_id = run_cli("org", "export", "a#b", env=env)
    unwritable = run_cli("org", "export", "org-xyz-789", "-o",
                         str(tmp_path / "no" / "dir.jsonl"), env=env)
    still = run_cli("org", "export", "org-xyz-789", env=env)

    assert "pass --yes" in failure(unconfirmed, 2)
    assert "already in the embedded store" in over.stdout  # the same data: nothing to do
    assert "ends at line 4 without its end line" in failure(short, 1)
    assert failure(missing, 2).startswith("devinsights org import: FILE ")
    assert "organization id must be" in failure(bad_id, 2)
    assert "cannot write there" in failure(unwritable, 2)
    assert still.stdout.encode().splitlines()[1:] == file.read_bytes().splitlines()[1:]
