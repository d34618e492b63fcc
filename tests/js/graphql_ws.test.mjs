// graphql-ws (graphql-transport-ws) with the ws package, against a live server: GRAPHQL_WS_URL
// and GRAPHQL_TOKEN come from tests/js/test_graphql_ws.py, which serves the demo organization.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

const url = process.env.GRAPHQL_WS_URL;
const token = process.env.GRAPHQL_TOKEN;
assert.ok(url && token, "set GRAPHQL_WS_URL and GRAPHQL_TOKEN");

function connect(connectionParams) {
  const sockets = new Set();
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    // Lazy (the default) closes the socket whenever no operation runs, and opens a new one for
    // the next; eager keeps the one socket from connection_ack to dispose.
    lazy: false,
    onNonLazyError: () => {},
    on: { connected: (socket) => sockets.add(socket) },
  });
  return { client, sockets };
}

async function first(client, request) {
  for await (const result of client.iterate(request)) {
    return result;
  }
  assert.fail(`no result for ${request.query}`);
}

const SET_LANGUAGE = `
  mutation SetLanguage($language: String!) {
    updateMyPreferences(input: {language: $language}) {
      __typename
      ... on UpdateMyPreferencesSuccess { member { preferences { language } } }
      ... on MutationError { code message }
    }
  }
`;

test("a query, a mutation and a subscription share one socket; the mutation's event arrives",
  async () => {
    // As the server reads connection_init: the header a browser cannot set on a WebSocket.
    const { client, sockets } = connect({ Authorization: `Bearer ${token}` });
    try {
      const viewer = await first(client, { query: "query Me { viewer { name role } }" });
      assert.deepEqual(viewer, { data: { viewer: { name: "Alice Developer", role: "ADMIN" } } });

      const events = client.iterate({ query: "subscription Activity { activity { action } }" });
      const next = events.next();
      // Nothing tells a client when the server has registered the subscription, so mutate
      // until an event arrives; each mutation adds one event.
      let event;
      for (let attempt = 1; attempt <= 10 && event === undefined; attempt += 1) {
        const set = await first(client,
                                { query: SET_LANGUAGE, variables: { language: `fr-${attempt}` } });
        assert.deepEqual(set.data.updateMyPreferences, {
          __typename: "UpdateMyPreferencesSuccess",
          member: { preferences: { language: `fr-${attempt}` } },
        });
        event = await Promise.race([next, new Promise((resolve) => setTimeout(resolve, 300))]);
      }

      assert.ok(event, "no activity event arrived");
      assert.deepEqual(event, {
        done: false, value: { data: { activity: { action: "member.preferences_updated" } } },
      });
      await events.return();
      assert.equal(sockets.size, 1, "the operations opened more than one socket");
    } finally {
      await client.dispose();
    }
  });

test("a socket whose connection_init carries no valid token is closed with 4403", async () => {
  const { client } = connect({ Authorization: "Bearer not-a-token" });
  try {
    const closed = await first(client, { query: "{ viewer { name } }" }).then(
      (result) => assert.fail(`expected the socket to close, got ${JSON.stringify(result)}`),
      (error) => error,
    );
    assert.equal(closed.code, 4403, String(closed.reason ?? closed));
    assert.match(closed.reason, /^Forbidden: /);
  } finally {
    await client.dispose();
  }
});
