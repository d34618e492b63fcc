"""GraphiQL in a real headless browser (Debian's chromium via playwright), with no internet.

Every request the page makes is checked: anything not for 127.0.0.1 is aborted and fails the
test, so a CDN reference anywhere (page, scripts, styles, fonts) cannot slip in.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import graphql
import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Response,
    Route,
    expect,
    sync_playwright,
)
from starlette.applications import Starlette

from datastore.demo import DEMO_ORG
from schema import build_schema
from tests.prerequisites import require
from tests.web.servers import Served, bearer, token
from web.graphiql import (
    ASSET_FILES,
    CONTENT_SECURITY_POLICY,
    EXAMPLE_QUERY,
    SETUP_COMMAND,
    TOKEN_PLACEHOLDER,
    default_asset_dir,
    graphiql_html,
    graphiql_routes,
    missing_assets,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".result-window"


@dataclass
class Tab:
    """A browser page plus everything it did that a test may want to fail on."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if urlsplit(url).hostname != "127.0.0.1"]

    def assert_clean(self) -> None:
        assert self.foreign_requests == [], "the page reached beyond this server"
        assert self.console_errors == []

    def type_into(self, editor: str, text: str) -> None:
        self.page.click(editor)
        self.page.keyboard.press("Control+A")
        # insert_text, not type: typed brackets would be auto-closed by the editor.
        self.page.keyboard.insert_text(text)
        # GraphiQL re-reads the operation name 100 ms after the last edit (debounced); a run
        # sooner would send the previous query's name, as a person never types fast enough to.
        self.page.wait_for_timeout(300)

    def open_with_token(self, graphiql_url: str, bearer_token: str) -> None:
        """The page with the token filled in, once it has loaded the schema with it."""
        with self.page.expect_response(_introspection) as introspection:
            self.page.goto(f"{graphiql_url}#token={bearer_token}")
        assert introspection.value.ok
        expect(self.page.locator(HEADERS_EDITOR)).to_contain_text("Bearer ey")

    def run_and_expect(self, *texts: str) -> None:
        self.page.click(".graphiql-execute-button")
        for text in texts:
            expect(self.page.locator(RESULT)).to_contain_text(text)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Browser]:
    # `served` first: playwright's sync API leaves its event loop set on this thread while it
    # runs, and starting the server (tests/web/servers.py) calls asyncio.run.
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def assets() -> Path:
    asset_dir = default_asset_dir()
    require(not missing_assets(asset_dir),
            f"GraphiQL assets missing in {asset_dir}: run {SETUP_COMMAND}")
    return asset_dir


@pytest.fixture(scope="module")
def graphiql_url(served: Served, assets: Path) -> str:
    """GraphiQL on the live demo server (tests/web/conftest.py), assets installed."""
    return served.graphql_url


@pytest.fixture(scope="module")
def alice_token() -> str:
    """The demo admin's token, as `devinsights token` would mint it."""
    return token(email="alice@startup.com", name="Alice Developer")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Tab(page)

    def only_this_machine(route: Route) -> None:
        seen.requests.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_this_machine)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error"
            else None)
    page.on("pageerror", lambda e: seen.console_errors.append(f"uncaught: {e}"))
    yield seen
    context.close()


# Without a browser


def test_the_page_refers_to_nothing_but_this_server() -> None:
    page = graphiql_html()
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert references, "expected the page to load its assets"
    assert all(r.startswith("/graphiql/assets/") or r.startswith("data:") for r in references)
    assert not re.search(r"https?://", page)


def test_the_example_query_is_valid_against_the_schema() -> None:
    schema = graphql.build_schema(build_schema().as_str())
    assert graphql.validate(schema, graphql.parse(EXAMPLE_QUERY)) == []


