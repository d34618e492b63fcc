"""The built wheel, installed into a fresh venv, serves GraphiQL with every asset it references.

The wheel is built from a copy of the source without any fetched assets, so its build step
(build_graphiql.py: scripts/setup-web-assets, npm ci against the lockfile) must fetch them.
Nothing comes from PyPI: pip runs with --no-index and without build isolation, and the fresh
venv reaches the test venv's dependencies through a .pth file, never the checkout's code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.prerequisites import require
from tests.web.servers import cli_env, serve_process, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
# Not part of a build's input: fetched or generated files, and what the wheel does not ship.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__",
    ".*_cache", ".hypothesis", "static", "*.sqlite3*", "tests", "bench")
ASSET_PREFIX = "/graphiql/assets/"

pytestmark = pytest.mark.wheel


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def build_wheel(source: Path, out: Path) -> Path:
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "--quiet", "--wheel-dir", out, source, cwd=source)
    (wheel,) = out.glob("devinsights_api-*.whl")
    return wheel


def fresh_venv(venv: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; its dependencies are this venv's, added afterwards so
    pip sees none of them (nor this checkout's editable install) while it installs."""
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--quiet", wheel, cwd=venv.parent)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=venv.parent).stdout.strip())
    # A directory named in a .pth is only put on sys.path: its own .pth files (this checkout's
    # editable finder among them) are not run, so `web` can only come from the wheel.
    (site / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def test_the_installed_wheel_serves_graphiql_and_every_asset_it_references(
        tmp_path: Path) -> None:
    require(all(shutil.which(tool) for tool in ("node", "npm")),
            "building the wheel fetches GraphiQL's assets with node and npm")
    started = time.monotonic()
    wheel = build_wheel(tmp_path / "src", tmp_path / "dist")
    built = time.monotonic()
    python = fresh_venv(tmp_path / "venv", wheel)
    installed = time.monotonic()

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"web/static/graphiql/manifest.json", "web/static/graphiql/graphql-ws.min.js",
            "schema/schema.graphql", "datastore/fixtures/github_demo.json"} <= names
    assert not [n for n in names if n.startswith("web/assets/") or n == "build_graphiql.py"]
    if (ROOT / "schema" / "possibleTypes.json").exists():
        assert "schema/possibleTypes.json" in names
    where = run(python, "-c", "import web.graphiql as g; print(g.default_asset_dir())",
                cwd=tmp_path, env=_env(tmp_path)).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), "GraphiQL must come from the wheel"

    env = _env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(tmp_path / "demo.sqlite3"),
               DEVINSIGHTS_HOST="127.0.0.1")
    with serve_process([str(python.with_name("devinsights")), "serve", "--demo", "--port", "0"],
                       env, cwd=tmp_path, until="GraphiQL with the token") as served:
        wait_until_ready(served.url)
        with httpx.Client(base_url=served.url, timeout=10) as client:
            page = client.get("/graphql", headers={"Accept": "text/html"})
            references = re.findall(r'(?:src|href)="(/graphiql/assets/[^"]+)"', page.text)
            manifest_response = client.get(f"{ASSET_PREFIX}manifest.json")
            assets = {ref: client.get(ref) for ref in references}
            # The demo's analytics come from the fixture the wheel ships.
            viewer = client.post("/graphql", headers={"Authorization": f"Bearer {served.token}"},
                                 json={"query": "{ viewer { name } "
                                                "teamReport { summary { analyzedMembers } } }"})
        os.kill(served.process.pid, signal.SIGTERM)  # ours alone; serve_process reaps it
        served.process.wait(timeout=20)
    print(f"wheel built in {built - started:.1f} s, installed in {installed - built:.1f} s")

    assert page.status_code == 200
    assert len(references) >= 5
    assert manifest_response.status_code == 200
    manifest = manifest_response.json()
    lockfile = (ROOT / "web" / "assets" / "package-lock.json").read_bytes()
    assert manifest["lockfile_sha256"] == sha256(lockfile)
    for ref, response in assets.items():
        name = ref.removeprefix(ASSET_PREFIX)
        assert response.status_code == 200, ref
        assert sha256(response.content) == manifest["files"][name]["sha256"], ref
    assert viewer.json() == {"data": {"viewer": {"name": "Alice Developer"},
                                      "teamReport": {"summary": {"analyzedMembers": 3}}}}


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = cli_env(home, **extra)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env

