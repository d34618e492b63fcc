"""graphql-request, a JavaScript client, runs a query and a mutation against a live server.

The JavaScript side is `client.test.mjs` under node's own test runner; its packages are
installed (npm ci, integrity-checked) by scripts/setup-web-assets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.prerequisites import require
from tests.web.servers import serving, settings_for, token

HERE = Path(__file__).parent


def test_graphql_request_runs_a_query_a_mutation_and_gets_a_400(tmp_path: Path) -> None:
    node = shutil.which("node")
    require(node is not None, "node is not installed (Node.js 20+)")
    assert node is not None
    require((HERE / "node_modules" / "graphql-request").is_dir(),
            "graphql-request is not installed: run scripts/setup-web-assets")
    alice = token(email="alice@startup.com", name="Alice Developer")
    with serving(settings_for(tmp_path)) as served:
        env = {**os.environ, "GRAPHQL_URL": served.graphql_url, "GRAPHQL_TOKEN": alice}
        result = subprocess.run(
            [node, "--test", "--test-reporter=spec", "client.test.mjs"],
            cwd=HERE, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "pass 3" in result.stdout, result.stdout
