"""Runs a JavaScript test file under node's own test runner, with its packages from tests/js.

The packages are installed (npm ci, integrity-checked against package-lock.json) by
scripts/setup-web-assets; without node or them a test skips, and under CI=true fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.prerequisites import require

HERE = Path(__file__).parent


def node_with(*packages: str) -> str:
    """The node executable, once node and every named package are installed."""
    node = shutil.which("node")
    require(node is not None, "node is not installed (Node.js 20+)")
    assert node is not None
    missing = [p for p in packages if not (HERE / "node_modules" / p / "package.json").is_file()]
    require(not missing, f"{', '.join(missing)} not installed: run scripts/setup-web-assets")
    return node


def run_node_test(node: str, script: str, env: dict[str, str], *, timeout: float = 120
                  ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([node, "--test", "--test-reporter=spec", script], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def assert_passed(result: subprocess.CompletedProcess[str], count: int) -> None:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"pass {count}" in result.stdout, result.stdout
    assert "fail 0" in result.stdout, result.stdout
