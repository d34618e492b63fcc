"""Real servers for the web tests: the app under uvicorn on 127.0.0.1, and a tiny JWKS host.

The app runs in a thread with its own event loop, on a socket this module binds to a free
port of 127.0.0.1, so every test goes through real HTTP and WebSocket connections. Its log
lines are captured as the JSON the production formatter writes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import orjson
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from datastore import demo
from datastore.embedded import EmbeddedStore
from datastore.store import Store
from server import create_app, uvicorn_config
from web.logs import JsonFormatter
from web.settings import Settings

T = TypeVar("T")

SECRET = "web-tests-hs256-secret-0123456789abcdef"
ISSUER = "https://issuer.devinsights.test"
AUDIENCE = "devinsights-api"
APP_ORIGIN = "http://app.devinsights.test"
START_TIMEOUT_SECONDS = 20.0


class LogLines(logging.Handler):
    """Every log line written while a server runs, formatted as in production."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lock_lines:
            self.lines.append(line)

    @property
    def text(self) -> str:
        with self._lock_lines:
            return "\n".join(self.lines)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock_lines:
            return [json.loads(line) for line in self.lines]

    def requests(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["logger"] == "devinsights.request"]

    def request(self, request_id: str, *, timeout: float = 5.0) -> dict[str, Any]:
        """The line of one request; a subscription's line comes when it ends, so wait."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.requests() if e["requestId"] == request_id]
            if found or time.monotonic() > deadline:
                assert len(found) == 1, f"expected one log line for request {request_id}"
                return found[0]
            time.sleep(0.02)


@dataclass
class Served:
    url: str
    app: Starlette
    logs: LogLines
    loop: asyncio.AbstractEventLoop
    store: Store | None = None

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return "ws" + self.graphql_url.removeprefix("http")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)


def settings_for(tmp: Any, **changes: Any) -> Settings:
    values: dict[str, Any] = {"sqlite_path": str(tmp / "db.sqlite3"), "jwt_secret": SECRET,
                              "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE,
                              "cors_origins": (APP_ORIGIN,)}
    values.update(changes)
    return Settings(**values)


@contextmanager
def capturing_logs() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@contextmanager
def serving(settings: Settings, store: Store | None = None, *,
            demo_data: bool = True, **app_options: Any) -> Iterator[Served]:
    """Serve ``create_app(settings, store, **app_options)`` on a free port of 127.0.0.1 until
    the block ends."""
    if demo_data:
        asyncio.run(_load_demo(settings, store))
    app = create_app(settings, store, **app_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see server._listening_socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(app, settings)  # as `devinsights serve` runs it
    config.timeout_graceful_shutdown = 5
    server = uvicorn.Server(config)
    state: dict[str, Any] = {}

    async def main() -> None:
        state["loop"] = asyncio.get_running_loop()
        await server.serve(sockets=[sock])

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported below rather than lost in the thread
            state["error"] = exc

    with capturing_logs() as logs:
        thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not server.started:
                if "error" in state or not thread.is_alive():
                    raise RuntimeError("the server did not start") from state.get("error")
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start in time")
                time.sleep(0.01)
            yield Served(f"http://127.0.0.1:{port}", app, logs, state["loop"], store)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            sock.close()


async def _load_demo(settings: Settings, store: Store | None) -> None:
    if store is not None:
        await demo.load_demo(store)
        return
    own = EmbeddedStore(settings.sqlite_path)
    try:
        await demo.load_demo(own)
    finally:
        await own.close()


# Tokens

DROP = object()


def claims_for(sub: Any = demo.DEMO_ADMIN, org: Any = demo.DEMO_ORG, **changes: Any
               ) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "org": org, "iss": ISSUER, "aud": AUDIENCE,
                              "iat": now, "exp": now + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not DROP}


def token(sub: Any = demo.DEMO_ADMIN, org: Any = demo.DEMO_ORG, *, key: Any = SECRET,
          algorithm: str = "HS256", headers: dict[str, Any] | None = None,
          **changes: Any) -> str:
    return jwt.encode(claims_for(sub, org, **changes), key, algorithm=algorithm,
                      headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def handmade_token(header: dict[str, Any], claims: dict[str, Any],
                   hmac_key: bytes | None = None) -> str:
    """A token PyJWT would refuse to make: alg none, or HMAC keyed with a public key."""
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(),
                                                      hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# A JWKS endpoint


def jwk(key: Any, kid: str) -> dict[str, Any]:
    """The public half of an RSA or EC private key as a JWK named ``kid``."""
    algorithm: Any = (jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey)
                      else jwt.algorithms.ECAlgorithm)
    data: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


@dataclass
class JwksHost:
    """Serves ``keys`` as a JWKS document; tests change ``keys`` to rotate, and ``hold()``
    fetches to see what waits for them."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    url: str = ""
    _released: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._released.set()

    def hold(self) -> None:
        """Make every fetch from now on wait for ``release()`` before it is answered."""
        self._arrived.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_for_held_fetch(self, timeout: float = 10) -> bool:
        """True once a fetch has arrived and is being held."""
        return self._arrived.wait(timeout)

    def _serve(self) -> bytes:
        with self._lock:
            self.fetches += 1
        self._arrived.set()
        self._released.wait(timeout=30)
        return orjson.dumps({"keys": self.keys})


