"""GraphiQL, served with every asset from this server so it works with no internet access.

The vendored React, GraphiQL and graphql-ws builds are fetched by `scripts/setup-web-assets`
(npm ci, integrity-checked against the committed lockfile) into `web/static/graphiql/`, a
directory of this package, so a built wheel carries them (the wheel build runs the script);
nothing third-party is committed. The page itself carries one constant inline script, so a
strict Content-Security-Policy (`CONTENT_SECURITY_POLICY`) can pin it by hash. Queries and
mutations go over HTTP; subscriptions over WebSocket (graphql-transport-ws) to the same
`/graphql`, with the token from the headers editor as the `connection_init` payload.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

logger = logging.getLogger(__name__)

ASSET_DIR_ENV = "DEVINSIGHTS_GRAPHIQL_ASSETS"
# Inside the package, so an installed wheel finds them as a source checkout does.
PACKAGE_ASSET_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
ASSET_FILES = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
    "graphql-ws.min.js",
)
MANIFEST = "manifest.json"
SETUP_COMMAND = "scripts/setup-web-assets"
TOKEN_PLACEHOLDER = "Bearer <paste token>"  # noqa: S105 (shown to be replaced, never sent)

EXAMPLE_QUERY = """\
# The team dashboard. Put a token in the Headers tab below
# (`devinsights token` prints one), then press Ctrl+Enter.
query TeamDashboard {
  organization {
    name
    currentMembers
    maxMembers
  }
  members(first: 10) {
    edges {
      node {
        name
        role
        githubData {
          codeQuality {
            overallScore
          }
        }
      }
    }
  }
}
"""

# Constant on purpose: per-page values travel in the JSON block above it, so this script's
# hash never changes and the CSP below can allow exactly it.
_BOOT_SCRIPT = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var root = document.getElementById("graphiql");

  function showSetupHelp() {
    root.innerHTML = "";
    var box = document.createElement("div");
    box.className = "setup-help";
    var title = document.createElement("h1");
    title.textContent = "GraphiQL's assets are not installed on this server";
    var text = document.createElement("p");
    text.textContent = "They are fetched once, from the npm registry, into " +
      "web/static/graphiql/ (a built wheel carries them). In the repository, run:";
    var command = document.createElement("pre");
    command.textContent = config.setupCommand;
    var after = document.createElement("p");
    after.textContent = "then reload this page. The GraphQL endpoint at " + config.endpoint +
      " works without them.";
    box.append(title, text, command, after);
    root.append(box);
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL || !window.graphqlWs) {
    showSetupHelp();
    return;
  }

  // A token passed as #token=... goes into the headers editor and off the address bar, so it
  // is not left in history or copied along with the URL. It is never written to the console.
  function tokenInHash() {
    return new URLSearchParams(window.location.hash.slice(1)).get("token");
  }
  var token = tokenInHash();
  if (window.location.hash) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  // Pasting a new .../graphql#token=... into this tab changes only the hash, which does not
  // reload the page; reload so the new token is picked up as above.
  window.addEventListener("hashchange", function () {
    if (tokenInHash()) {
      window.location.reload();
    }
  });
  var headers = JSON.stringify({"Authorization": token ? "Bearer " + token : config.placeholder},
                               null, 2);

  function placeholderResult() {
    return {errors: [{message: "Set the Authorization header first: in the Headers tab, " +
      "replace <paste token> with a token (`devinsights token` or `devinsights serve " +
      "--demo` prints one), then press Shift+Ctrl+R to load the schema and Ctrl+Enter " +
      "to run the query."}]};
  }

  function authorizationIn(headers) {
    var name = Object.keys(headers).find(function (key) {
      return key.toLowerCase() === "authorization";
    });
    return name === undefined ? undefined : headers[name];
  }

  function isSubscription(params, options) {
    var document = options && options.documentAST;
    if (!document) {
      return false;
    }
    var operations = document.definitions.filter(function (definition) {
      return definition.kind === "OperationDefinition";
    });
    var chosen = params.operationName
      ? operations.find(function (op) { return op.name && op.name.value === params.operationName; })
      : operations.length === 1 ? operations[0] : undefined;
    return Boolean(chosen) && chosen.operation === "subscription";
  }

  // One socket at a time, opened for the token now in the headers editor: the server reads
  // the token from connection_init only, so a changed token needs a new socket.
  var socket = {client: null, authorization: null};

  function socketFor(authorization) {
    if (socket.client && socket.authorization === authorization) {
      return socket.client;
    }
    if (socket.client) {
      socket.client.dispose();
    }
    var url = new URL(config.endpoint, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    socket.authorization = authorization;
    socket.client = graphqlWs.createClient({
      url: url.href,
      connectionParams: typeof authorization === "string" ? {Authorization: authorization} : {},
      // 4403 is a refused or expired token: another attempt with it cannot succeed.
      retryAttempts: 2,
      shouldRetry: function (event) { return !(event && event.code === 4403); }
    });
    return socket.client;
  }

  function socketErrors(error) {
    if (Array.isArray(error)) {
      return error;  // the server's `error` message: GraphQL errors as they are
    }
    if (error && typeof error.code === "number") {
      return [{message: "The WebSocket to " + config.endpoint + " closed (" + error.code +
        "): " + (error.reason || "no reason given")}];
    }
    return [{message: String((error && error.message) || error)}];
  }

  // An async iterator of the subscription's results for GraphiQL. Its return() (GraphiQL's
  // stop button) goes straight to graphql-ws, which sends `complete` at once; an async
  // generator would wait for the next event first.
  function subscription(params, authorization) {
    var events = socketFor(authorization).iterate({
      query: params.query,
      variables: params.variables,
      operationName: params.operationName
    });
    var failed = false;
    var iterator = {
      next: function () {
        if (failed) {
          return Promise.resolve({done: true, value: undefined});
        }
        return events.next().catch(function (error) {
          failed = true;
          return {done: false, value: {errors: socketErrors(error)}};
        });
      },
      return: function () {
        return events.return ? events.return() : Promise.resolve({done: true, value: undefined});
      }
    };
    iterator[Symbol.asyncIterator] = function () { return iterator; };
    return iterator;
  }

  async function fetcher(params, options) {
    var sent = Object.assign({}, options && options.headers);
    var authorization = authorizationIn(sent);
    if (authorization === config.placeholder) {
      return placeholderResult();
    }
    if (isSubscription(params, options)) {
      return subscription(params, authorization);
    }
    var response = await fetch(config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign({
        "Content-Type": "application/json",
        "Accept": "application/graphql-response+json, application/json"
      }, sent),
      body: JSON.stringify(params)
    });
    var text = await response.text();
    try {
      return JSON.parse(text);
    } catch (error) {
      return {errors: [{message: "HTTP " + response.status + " from " + config.endpoint +
        ": " + text.slice(0, 500)}]};
    }
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: config.exampleQuery,
    query: config.exampleQuery,
    headers: headers,
    shouldPersistHeaders: false,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: "headers",
    storage: memoryStorage()
  }));

  // Every page load starts from the example and the headers above; a persisted tab would
  // otherwise shadow both, and headers (tokens) must not reach localStorage anyway.
  function memoryStorage() {
    var items = new Map();
    return {
      get length() { return items.size; },
      getItem: function (key) { return items.has(key) ? items.get(key) : null; },
      setItem: function (key, value) { items.set(key, String(value)); },
      removeItem: function (key) { items.delete(key); },
      clear: function () { items.clear(); },
      key: function (index) { return Array.from(items.keys())[index] || null; }
    };
  }
})();
"""

