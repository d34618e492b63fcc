"""Test infrastructure shared by every suite: a local moto server behind a proxy that gives
it DynamoDB's real behaviour (tests/dynamo_proxy.py), a movable clock, stores."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
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
from tests.dynamo_proxy import DynamoProxy
from tests.local_moto import CopyEachTableOnce, OneRequestAtATime

TABLE = "devinsights-test"
SEED = 20261201  # the proxy's random draws (stale reads, scheduled faults) are reproducible
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
    """One admin client for the session, straight to moto; a boto3 client takes ~100 ms."""
    client = make_client(settings_for(moto_endpoint))
    yield client
    client.close()


@pytest.fixture(scope="session")
def dynamo_proxy(moto_endpoint: str) -> Iterator[DynamoProxy]:
    """The wire every DynamoDB store of the tests talks to (faithful by default: no faults,
    no staleness, real consumed capacity); suites and tests switch behaviours on."""
    proxy = DynamoProxy(moto_endpoint, seed=SEED).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def dynamo_settings(moto_endpoint: str, moto_client: Any, dynamo_proxy: DynamoProxy
                    ) -> DynamoSettings:
    """Fresh moto state holding one empty table, reached through the proxy."""
    reset_moto(moto_endpoint)
    dynamo_proxy.reset()
    create_table(moto_client, TABLE)
    return settings_for(dynamo_proxy.url)


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


# How the API and concurrency suites see DynamoDB: an eventually consistent read may miss the
# writes of the last STALE_MS, and every write is in flight for HOLD_MS, long enough for
# concurrent transactions on one item to conflict.
STALE_MS = 1000.0
HOLD_MS = 10.0


def behave_like_dynamodb(request: pytest.FixtureRequest, store: Store) -> Callable[[], None]:
    """Switch stale reads and transaction conflicts on, when ``store`` is the DynamoDB one;
    return what lets every write so far reach every replica (a no-op elsewhere)."""
    if not isinstance(store, DynamoStore):
        return lambda: None
    proxy: DynamoProxy = request.getfixturevalue("dynamo_proxy")
    proxy.settle()  # what a fixture wrote is old news by the time a test reads it
    proxy.stale_ms, proxy.hold_ms = STALE_MS, HOLD_MS
    # Conflicts are retried with backoff: the production policy, not the fast one, so a
    # transaction that lost a race waits for the winner as it would in production.
    store.retry = RetryPolicy()
    return proxy.settle