@contextmanager
def jwks_host() -> Iterator[JwksHost]:
    host = JwksHost()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = host._serve()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host.url = f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=httpd.serve_forever, name="jwks", daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.release()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# The command line, as a user runs it


def devinsights() -> list[str]:
    """The installed console script (`pip install -e .` puts it beside the interpreter)."""
    script = Path(sys.executable).with_name("devinsights")
    assert script.exists(), f"{script} is missing: run `pip install -e '.[test]'` (make test does)"
    return [str(script)]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment without any DEVINSIGHTS_* or AWS_* of the person running the tests."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEVINSIGHTS_", "AWS_"))}
    env.update(XDG_DATA_HOME=str(home), AWS_EC2_METADATA_DISABLED="true", **extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*devinsights(), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    lines: list[str]  # stdout, what a person reads
    log_lines: list[str]  # stderr, the JSON logs

    def output_after(self, prefix: str) -> str:
        """The rest of the first printed line that starts with ``prefix``."""
        for line in self.lines:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        raise AssertionError(f"no line starting {prefix!r} in {self.lines}")

    @property
    def url(self) -> str:
        return self.output_after("GraphiQL:").removesuffix("/graphql")

    @property
    def token(self) -> str:
        index = next(i for i, line in enumerate(self.lines) if line.startswith("Admin token"))
        return self.lines[index + 1].strip()


@contextmanager
def serve_process(command: list[str], env: dict[str, str], *, until: str,
                  cwd: Path | None = None, timeout: float = 120) -> Iterator[ServeProcess]:
    """Run a long-lived command in its own process group until it prints ``until``.

    The group is ours alone (start_new_session), so stopping it stops only what we started,
    including a server that `make` started as its child.
    """
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    log_lines: list[str] = []
    readers = [threading.Thread(target=_read_lines, args=(stream, into), daemon=True)
               for stream, into in ((process.stdout, lines), (process.stderr, log_lines))]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not any(line.startswith(until) for line in list(lines)):
            if process.poll() is not None:
                for reader in readers:
                    reader.join(timeout=5)
                raise AssertionError(f"{command} exited {process.returncode}: {lines} "
                                     f"{log_lines[-20:]}")
            assert time.monotonic() < deadline, f"{command} printed no {until!r}: {lines}"
            time.sleep(0.05)
        yield ServeProcess(process, lines, log_lines)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for reader in readers:
            reader.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _read_lines(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def wait_until_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not become ready"
        time.sleep(0.1)