def test_page_config_cannot_close_the_script_element() -> None:
    page = graphiql_html(example_query="{ __typename } # </script><script>alert(1)</script>")
    config = re.search(r'<script type="application/json" id="graphiql-config">(.*?)</script>',
                       page, re.DOTALL)
    assert config is not None
    assert json.loads(config.group(1))["exampleQuery"].endswith("</script>")
    assert "<script>alert(1)" not in page


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_assets_are_served_from_the_asset_dir(assets: Path) -> None:
    async with _client(Starlette(routes=graphiql_routes(assets))) as client:
        response = await client.get("/graphiql/assets/graphiql.min.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.content == (assets / "graphiql.min.js").read_bytes()


async def test_missing_assets_are_a_warning_not_a_crash(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="web.graphiql"):
        routes = graphiql_routes(tmp_path / "not-set-up")
    assert SETUP_COMMAND in caplog.text
    async with _client(Starlette(routes=routes)) as client:
        response = await client.get("/graphiql/assets/graphiql.min.js")
    assert response.status_code == 404
    assert SETUP_COMMAND in response.text


# In the browser


def test_graphiql_loads_with_no_console_errors_and_no_other_host(
        tab: Tab, graphiql_url: str) -> None:
    response = tab.page.goto(graphiql_url)
    assert response is not None
    assert response.ok
    # Served with the strict policy, so the assertions below also prove nothing violates it.
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    expect(tab.page.locator(QUERY_EDITOR)).to_contain_text("query TeamDashboard")
    expect(tab.page.locator(HEADERS_EDITOR)).to_contain_text(TOKEN_PLACEHOLDER)
    tab.page.wait_for_load_state("networkidle")
    tab.assert_clean()
    assert {urlsplit(url).path for url in tab.requests} >= {
        "/graphql", *(f"/graphiql/assets/{name}" for name in ASSET_FILES)}


def test_a_query_typed_into_the_editor_runs_with_the_token_from_the_url(
        tab: Tab, graphiql_url: str, alice_token: str) -> None:
    tab.page.goto(graphiql_url)
    expect(tab.page.locator(QUERY_EDITOR)).to_contain_text("query TeamDashboard")
    # As when `devinsights serve --demo`'s URL is pasted into an open tab: only the hash
    # changes, and the page must still pick the token up (and load the schema with it).
    with tab.page.expect_response(_introspection) as introspection:
        tab.page.goto(f"{graphiql_url}#token={alice_token}")
    assert introspection.value.ok
    assert "__schema" in introspection.value.json()["data"]
    expect(tab.page.locator(HEADERS_EDITOR)).to_contain_text("Bearer ey")
    tab.type_into(QUERY_EDITOR, "{ organization { name maxMembers } }")
    tab.run_and_expect('"name": "My Startup"')
    tab.assert_clean()
    assert alice_token not in tab.page.url, "the token stays out of the address bar"
    stored = tab.page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert alice_token not in stored


def _introspection(response: Response) -> bool:
    return "IntrospectionQuery" in (response.request.post_data or "")


def test_the_example_query_runs_with_a_token_pasted_into_the_headers_editor(
        tab: Tab, graphiql_url: str, alice_token: str, tmp_path: Path) -> None:
    tab.page.goto(graphiql_url)
    expect(tab.page.locator(QUERY_EDITOR)).to_contain_text("query TeamDashboard")
    tab.type_into(HEADERS_EDITOR,
                  json.dumps({"Authorization": f"Bearer {alice_token}"}, indent=2))
    tab.run_and_expect('"name": "My Startup"', '"currentMembers"', '"overallScore"')
    tab.assert_clean()
    tab.page.screenshot(path=tmp_path / "graphiql.png")


def test_the_placeholder_token_is_never_sent(tab: Tab, graphiql_url: str) -> None:
    posts: list[str] = []
    tab.page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    tab.page.goto(graphiql_url)
    tab.run_and_expect("Set the Authorization header first")
    assert posts == []
    tab.assert_clean()


def test_without_assets_the_page_says_how_to_install_them(tab: Tab, tmp_path: Path) -> None:
    def serve(route: Route) -> None:
        if urlsplit(route.request.url).path == "/graphql":
            route.fulfill(body=graphiql_html(), content_type="text/html",
                          headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})
        else:
            route.fulfill(status=404, body="not found")

    # A port nothing listens on: every request is answered by serve() above.
    tab.page.route("http://127.0.0.1:9/**", serve)
    tab.page.goto("http://127.0.0.1:9/graphql")
    expect(tab.page.locator(".setup-help")).to_contain_text(SETUP_COMMAND)
    assert tab.foreign_requests == []
    assert not [e for e in tab.console_errors if not e.startswith("Failed to load resource")]


def _subscribers(served: Served) -> int:
    count: int = served.app.state.api.broker.subscribers(DEMO_ORG)
    return count


def _wait_for_subscribers(tab: Tab, served: Served, count: int) -> None:
    for _ in range(250):
        if _subscribers(served) == count:
            return
        tab.page.wait_for_timeout(20)
    raise AssertionError(f"expected {count} subscribers of {DEMO_ORG}, not {_subscribers(served)}")


def test_a_subscription_runs_over_websocket_and_shows_an_event_a_mutation_caused(
        tab: Tab, graphiql_url: str, served: Served, alice_token: str) -> None:
    sockets: list[str] = []
    tab.page.on("websocket", lambda ws: sockets.append(ws.url))
    tab.open_with_token(graphiql_url, alice_token)
    tab.type_into(QUERY_EDITOR, "subscription Watch { activity { action } }")
    tab.page.click(".graphiql-execute-button")
    _wait_for_subscribers(tab, served, 1)

    changed = httpx.post(served.graphql_url, headers=bearer(token("user-bob-002")), json={
        "query": 'mutation { updateMyPreferences(input: {language: "fr"}) { __typename } }'})
    assert changed.status_code == 200
    assert "errors" not in changed.json()
    expect(tab.page.locator(RESULT)).to_contain_text('"action": "member.preferences_updated"')
    tab.page.click(".graphiql-execute-button")  # now the stop button
    _wait_for_subscribers(tab, served, 0)

    assert sockets == [served.ws_url]
    tab.assert_clean()


def test_a_subscription_with_a_refused_token_shows_why_in_the_result(
        tab: Tab, graphiql_url: str, served: Served) -> None:
    expired = token(exp=0)
    tab.page.goto(graphiql_url)
    expect(tab.page.locator(QUERY_EDITOR)).to_contain_text("query TeamDashboard")
    tab.type_into(HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {expired}"}))
    tab.type_into(QUERY_EDITOR, "subscription { activity { action } }")
    tab.run_and_expect("4403", "expired")

    assert _subscribers(served) == 0
    tab.assert_clean()