_STYLE = """
html, body, #graphiql { height: 100%; margin: 0; }
.setup-help { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;
              padding: 0 1rem; color: #1b1f23; }
.setup-help pre { background: #f3f4f6; padding: 0.75rem 1rem; border-radius: 6px; }
"""


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# The header to send with the page. Everything is same-origin; GraphiQL's editors set inline
# style attributes, hence 'unsafe-inline' for styles (never for scripts).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    f"script-src 'self' {_csp_hash(_BOOT_SCRIPT)}",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])


def default_asset_dir() -> Path:
    """The package's own copy (a checkout after `scripts/setup-web-assets`, or an installed
    wheel); `DEVINSIGHTS_GRAPHIQL_ASSETS`, when set, names another directory instead."""
    override = os.environ.get(ASSET_DIR_ENV)
    return Path(override) if override else PACKAGE_ASSET_DIR


def missing_assets(asset_dir: Path) -> list[str]:
    """The asset files the page needs that are not in `asset_dir` (empty when ready)."""
    return [name for name in ASSET_FILES if not (asset_dir / name).is_file()]


def _json_for_script(value: object) -> str:
    # "</" would end the <script> element early; "\u003c" is the same string to JSON.parse.
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def graphiql_html(endpoint: str = "/graphql", example_query: str = EXAMPLE_QUERY,
                  asset_base: str = "/graphiql/assets") -> str:
    """The GraphiQL page, loading React and GraphiQL from `asset_base` on this server."""
    base = html.escape(asset_base.rstrip("/"), quote=True)
    config = _json_for_script({
        "endpoint": endpoint,
        "exampleQuery": example_query,
        "placeholder": TOKEN_PLACEHOLDER,
        "setupCommand": SETUP_COMMAND,
    })
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>DevInsights API · GraphiQL</title>
<link rel="stylesheet" href="{base}/graphiql.min.css">
<style>{_STYLE}</style>
</head>
<body>
<div id="graphiql">
<noscript>GraphiQL needs JavaScript. The GraphQL endpoint is {html.escape(endpoint)}.</noscript>
</div>
<script src="{base}/react.production.min.js"></script>
<script src="{base}/react-dom.production.min.js"></script>
<script src="{base}/graphiql.min.js"></script>
<script src="{base}/graphql-ws.min.js"></script>
<script type="application/json" id="graphiql-config">{config}</script>
<script>{_BOOT_SCRIPT}</script>
</body>
</html>
"""


class VendoredAssets(StaticFiles):
    """Static files that may not be installed yet: a 404 naming the fix, never a 500."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, check_dir=False)

    async def check_config(self) -> None:
        # StaticFiles fails every request when its directory is missing; this one is created
        # by the setup script, possibly while the server already runs.
        return

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            return PlainTextResponse(f"{path} is not installed; run {SETUP_COMMAND}",
                                     status_code=404)


def graphiql_routes(asset_dir: Path) -> list[BaseRoute]:
    """Serve the vendored assets at /graphiql/assets; warn once if setup has not run."""
    missing = missing_assets(asset_dir)
    if missing:
        logger.warning("GraphiQL assets missing in %s (%s); run %s to install them",
                       asset_dir, ", ".join(missing), SETUP_COMMAND)
    # The API starts without them; the page then shows how to install them.
    return [Mount("/graphiql/assets", app=VendoredAssets(asset_dir), name="graphiql-assets")]
