"""Apollo Client 4, with schema/possibleTypes.json in its cache, against a live server.

The JavaScript side is `apollo.test.mjs`: a typed mutation error read through the cache (and
dropped without possibleTypes), and one cache entry per global id across queries.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.js.nodejs import assert_passed, node_with, run_node_test
from tests.web.servers import serving, settings_for, token


def test_apollo_client_reads_typed_errors_and_normalizes_by_global_id(tmp_path: Path) -> None:
    node = node_with("@apollo/client", "graphql", "rxjs")
    alice = token(email="alice@startup.com", name="Alice Developer")

    with serving(settings_for(tmp_path)) as served:
        env = {**os.environ, "GRAPHQL_URL": served.graphql_url, "GRAPHQL_TOKEN": alice}
        result = run_node_test(node, "apollo.test.mjs", env)

    assert_passed(result, 2)
