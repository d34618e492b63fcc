"""The wheel build's one extra step: GraphiQL's assets into the package before it is copied.

`pyproject.toml` names `BuildPy` as setuptools' build_py. It runs
`scripts/setup-web-assets --graphiql-only` (npm ci, integrity-checked against the committed
lockfile; it does nothing when the copy in `web/static/graphiql/` is already current), so a
wheel built from a fresh clone serves GraphiQL like the checkout does. Not shipped in the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SETUP_SCRIPT = ROOT / "scripts" / "setup-web-assets"
ASSET_DIR = ROOT / "web" / "static" / "graphiql"


class AssetsUnavailable(RuntimeError):
    """The wheel would serve no GraphiQL; refuse to build it."""


def fetch_graphiql_assets() -> None:
    bash = shutil.which("bash")
    if bash is None or not SETUP_SCRIPT.is_file():
        raise AssetsUnavailable(f"cannot run {SETUP_SCRIPT} (needs bash), so the wheel would "
                                "carry no GraphiQL assets")
    # Always into the package, whatever DEVINSIGHTS_GRAPHIQL_ASSETS the builder has set.
    env = {**os.environ, "DEVINSIGHTS_GRAPHIQL_ASSETS": str(ASSET_DIR)}
    done = subprocess.run([bash, str(SETUP_SCRIPT), "--graphiql-only"], env=env,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        raise AssetsUnavailable(f"{SETUP_SCRIPT} --graphiql-only failed (exit "
                                f"{done.returncode}); a wheel needs GraphiQL's assets, which "
                                "it fetches with node and npm from the npm registry")


class BuildPy(build_py):  # type: ignore[misc]  # setuptools < 71 ships no type hints
    def run(self) -> None:
        # An editable install serves the checkout's own copy (`make` fetches it).
        if not self.editable_mode:
            fetch_graphiql_assets()
            # The package-data list is computed on first use; drop one made before the fetch.
            self.__dict__.pop("data_files", None)
        super().run()
