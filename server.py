"""The app factory and the `devinsights` command line.

settings -> store -> schema -> Starlette app, served by uvicorn. ``create_app`` is what
tests and ASGI servers use; ``main`` is the console script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import gc
import logging
import os
import re
import secrets
import shutil
import socket
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, TypeVar

import uvicorn
from botocore.exceptions import BotoCoreError, ClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.printer import print_schema

from datastore import demo, keys, org_moves, organizations
from datastore.dynamodb import DynamoSettings, DynamoStore, make_client
from datastore.embedded import EmbeddedStore, NotAStore, default_path
from datastore.embedded import backup as embedded_backup
from datastore.errors import StoreError
from datastore.feeds import FeedUnavailable
from datastore.github_settings import GitHubNotConfigured
from datastore.store import Store
from datastore.table import create_table
from resolvers.context import ApiSettings
from resolvers.events import ActivityBroker
from resolvers.github import GitHubSource
from schema import build_schema
from schema.possible_types import FILE_NAME as POSSIBLE_TYPES_NAME
from schema.possible_types import possible_types_json
from web import settings as config
from web.api import Api
from web.auth import Authenticator, mint_token
from web.graphiql import (
    CONTENT_SECURITY_POLICY,
    default_asset_dir,
    graphiql_html,
    graphiql_routes,
)
from web.health import Health
from web.http import GraphQLHttp, cors_middleware
from web.logs import configure_logging
from web.protocol import http_protocol
from web.quota import UsageMeter
from web.settings import Settings, SettingsError
from web.subscriptions import SubscriptionServer

if TYPE_CHECKING:  # gidgethub and httpx load when a refresh runs, not with the server
    from opentelemetry.sdk.trace import TracerProvider

    from datastore.github_refresh import Summary

log = logging.getLogger("devinsights.server")
T = TypeVar("T")

SCHEMA_FILE = Path(__file__).resolve().parent / "schema" / "schema.graphql"
DEMO_TOKEN_TTL_SECONDS = 12 * 3600
STARTUP_FAILURE = 3  # what uvicorn exits with when the app's lifespan fails to start
HOSTS_TO_USE = "such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"


# The app


def open_store(settings: Settings) -> Store:
    if settings.store == "dynamodb":
        return DynamoStore(DynamoSettings(table=settings.dynamodb_table,
                                          region=settings.dynamodb_region,
                                          endpoint_url=settings.dynamodb_endpoint_url))
    path = settings.sqlite_path or default_path()
    try:
        return EmbeddedStore(path)
    except (OSError, sqlite3.Error) as exc:
        reason = (f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename
                  else str(exc))
        if settings.sqlite_path is None:
            raise SettingsError(f"the embedded store {path} cannot be opened ({reason}); set "
                                "--sqlite-path or DEVINSIGHTS_SQLITE_PATH to a SQLite file in "
                                "a writable directory") from None
        raise SettingsError(f"{{name}} {path} cannot be opened as a SQLite database "
                            f"({reason}); point {{name}} at a SQLite file (new or existing) in "
                            "a writable directory", setting="sqlite_path") from None


def describe_store(settings: Settings) -> str:
    if settings.store == "dynamodb":
        where = settings.dynamodb_endpoint_url or f"AWS {settings.dynamodb_region}"
        return f"DynamoDB table {settings.dynamodb_table} ({where})"
    return f"embedded store {settings.sqlite_path or default_path()}"


async def graphiql_page(request: Request) -> Response:
    return HTMLResponse(graphiql_html(),
                        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                 "Cache-Control": "no-store"})


def _otlp_provider(endpoint: str) -> TracerProvider:
    from web.tracing import TracingUnavailable, otlp_provider
    try:
        return otlp_provider(endpoint)
    except TracingUnavailable as exc:
        raise SettingsError(str(exc), setting="otlp_endpoint") from None


def uvicorn_config(app: Starlette, settings: Settings) -> uvicorn.Config:
    """How `devinsights serve` runs the app; its HTTP protocol enforces the connection limits
    (web/protocol.py)."""
    return uvicorn.Config(
        app, http=http_protocol(settings), log_config=None, access_log=False, lifespan="on",
        proxy_headers=False, server_header=False, ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds))


def create_app(settings: Settings, store: Store | None = None, *,
               tracer_provider: TracerProvider | None = None) -> Starlette:
    """The ASGI app. Without ``store`` its lifespan opens one from settings and closes it;
    a store passed in belongs to the caller, who closes it. Traces go to
    ``tracer_provider`` (tests pass one), else to DEVINSIGHTS_OTLP_ENDPOINT when set."""
    owned_provider = tracer_provider is None and settings.otlp_endpoint is not None
    if tracer_provider is None and settings.otlp_endpoint is not None:
        tracer_provider = _otlp_provider(settings.otlp_endpoint)
    traced_schema = None
    if tracer_provider is not None:
        from web.tracing import schema_extension
        traced_schema = schema_extension(tracer_provider)
    schema = build_schema(introspection=settings.introspection, max_depth=settings.max_depth,
                          max_aliases=settings.max_aliases, max_tokens=settings.max_tokens,
                          tracing=traced_schema)
    github = GitHubSource(settings.github_config(),
                          ttl_seconds=settings.github_data_ttl_seconds)
    api = Api(settings=settings, schema=schema, authenticator=Authenticator(settings),
              api_settings=ApiSettings(
                  cursor_secret=settings.cursor_key(),
                  membership_recheck_seconds=settings.subscription_recheck_seconds,
                  default_plan=settings.default_plan,
                  analytics_min_group_size=settings.analytics_min_group_size,
                  github_data_ttl_seconds=settings.github_data_ttl_seconds,
                  github=github if github.configured else None),
              broker=ActivityBroker(), store=store)
    if settings.api_quota:
        api.meter = UsageMeter(api.require_store, flush_calls=settings.quota_flush_calls)
    metrics = None
    if settings.metrics_token:  # prometheus-client is imported only then
        from web.metrics import Metrics
        metrics = api.metrics = Metrics(settings.metrics_token)
        github.on_response = metrics.github_response
        api.authenticator.on_jwks_fetch(metrics.jwks_refreshes_by)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        owned = api.store is None
        store = api.store = api.store or open_store(settings)
        if metrics is not None:
            store.call_observer = metrics.store_call
        untrace = None
        if tracer_provider is not None:
            from web.tracing import trace_store
            untrace = trace_store(store, tracer_provider)
        feed_task = None
        if settings.event_source == "table":
            # Every process's events, this one's included, come back from the store; the
            # position is taken before the first connection is accepted, so none is missed.
            api.feed = store.activity_feed(settings.events_poll_seconds or None)
            await api.feed.start()
            feed_task = asyncio.create_task(api.feed.run(api.broker.on_item_written),
                                            name="activity-feed")
        else:
            api.broker.attach(store)  # the store's writes feed the subscriptions
        log.info("serving", extra={"fields": {"store": describe_store(settings),
                                              "events": settings.event_source}})
        scheduler = None
        if settings.github_refresh_seconds and github.configured:
            scheduler = asyncio.create_task(
                github.run_scheduler(store, settings.github_refresh_seconds),
                name="analytics-scheduler")
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            await github.close()
            if feed_task is not None and api.feed is not None:
                feed_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed_task
                await api.feed.close()
            with contextlib.suppress(ValueError):
                api.broker.detach(store)
            if api.meter is not None:
                await api.meter.flush_all()
            if metrics is not None and store.call_observer == metrics.store_call:
                store.call_observer = None
            if owned:
                await store.close()
                api.store = None
            if untrace is not None:
                untrace()
            if tracer_provider is not None and owned_provider:
                tracer_provider.shutdown()  # sends what is still batched
            log.info("stopped")

    http = GraphQLHttp(api, ide=graphiql_page)
    health = Health(api)
    routes = [
        Route("/graphql", http.endpoint, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", SubscriptionServer(api).endpoint),
        Route("/healthz", health.alive, methods=["GET"]),
        Route("/readyz", health.ready, methods=["GET"]),
        *graphiql_routes(default_asset_dir()),
    ]
    if metrics is not None:  # off: no route, a 404 like any unknown path
        routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))
    app = Starlette(routes=routes, middleware=[cors_middleware(settings.cors)],
                    lifespan=lifespan)
    app.state.api = api
    return app


# The command line


class CommandError(Exception):
    """A command cannot do what was asked; the message says why and what to do."""


class FlagError(CommandError):
    """A flag has a value the command cannot use (exit 2, as for a bad setting)."""


class Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def _settings(args: argparse.Namespace) -> Settings:
    return config.from_args(args, os.environ)


async def _load_demo(settings: Settings) -> str:
    store = open_store(settings)
    try:
        return await demo.load_demo(store)
    finally:
        await store.close()


async def _check_store_opens(settings: Settings) -> None:
    """Open the store (and its feed of every process's events, when subscriptions read it)
    and close it, so a bad path or a table without a stream fails here in one line rather
    than in the app's lifespan, where uvicorn would log a traceback and exit 3."""
    store = open_store(settings)
    try:
        if settings.event_source == "table":
            feed = store.activity_feed()
            try:
                await feed.start()
            except FeedUnavailable as exc:
                raise CommandError(str(exc)) from None
            finally:
                await feed.close()
    finally:
        await store.close()


def _listening_socket(host: str, port: int, port_given_as: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # create_server would resolve it too, but report a failure as one about the port.
        socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        sock = socket.create_server((host, port), family=family)
    except socket.gaierror as exc:
        raise SettingsError(f"{{name}} {host} cannot be resolved ({exc.strerror}); pass another "
                            f"{{name}}, {HOSTS_TO_USE}", setting="host") from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            raise SettingsError(f"{{name}} {host} is not an address of this machine, so it "
                                f"cannot be bound ({reason}); pass another {{name}}, "
                                f"{HOSTS_TO_USE}", setting="host") from None
        raise CommandError(f"cannot listen on {host}:{port} ({reason}); pick another port "
                           f"with {port_given_as}") from None
    # asyncio sets TCP_NODELAY only on sockets created with proto=IPPROTO_TCP, which
    # create_server's are not; without it every kept-alive request waits ~40 ms for Nagle.
    # Accepted connections inherit the option from the listening socket (Linux, BSD).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _demo_token_ttl(settings: Settings) -> int:
    """12 h, unless the server lets tokens live less: the demo token must work on it."""
    return min(DEMO_TOKEN_TTL_SECONDS, settings.jwt_max_lifetime_seconds)


def _demo_token(settings: Settings) -> str | None:
    if settings.jwt_secret is None:
        return None
    admin = demo.PEOPLE[0]
    return mint_token(settings.jwt_secret, user_id=demo.DEMO_ADMIN, org_id=demo.DEMO_ORG,
                      email=admin["email"], name=admin["name"],
                      ttl_seconds=_demo_token_ttl(settings), issuer=settings.jwt_issuer,
                      audience=settings.jwt_audience, org_claim=settings.jwt_org_claim)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level)
    generated_secret = args.demo and settings.verification is None
    if generated_secret:
        settings = dataclasses.replace(settings, jwt_secret=secrets.token_urlsafe(32))
    if args.demo:
        settings = dataclasses.replace(settings, allow_local_origins=True)
    if settings.workers > 1 and settings.cursor_secret is None and not settings.jwt_secret:
        # Every worker must sign cursors with one key, or a page's cursor fails on the next.
        settings = dataclasses.replace(settings, cursor_secret=secrets.token_urlsafe(32))
    app = create_app(settings)  # fails early, with the fix, when no key is configured
    if args.demo:
        asyncio.run(_load_demo(settings))
    asyncio.run(_check_store_opens(settings))
    sock = _listening_socket(settings.host, settings.port,
                             config.given_as("port", args, os.environ))
    port = sock.getsockname()[1]
    # A wildcard address is not one a browser can open; show the loopback one instead.
    shown_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(  # noqa: S104
        settings.host, settings.host)
    if ":" in shown_host and not shown_host.startswith("["):
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{port}"
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    lines = [f"DevInsights API on {url} ({describe_store(settings)}{workers})",
             f"GraphiQL: {url}/graphql"]
    if args.demo:
        lines.append(f"CORS: this demo run also allows local frontends "
                     f"({config.LOCAL_ORIGINS_SHOWN}); allow other origins with "
                     "DEVINSIGHTS_CORS_ORIGINS or --cors-origins.")
        token = _demo_token(settings)
        lines.append(f"Demo organization {demo.DEMO_ORG} is loaded; its admin is "
                     f"{demo.PEOPLE[0]['name']} ({demo.DEMO_ADMIN}).")
        if token is None:
            lines.append("Tokens are verified with your identity provider's key, so no demo "
                         "token can be printed; use one from your identity provider.")
        else:
            if generated_secret:
                lines.append("No DEVINSIGHTS_JWT_SECRET is set, so this run signs tokens with "
                             "a random secret: tokens stop working when it stops.")
            lines += [f"Admin token (valid {_duration(_demo_token_ttl(settings))}):", token,
                      f"GraphiQL with the token filled in: {url}/graphql#token={token}"]
    print("\n".join(lines), flush=True)
    if settings.workers > 1:
        del app  # each worker builds its own
        return _serve_workers(settings, sock)
    server = uvicorn.Server(uvicorn_config(app, settings))
    # What is alive now (modules, the schema, the app) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise take 13-17 ms and make p99.
    gc.collect()
    gc.freeze()
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        if exc.code != STARTUP_FAILURE:
            raise
        raise CommandError("the app failed to start; the log line before this one says "
                           "why") from None
    return 0


class WorkerConfig(uvicorn.Config):
    """What uvicorn's supervisor hands each worker: pickled, it is the settings alone, and
    unpickled in the (spawned) worker it becomes that worker's config with its own app."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("server:create_app", workers=settings.workers, log_config=None)
        self.settings = settings

    def __reduce__(self) -> tuple[Callable[[Settings], uvicorn.Config], tuple[Settings]]:
        return _worker_config, (self.settings,)


def _worker_config(settings: Settings) -> uvicorn.Config:
    configure_logging(settings.log_level)
    config = uvicorn_config(create_app(settings), settings)
    gc.collect()
    gc.freeze()
    return config


def _serve_workers(settings: Settings, sock: socket.socket) -> int:
    """``settings.workers`` processes on one listening socket, under uvicorn's supervisor
    (it restarts a worker that dies and stops them all on SIGINT or SIGTERM)."""
    from uvicorn.supervisors import Multiprocess

    metrics_dir = None
    if settings.metrics_token:
        from web.metrics import MULTIPROC_ENV  # the parent records nothing itself
        if not os.environ.get(MULTIPROC_ENV):
            # Each worker writes its figures here; whichever answers /metrics sums them.
            # Set before the workers are spawned: prometheus-client reads it when imported.
            metrics_dir = tempfile.mkdtemp(prefix="devinsights-metrics-")
            os.environ[MULTIPROC_ENV] = metrics_dir
    supervisor = Multiprocess(WorkerConfig(settings), sockets=[sock])
    try:
        supervisor.run()
    finally:
        if metrics_dir is not None:
            del os.environ[MULTIPROC_ENV]
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise CommandError("a worker failed to start; the log line before this one says why")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    settings = config.from_env(os.environ)
    if not settings.jwt_secret:
        raise CommandError(
            "no HS256 secret is configured, so there is nothing to sign with. Set "
            "DEVINSIGHTS_JWT_SECRET (at least 32 bytes) to the secret the server uses. With "
            "DEVINSIGHTS_JWT_PUBLIC_KEY or DEVINSIGHTS_JWT_JWKS_URL, tokens come from your "
            "identity provider instead.")
    for flag, value, check in (("--user", args.user, keys.user_index),
                               ("--org", args.org, keys.org_pk)):
        try:
            check(value)
        except keys.InvalidKeyPart as exc:
            raise FlagError(f"{flag} {value!r}: {exc}") from None
    if args.ttl < 1:
        raise FlagError(f"--ttl must be at least 1 second, not {args.ttl}")
    if args.ttl > settings.jwt_max_lifetime_seconds:
        raise FlagError(f"--ttl {args.ttl} is longer than the server accepts: tokens may live "
                        f"at most {settings.jwt_max_lifetime_seconds} seconds "
                        "(DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS)")
    demo_admin = args.user == demo.DEMO_ADMIN and args.org == demo.DEMO_ORG
    email = args.email or (demo.PEOPLE[0]["email"] if demo_admin else None)
    name = args.name or (demo.PEOPLE[0]["name"] if demo_admin else None)
    print(mint_token(settings.jwt_secret, user_id=args.user, org_id=args.org, email=email,
                     name=name, ttl_seconds=args.ttl, issuer=settings.jwt_issuer,
                     audience=settings.jwt_audience, org_claim=settings.jwt_org_claim))
    return 0


def cmd_create_table(args: argparse.Namespace) -> int:
    settings = _settings(args)
    client = make_client(DynamoSettings(table=settings.dynamodb_table,
                                        region=settings.dynamodb_region,
                                        endpoint_url=settings.dynamodb_endpoint_url),
                         attempts=3)
    where = settings.dynamodb_endpoint_url or f"AWS region {settings.dynamodb_region}"
    try:
        for line in create_table(client, settings.dynamodb_table):
            print(line, flush=True)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CommandError(f"DynamoDB at {where} refused: {error.get('Code', 'error')}: "
                           f"{error.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise CommandError(f"could not reach DynamoDB at {where}: {exc}") from None
    finally:
        client.close()
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    settings = _settings(args)
    org = asyncio.run(_load_demo(settings))
    print(f"Loaded demo organization {org} into the {describe_store(settings)}. Its admin is "
          f"{demo.PEOPLE[0]['name']} ({demo.DEMO_ADMIN}); mint a token with "
          f"`devinsights token`.")
    return 0


def cmd_set_plan(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _org_id(args.org)
    if args.max_members is not None and args.max_members < 1:
        raise FlagError(f"--max-members must be at least 1, not {args.max_members}")

    # NotFound and MemberLimitReached: main() prints the message.
    org = _on_store(settings, lambda store: organizations.set_plan(
        store, args.org, args.plan, max_members=args.max_members))
    print(f"{org.org_id} is on the {org.plan} plan with {org.max_members} seats "
          f"({org.current_members} taken) in the {describe_store(settings)}.")
    return 0


DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds of "90", "90s", "30m", "6h" or "1d"."""
    match = DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30m, 6h or 1d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


class ProgressBar:
    """A progress bar on a terminal (stderr); nothing elsewhere, where the summary says it."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = stream.isatty()

    def __call__(self, done: int, total: int | None, label: str) -> None:
        if not self.shown:
            return
        if total is None:  # not known yet: a count
            self.stream.write(f"\r{done} {label[:40]:<40}")
            self.stream.flush()
            return
        filled = self.WIDTH * done // max(total, 1)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} "
                          f"{label[:40]:<40}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def cmd_refresh_analytics(args: argparse.Namespace) -> int:
    settings = _settings(args)
    config = settings.github_config()
    if not config.configured:
        raise CommandError(str(GitHubNotConfigured()))
    for org in args.org or ():
        _org_id(org, "--org")

    async def run() -> Summary:
        from datastore.github_api import GitHubClient
        from datastore.github_refresh import Refresher, refresh_stale

        store = open_store(settings)
        try:
            async with GitHubClient(config) as github:
                refresher = Refresher(store, github,
                                      ttl_seconds=settings.github_data_ttl_seconds)
                orgs = args.org or await store.organization_ids()
                return await refresh_stale(refresher, orgs, within_seconds=args.stale_within,
                                           progress=ProgressBar(sys.stderr))
        finally:
            await store.close()

    summary = asyncio.run(run())
    for failure in summary.failures:
        print(f"failed: {failure}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


def _on_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` with the configured store open, and close it."""
    async def run() -> T:
        store = open_store(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _org_id(value: str, what: str = "ORG") -> str:
    try:
        keys.org_pk(value)
    except keys.InvalidKeyPart as exc:
        raise FlagError(f"{what} {value!r}: {exc}") from None
    return value


def cmd_org_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    org_id = _org_id(args.org)
    output: Path | None = args.output

    def run(write: Callable[[bytes], object]) -> int:
        async def work(store: Store) -> int:
            if await organizations.get(store, org_id, consistent=True) is None:
                raise CommandError(f"no organization {org_id!r} in the "
                                   f"{describe_store(settings)}")
            return await org_moves.export(store, org_id, write, source=settings.store,
                                          progress=ProgressBar(sys.stderr))
        return _on_store(settings, work)

    if output is None:
        count = run(sys.stdout.buffer.write)
        sys.stdout.flush()
    else:
        # Written beside the target and renamed when complete: a cut-short export never
        # takes the target's name. Only its owner may read it: it holds emails.
        partial = output.with_name(output.name + ".partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise FlagError(f"--output {output}: cannot write there ({exc.strerror})") from None
        try:
            with os.fdopen(fd, "wb") as file:
                count = run(file.write)
            os.replace(partial, output)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        print(f"exported {count} items of {org_id} to {output}", file=sys.stderr)
    return 0


def cmd_org_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path: str = args.file
    try:
        if path == "-":
            parsed = org_moves.parse(sys.stdin.buffer)
        else:
            with open(path, "rb") as file:
                parsed = org_moves.parse(file)
    except OSError as exc:
        raise FlagError(f"FILE {path}: cannot read it ({exc.strerror})") from None

    result = _on_store(settings, lambda store: org_moves.import_file(
        store, parsed, progress=ProgressBar(sys.stderr)))
    where = describe_store(settings)
    if result.already_imported:
        print(f"{result.org_id} is already in the {where} as the file has it; nothing to do")
        return 0
    resumed = f", {result.present} were there already" if result.present else ""
    expired = f", {result.expired} expired since the export" if result.expired else ""
    print(f"imported {result.org_id} into the {where}: {result.written} items written in "
          f"{result.groups} transactions{resumed}{expired}")
    return 0


def cmd_org_delete(args: argparse.Namespace) -> int:
    settings = _settings(args)
    org_id = _org_id(args.org)
    where = describe_store(settings)
    if not args.yes:
        if not sys.stdin.isatty():
            raise FlagError("deleting an organization cannot be undone: pass --yes, or run "
                            "it on a terminal to confirm by typing the organization id")
        typed = input(f"Delete {org_id} and everything in it from the {where}? "
                      "Type its id to confirm: ")
        if typed.strip() != org_id:
            raise CommandError("not confirmed; nothing was deleted")

    result = _on_store(settings, lambda store: org_moves.delete(
        store, org_id, progress=ProgressBar(sys.stderr)))
    if result.deleted == 0:
        print(f"no items of {org_id} in the {where}; nothing to do")
    else:
        print(f"deleted {org_id} from the {where}: {result.deleted} items")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.store != "embedded":
        raise CommandError("backup copies the embedded store's file; a DynamoDB table has "
                           "point-in-time recovery (create-table turns it on) and on-demand "
                           "backups (aws dynamodb create-backup)")
    source = Path(settings.sqlite_path or default_path())
    target: Path = args.path
    if target.is_dir():
        raise FlagError(f"PATH {target} is a folder; give the backup's file name")
    if not target.parent.is_dir():
        raise FlagError(f"PATH {target}: the folder {target.parent} does not exist")
    if target.exists():
        if source.exists() and os.path.samefile(source, target):
            raise FlagError(f"PATH {target} is the store itself; back it up elsewhere")
        if not args.force:
            raise FlagError(f"PATH {target} exists; pass --force to replace it")
    try:
        copy = embedded_backup(source, target)
    except NotAStore as exc:
        raise CommandError(f"cannot back up: {exc}") from None
    except (OSError, sqlite3.Error) as exc:
        raise CommandError(f"the backup of {source} to {target} failed ({exc}); {target} is "
                           "unchanged") from None
    print(f"backed up the {describe_store(settings)} to {target}: {copy.items} items, "
          f"{copy.bytes} bytes")
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    schema = build_schema()
    path: Path = args.path or SCHEMA_FILE
    printed = print_schema(schema) + "\n"
    # possibleTypes.json goes beside schema.graphql: what a client copies, it finds together.
    files = {path: printed, path.with_name(POSSIBLE_TYPES_NAME): possible_types_json(schema)}
    if args.check:
        stale = [str(p) for p, text in files.items() if _committed(p) != text]
        if stale:
            print(f"{' and '.join(stale)} {'is' if len(stale) == 1 else 'are'} out of date "
                  "with the code; run `devinsights export-schema --write` and commit the "
                  "result", file=sys.stderr)
            return 1
        print(f"{' and '.join(map(str, files))} are up to date")
        return 0
    if args.write:
        for target, text in files.items():
            _write(target, text, path_given=args.path is not None)
            print(f"wrote {target}")
        return 0
    sys.stdout.write(printed)
    return 0


def _committed(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise CommandError(f"cannot read {path} ({exc.strerror})") from None


def _write(path: Path, text: str, *, path_given: bool) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        if not path.parent.is_dir():
            if path_given:
                raise FlagError(f"--path {path}: the folder {path.parent} does not exist; "
                                "create it, or pass a --path in an existing folder") from None
            raise CommandError(f"cannot write {path}: the folder {path.parent} does not "
                               "exist; pass --path to write elsewhere") from None
        raise CommandError(f"cannot write {path} ({exc.strerror}); pass --path to write "
                           "elsewhere") from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="devinsights",
        description="DevInsights API: a multi-tenant GraphQL API over one DynamoDB table, "
                    "with an embedded SQLite store by default.",
        epilog="Every setting can also come from its DEVINSIGHTS_* environment variable; "
               "run `devinsights COMMAND --help` for a command's flags.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], summary: str,
                flags: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        config.add_flags(sub, flags)
        sub.set_defaults(run=run)
        return sub

    store_flags = ("store", "sqlite_path", "dynamodb_table", "dynamodb_region",
                   "dynamodb_endpoint_url")
    serve = command("serve", cmd_serve, "Serve the API (GraphQL, WebSocket, GraphiQL) with "
                    "uvicorn until interrupted.",
                    (*store_flags, "host", "port", "workers", "cors_origins", "log_level"))
    serve.add_argument("--demo", action="store_true",
                       help="load the demo organization (idempotent) and print the GraphiQL "
                            "URL and an admin token; without DEVINSIGHTS_JWT_SECRET a random "
                            "secret is used for this run")
    command("create-table", cmd_create_table, "Create the DynamoDB table with its indexes, "
            "stream, TTL and point-in-time recovery; safe to run again.",
            ("dynamodb_table", "dynamodb_region", "dynamodb_endpoint_url"))
    command("demo-data", cmd_demo_data, "Load the demo organization org-xyz-789 into the "
            "configured store; safe to run again.", store_flags)
    token = command("token", cmd_token, "Print a development token (HS256, signed with "
                    "DEVINSIGHTS_JWT_SECRET) for a user of an organization.")
    token.add_argument("--user", default=demo.DEMO_ADMIN,
                       help=f"user id, the token's sub (default {demo.DEMO_ADMIN})")
    token.add_argument("--org", default=demo.DEMO_ORG,
                       help=f"organization id (default {demo.DEMO_ORG})")
    token.add_argument("--email", help="email claim (default: the demo admin's, for her)")
    token.add_argument("--name", help="name claim (default: the demo admin's, for her)")
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS",
                       help="lifetime in seconds (default 3600)")
    plan = command("set-plan", cmd_set_plan, "Put an organization on a plan (the operator's "
                   "decision: the API creates every organization on DEVINSIGHTS_DEFAULT_PLAN).",
                   store_flags)
    plan.add_argument("org", metavar="ORG", help="organization id")
    plan.add_argument("plan", metavar="PLAN", choices=organizations.PLANS,
                      help=f"one of {', '.join(organizations.PLANS)}")
    plan.add_argument("--max-members", type=int, metavar="N",
                      help="seats (default: the plan's: "
                           + ", ".join(f"{p} {n}" for p, n in
                                       organizations.DEFAULT_MAX_MEMBERS.items()) + ")")
    refresh = command("refresh-analytics", cmd_refresh_analytics, "Fetch from GitHub the "
                      "analytics of every member with a GitHub username whose cached data "
                      "is missing or expires soon, and store them; needs "
                      "DEVINSIGHTS_GITHUB_TOKEN or a GitHub App. Exits 1 when any failed.",
                      store_flags)
    refresh.add_argument("--org", action="append", metavar="ORG",
                         help="only this organization (repeat for more; default every "
                              "organization, which on DynamoDB scans the table)")
    refresh.add_argument("--stale-within", type=parse_duration, default=6 * 3600.0,
                         metavar="DURATION",
                         help="refresh what expires within this (30m, 6h, 1d; default 6h; "
                              "0: only what is missing or expired)")
    org = commands.add_parser("org", help="Export an organization to a file, import one "
                              "(into this or the other backend), or delete one.",
                              description="Move an organization between stores: export "
                              "writes it as JSON Lines, import loads such a file into a store "
                              "that does not have it yet (resumable), delete removes it.")
    org_commands = org.add_subparsers(dest="org_command", required=True, metavar="ACTION")

    def org_command(name: str, run: Callable[[argparse.Namespace], int], summary: str
                    ) -> argparse.ArgumentParser:
        sub = org_commands.add_parser(name, help=summary, description=summary)
        config.add_flags(sub, store_flags)
        sub.set_defaults(run=run)
        return sub

    org_export = org_command("export", cmd_org_export, "Write every item of an organization "
                             "as JSON Lines (a header, one item per line, an end line), with "
                             "a progress line on a terminal.")
    org_export.add_argument("org", metavar="ORG", help="organization id")
    org_export.add_argument("--output", "-o", type=Path, metavar="FILE",
                            help="write to FILE (created readable by you only, complete or "
                                 "not at all; default standard output)")
    org_import = org_command("import", cmd_org_import, "Load an export into the configured "
                             "store, where the organization must not exist yet; run again "
                             "after an interruption to finish.")
    org_import.add_argument("file", metavar="FILE", help="an export file, or - for standard "
                                                         "input")
    org_delete = org_command("delete", cmd_org_delete, "Delete an organization and every item "
                             "of it; run again after an interruption to finish.")
    org_delete.add_argument("org", metavar="ORG", help="organization id")
    org_delete.add_argument("--yes", action="store_true",
                            help="do not ask to confirm (needed when not on a terminal)")
    backup = command("backup", cmd_backup, "Copy the embedded store to a file with SQLite's "
                     "online backup API: a consistent snapshot while servers write.",
                     ("store", "sqlite_path"))
    backup.add_argument("path", metavar="PATH", type=Path, help="the backup's file")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    export = command("export-schema", cmd_export_schema, "Print the GraphQL schema (SDL), "
                     f"write it to schema/schema.graphql with schema/{POSSIBLE_TYPES_NAME} "
                     "(Apollo Client's possibleTypes) beside it, or check both are current.")
    mode = export.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true",
                      help=f"write {SCHEMA_FILE.name} and {POSSIBLE_TYPES_NAME}")
    mode.add_argument("--check", action="store_true",
                      help=f"exit 1 when the committed {SCHEMA_FILE.name} or "
                           f"{POSSIBLE_TYPES_NAME} differs")
    export.add_argument("--path", type=Path, default=None,
                        help="the schema file --write and --check use, with "
                             f"{POSSIBLE_TYPES_NAME} in its folder (default: the committed "
                             "schema/schema.graphql)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = " ".join(filter(None, (args.command, getattr(args, "org_command", None))))
    try:
        code: int = args.run(args)
    except SettingsError as exc:
        print(f"devinsights {name}: {config.explain(exc, args)}", file=sys.stderr)
        return 2
    except (CommandError, StoreError) as exc:
        print(f"devinsights {name}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, FlagError) else 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
