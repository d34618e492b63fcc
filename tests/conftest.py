"""Test infrastructure shared by every suite: a local moto server, a movable clock, stores."""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from datastore.dynamodb import DynamoSettings, DynamoStore, make_client
from datastore.embedded import EmbeddedStore
from datastore.store import RetryPolicy, Store
from datastore.table import create_table

TABLE = "devinsights-test"
# Fast retries keep the throttling tests quick; the attempt count is the production one.
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.005)


class OneRequestAtATime:
    """WSGI middleware that runs one request at a time.

    moto's DynamoDB backend has no locks, and transact_write_items rolls back by swapping in
    a copy of the table, so concurrent requests on a threaded server can lose writes. The
    response body is materialised inside the lock because moto may produce it lazily.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class Clock:
    """A clock the tests move by hand, so TTL tests never sleep."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local URL)
        response.read()


@pytest.fixture
def dynamo_settings(moto_endpoint: str) -> DynamoSettings:
    """Fresh moto state with an empty table; fake credentials, nothing leaves 127.0.0.1."""
    reset_moto(moto_endpoint)
    settings = DynamoSettings(table=TABLE, region="us-east-1", endpoint_url=moto_endpoint,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    client = make_client(settings)
    try:
        create_table(client, TABLE)
    finally:
        client.close()
    return settings


@pytest.fixture
def dynamo_client(dynamo_settings: DynamoSettings) -> Iterator[Any]:
    client = make_client(dynamo_settings)
    yield client
    client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _dynamodb_only_on_embedded(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (item.get_closest_marker("dynamodb_only") is not None and callspec is not None
            and callspec.params.get("store") == "embedded")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselected = [i for i in items if _dynamodb_only_on_embedded(i)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if i not in deselected]


@pytest.fixture(params=["embedded", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                clock: Clock) -> AsyncIterator[Store]:
    """The same contract, run against every backend."""
    backend: Store
    if request.param == "embedded":
        backend = EmbeddedStore(tmp_path / "db.sqlite3", clock=clock, retry=FAST_RETRY)
    else:
        settings = request.getfixturevalue("dynamo_settings")
        backend = DynamoStore(settings, clock=clock, retry=FAST_RETRY)
    yield backend
    await backend.close()
