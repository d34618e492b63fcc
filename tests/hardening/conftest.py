"""The real schema over a real store, as in tests/api, and the counts printed at the end."""

from __future__ import annotations

import pytest

from datastore import demo
from datastore.store import Store
from resolvers.context import ApiSettings
from resolvers.events import ActivityBroker
from schema import build_schema
from tests.api.conftest import Api
from tests.hardening import tally

SCHEMA = build_schema()


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
