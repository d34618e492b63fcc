"""The real schema over a real store, as in tests/api, and the counts printed at the end."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from datastore import demo
from datastore.dynamodb import DynamoStore
from datastore.embedded import EmbeddedStore
from datastore.store import Store
from resolvers.context import ApiSettings
from resolvers.events import ActivityBroker
from schema import build_schema
from tests.api.conftest import Api
from tests.conftest import FAST_RETRY, Clock
from tests.hardening import tally

SCHEMA = build_schema()
# The test moto server runs one request at a time and copies the whole table for every
# action of a transaction, so under a hundred-way race an answer can take many seconds.
MOTO_READ_TIMEOUT = 120.0


@pytest.fixture(params=["embedded", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                clock: Clock) -> AsyncIterator[Store]:
    """tests/conftest.py's store, patient with a loaded moto server."""
    backend: Store
    if request.param == "embedded":
        backend = EmbeddedStore(tmp_path / "db.sqlite3", clock=clock, retry=FAST_RETRY)
    else:
        settings = request.getfixturevalue("dynamo_settings")
        backend = DynamoStore(dataclasses.replace(settings, read_timeout=MOTO_READ_TIMEOUT),
                              clock=clock, retry=FAST_RETRY)
    yield backend
    await backend.close()


def make_api(store: Store) -> Api:
    broker = ActivityBroker()
    broker.attach(store)
    return Api(store, broker, ApiSettings(cursor_secret=b"hardening-cursor-secret-32-bytes"),
               SCHEMA)


@pytest.fixture
async def api(store: Store) -> Api:
    """The demo organization loaded (ALICE, BOB, CHARLIE and DIANA of tests/api)."""
    await demo.load_demo(store)
    return make_api(store)


@pytest.fixture
def bare_api(store: Store) -> Api:
    """An empty table: the tests create what they need (moto copies the table per action)."""
    return make_api(store)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if set(tally.counts) - {tally.LEAKS, tally.LOST}:
        terminalreporter.section("hardening counts")
        for name, count in sorted(tally.counts.items()):
            terminalreporter.write_line(f"{name}: {count}")
