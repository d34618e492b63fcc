"""Fixtures of the web tests: a live server with the demo organization, and HTTP clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datastore.embedded import EmbeddedStore
from datastore.store import Store
from tests.web.servers import Served, bearer, serving, settings_for, token

MAX_BATCH = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server per test module: HS256 with issuer and audience, one CORS origin."""
    settings = settings_for(tmp_path_factory.mktemp("served"), max_batch=MAX_BATCH)
    with serving(settings) as s:
        yield s


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as c:
        yield c


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Alice, the demo organization's admin, asking for JSON."""
    return {**bearer(token()), "Content-Type": "application/json"}


@pytest.fixture
def held_store(tmp_path: Path) -> Iterator[tuple[Served, Store]]:
    """A server on a store the test holds, to inject faults into it or close it."""
    settings = settings_for(tmp_path)
    store = EmbeddedStore(settings.sqlite_path)
    with serving(settings, store) as s:
        yield s, store
    with contextlib.suppress(RuntimeError):  # the test may have closed it already
        asyncio.run(store.close())
