"""Test infrastructure shared by every suite: a local moto server, a movable clock, stores."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from datastore.dynamodb import DynamoSettings, DynamoStore, make_client
from datastore.embedded import EmbeddedStore
from datastore.store import RetryPolicy, Store
from datastore.table import create_table
from tests.local_moto import CopyEachTableOnce, OneRequestAtATime

TABLE = "devinsights-test"
# Fast retries keep the throttling tests quick; the attempt count is the production one.
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.005)


class Clock:
    """A clock the tests move by hand, so TTL tests never sleep."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def isolated_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep a developer's ~/.aws profiles and endpoint settings out of every boto3 client."""
    with pytest.MonkeyPatch.context() as env:
        nowhere = str(tmp_path_factory.mktemp("aws") / "absent")
        env.setenv("AWS_CONFIG_FILE", nowhere)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                     "AWS_ENDPOINT_URL_DYNAMODB"):
            env.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(isolated_aws: None) -> Iterator[str]:
    """A moto server on an ephemeral 127.0.0.1 port, for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # else one log line per request
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    with pytest.MonkeyPatch.context() as env:
        CopyEachTableOnce().install(env.setattr)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def reset_moto(endpoint: str) -> None:
    """Forget every table and item; moto's own reset endpoint, much cheaper than a restart."""
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
    try:
        conn.request("POST", "/moto-api/reset")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 200, f"moto reset failed with HTTP {response.status}"


def settings_for(endpoint: str) -> DynamoSettings:
    """Fake credentials passed explicitly: nothing reads the environment or leaves 127.0.0.1."""
    # moto answers one request at a time, slowly when both cores are busy or a hundred
    # transactions race; a patient read timeout keeps that from becoming StoreUnavailable.
    return DynamoSettings(table=TABLE, region="us-east-1", endpoint_url=endpoint,
                          read_timeout=120.0,
                          aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="session")
def moto_client(moto_endpoint: str) -> Iterator[Any]:
    """One admin client for the session; building a boto3 client takes ~100 ms."""
    client = make_client(settings_for(moto_endpoint))
    yield client
    client.close()


@pytest.fixture
def dynamo_settings(moto_endpoint: str, moto_client: Any) -> DynamoSettings:
    """Fresh moto state holding one empty table."""
    reset_moto(moto_endpoint)
    create_table(moto_client, TABLE)
    return settings_for(moto_endpoint)


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
        items[:] = [i for i in items if not _dynamodb_only_on_embedded(i)]


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
