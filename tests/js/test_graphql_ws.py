"""graphql-ws, the JavaScript WebSocket client, over one socket to /graphql of a live server.

The JavaScript side is `graphql_ws.test.mjs`: the token in `connection_init` as the server
reads it (web/subscriptions.py), a query, a mutation and the `activity` event that mutation
causes, all on one socket; and a bad token closing the socket with 4403.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.js.nodejs import assert_passed, node_with, run_node_test
from tests.web.servers import serving, settings_for, token


def test_graphql_ws_runs_a_query_a_mutation_and_a_subscription_on_one_socket(
        tmp_path: Path) -> None:
    node = node_with("graphql-ws", "ws", "graphql")
    alice = token(email="alice@startup.com", name="Alice Developer")

    with serving(settings_for(tmp_path)) as served:
        env = {**os.environ, "GRAPHQL_WS_URL": served.ws_url, "GRAPHQL_TOKEN": alice}
        result = run_node_test(node, "graphql_ws.test.mjs", env)

    assert_passed(result, 2)
