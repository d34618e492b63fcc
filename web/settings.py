"""Settings from environment variables (``DEVINSIGHTS_*``) and command-line flags.

Every setting is declared once in ``OPTIONS``: its environment variable, its flag (if it has
one) and its help text. The README's configuration table is checked against this list.
Secrets have no flag on purpose: a process's argv is visible to every user of the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from botocore.exceptions import InvalidRegionError
from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url, validate_region_name
from strawberry.http.websocket_origin import normalize_origin

from datastore.github_settings import GitHubConfig
from datastore.organizations import PLANS

log = logging.getLogger("devinsights.settings")

StoreBackend = Literal["embedded", "dynamodb"]
EventSource = Literal["auto", "process", "table"]
EVENT_SOURCES = ("auto", "process", "table")
MIN_SECRET_BYTES = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The pages a developer serves on this machine (Vite, webpack, Next), on any port: what
# `serve --demo` allows besides DEVINSIGHTS_CORS_ORIGINS. Matched against the whole origin.
LOCAL_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"
LOCAL_ORIGINS_SHOWN = "http://localhost:*, http://127.0.0.1:*"


class SettingsError(ValueError):
    """A setting has a value the server cannot run with; the message names the setting.

    When the error is about one setting, ``message`` says ``{name}`` where its name goes:
    its variable by default, or the flag the value came from (``named``), so the person
    reading it is pointed at what they typed.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        self.setting = setting
        self.template = message
        super().__init__(self.named(BY_NAME[setting].env) if setting else message)

    def named(self, name: str) -> str:
        return self.template.replace("{name}", name)


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """The browser origins allowed to call the API, over HTTP (CORS) and WebSocket alike."""

    origins: tuple[str, ...] = ()
    origin_regex: str | None = None  # Starlette's allow_origin_regex: a whole-origin match

    def allows(self, origin: str) -> bool:
        normalized = normalize_origin(origin)
        if normalized is None:
            return "*" in self.origins
        return ("*" in self.origins or normalized in self.origins
                or (self.origin_regex is not None
                    and re.fullmatch(self.origin_regex, normalized) is not None))


@dataclass(frozen=True, slots=True)
class Settings:
    store: StoreBackend = "embedded"
    sqlite_path: str | None = None
    dynamodb_table: str = "organizations"
    dynamodb_region: str = "us-east-1"
    dynamodb_endpoint_url: str | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = field(default=None, repr=False)
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_org_claim: str = "org"
    jwt_leeway_seconds: int = 30
    jwt_max_lifetime_seconds: int = 24 * 3600
    jwks_refresh_seconds: float = 30.0
    jwks_timeout_seconds: float = 5.0
    cursor_secret: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    otlp_endpoint: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1024 * 1024
    max_headers: int = 100
    max_header_bytes: int = 32 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 15.0
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_batch: int = 10
    max_variable_values: int = 10_000
    max_variable_depth: int = 16
    introspection: bool = True
    api_quota: bool = True
    quota_flush_calls: int = 1000
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    shutdown_timeout_seconds: float = 10.0
    ws_init_timeout_seconds: float = 10.0
    subscription_recheck_seconds: float = 30.0
    workers: int = 1
    events: EventSource = "auto"
    events_poll_seconds: float = 0.0
    default_plan: str = "free"
    analytics_min_group_size: int = 3
    github_token: str | None = field(default=None, repr=False)
    github_app_id: str | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    github_app_installation_id: str | None = None
    github_api_url: str = "https://api.github.com"
    github_timeout_seconds: float = 10.0
    github_max_calls_per_person: int = 60
    github_concurrency: int = 4
    github_data_ttl_seconds: int = 24 * 3600
    github_refresh_seconds: float = 0.0
    # Not an option: `serve --demo` turns it on, so a local frontend works out of the box.
    allow_local_origins: bool = False

    def __post_init__(self) -> None:
        _check(self)

    @property
    def verification(self) -> Literal["hs256", "public_key", "jwks"] | None:
        """Which kind of key verifies tokens, or None when none is configured."""
        if self.jwt_jwks_url:
            return "jwks"
        if self.jwt_public_key:
            return "public_key"
        if self.jwt_secret:
            return "hs256"
        return None

    def cursor_key(self) -> bytes:
        """The key that signs pagination cursors, stable for as long as its source is."""
        if self.cursor_secret:
            return self.cursor_secret.encode()
        if self.jwt_secret:
            return hmac.new(self.jwt_secret.encode(), b"devinsights cursor key v1",
                            hashlib.sha256).digest()
        return _process_cursor_key()

    def github_config(self) -> GitHubConfig:
        return GitHubConfig(
            api_url=self.github_api_url, token=self.github_token, app_id=self.github_app_id,
            app_private_key=self.github_app_private_key,
            app_installation_id=self.github_app_installation_id,
            timeout_seconds=self.github_timeout_seconds,
            max_calls_per_person=self.github_max_calls_per_person,
            concurrency=self.github_concurrency)

    @property
    def event_source(self) -> Literal["process", "table"]:
        """Where subscriptions get their events: this process's own writes, or what every
        process wrote, read back from the store (the table's stream, the activity log)."""
        if self.events == "auto":
            return "table" if self.workers > 1 else "process"
        return self.events

    @property
    def cors(self) -> CorsPolicy:
        return CorsPolicy(self.cors_origins,
                          LOCAL_ORIGINS if self.allow_local_origins else None)


@functools.cache
def _process_cursor_key() -> bytes:
    log.warning("neither DEVINSIGHTS_CURSOR_SECRET nor DEVINSIGHTS_JWT_SECRET is set: "
                "pagination cursors are signed with a random key and stop working when "
                "this process restarts or on another process")
    return secrets.token_bytes(32)


def _check(s: Settings) -> None:
    if s.store not in ("embedded", "dynamodb"):
        raise SettingsError(f"{{name}} must be 'embedded' or 'dynamodb', not {s.store!r}",
                            setting="store")
    try:
        validate_region_name(s.dynamodb_region)
    except InvalidRegionError:
        raise SettingsError(f"{{name}} must be an AWS region such as us-east-1, not "
                            f"{s.dynamodb_region!r}", setting="dynamodb_region") from None
    if s.dynamodb_endpoint_url is not None and not _is_endpoint(s.dynamodb_endpoint_url):
        raise SettingsError(f"{{name}} must be an http(s) URL such as http://localhost:8001, "
                            f"not {s.dynamodb_endpoint_url!r}", setting="dynamodb_endpoint_url")
    keys = [name for name, value in (("DEVINSIGHTS_JWT_SECRET", s.jwt_secret),
                                     ("DEVINSIGHTS_JWT_PUBLIC_KEY", s.jwt_public_key),
                                     ("DEVINSIGHTS_JWT_JWKS_URL", s.jwt_jwks_url)) if value]
    if len(keys) > 1:
        raise SettingsError(f"set only one way to verify tokens, not {' and '.join(keys)}")
    for name, value in (("DEVINSIGHTS_JWT_SECRET", s.jwt_secret),
                        ("DEVINSIGHTS_CURSOR_SECRET", s.cursor_secret),
                        ("DEVINSIGHTS_METRICS_TOKEN", s.metrics_token)):
        if value is not None and len(value.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"{name} must be at least {MIN_SECRET_BYTES} bytes; generate "
                                "one with: python -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))'")
    if s.otlp_endpoint is not None and urlsplit(s.otlp_endpoint).scheme not in ("http",
                                                                                "https"):
        raise SettingsError(f"{{name}} must be an http(s) URL such as "
                            f"http://localhost:4318/v1/traces, not {s.otlp_endpoint!r}",
                            setting="otlp_endpoint")
    if s.metrics_token is not None and s.metrics_token in (s.jwt_secret, s.cursor_secret):
        raise SettingsError("DEVINSIGHTS_METRICS_TOKEN must differ from the JWT and cursor "
                            "secrets: the scraper's token must open nothing else")
    if s.jwt_jwks_url and not s.jwt_jwks_url.startswith(("https://", "http://")):
        raise SettingsError("DEVINSIGHTS_JWT_JWKS_URL must be an http(s) URL")
    _check_github(s)
    for timeout in ("jwks_timeout_seconds", "header_timeout_seconds", "body_timeout_seconds",
                    "github_timeout_seconds"):
        if not getattr(s, timeout) > 0:
            raise SettingsError("{name} must be more than 0", setting=timeout)
    if not s.jwt_org_claim:
        raise SettingsError("DEVINSIGHTS_JWT_ORG_CLAIM must not be empty")
    for origin in s.cors_origins:
        if origin != "*" and normalize_origin(origin) != origin.rstrip("/"):
            raise SettingsError(f"{{name}}: {origin!r} is not an origin like "
                                "https://app.example.com (scheme, host, optional port)",
                                setting="cors_origins")
    for name, number in (("DEVINSIGHTS_MAX_BODY_BYTES", s.max_body_bytes),
                         ("DEVINSIGHTS_MAX_HEADERS", s.max_headers),
                         ("DEVINSIGHTS_MAX_HEADER_BYTES", s.max_header_bytes),
                         ("DEVINSIGHTS_MAX_DEPTH", s.max_depth),
                         ("DEVINSIGHTS_MAX_ALIASES", s.max_aliases),
                         ("DEVINSIGHTS_MAX_TOKENS", s.max_tokens),
                         ("DEVINSIGHTS_MAX_BATCH", s.max_batch),
                         ("DEVINSIGHTS_MAX_VARIABLE_VALUES", s.max_variable_values),
                         ("DEVINSIGHTS_MAX_VARIABLE_DEPTH", s.max_variable_depth),
                         ("DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS", s.jwt_max_lifetime_seconds),
                         ("DEVINSIGHTS_QUOTA_FLUSH_CALLS", s.quota_flush_calls),
                         ("DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE", s.analytics_min_group_size),
                         ("DEVINSIGHTS_GITHUB_MAX_CALLS_PER_PERSON",
                          s.github_max_calls_per_person),
                         ("DEVINSIGHTS_GITHUB_CONCURRENCY", s.github_concurrency),
                         ("DEVINSIGHTS_GITHUB_DATA_TTL_SECONDS", s.github_data_ttl_seconds)):
        if number < 1:
            raise SettingsError(f"{name} must be at least 1")
    if s.default_plan not in PLANS:
        raise SettingsError(f"{{name}} must be one of {', '.join(PLANS)}, not "
                            f"{s.default_plan!r}", setting="default_plan")
    _check_processes(s)
    if not s.subscription_recheck_seconds > 0:
        raise SettingsError("{name} must be more than 0", setting="subscription_recheck_seconds")
    if s.jwt_leeway_seconds < 0 or s.jwks_refresh_seconds < 0:
        raise SettingsError("JWT leeway and JWKS refresh interval must not be negative")
    if s.log_level not in LOG_LEVELS:
        raise SettingsError(f"{{name}} must be one of {', '.join(LOG_LEVELS)}, not "
                            f"{s.log_level!r}", setting="log_level")
    if not s.host.strip():
        raise SettingsError("{name} must not be empty; use 127.0.0.1, or 0.0.0.0 for every "
                            "interface", setting="host")
    if not 0 <= s.port <= 65535:
        raise SettingsError(f"{{name}} must be between 0 and 65535 (0 picks a free port), not "
                            f"{s.port}", setting="port")


def _check_processes(s: Settings) -> None:
    if s.workers < 1:
        raise SettingsError(f"{{name}} must be at least 1, not {s.workers}", setting="workers")
    if s.events not in EVENT_SOURCES:
        raise SettingsError(f"{{name}} must be one of {', '.join(EVENT_SOURCES)}, not "
                            f"{s.events!r}", setting="events")
    if s.events == "process" and s.workers > 1:
        raise SettingsError(f"DEVINSIGHTS_EVENTS=process cannot serve {s.workers} workers: a "
                            "subscriber on one worker would miss what the others write; use "
                            "table (or auto)")
    if s.events_poll_seconds < 0:
        raise SettingsError("{name} must not be negative (0: the store's default)",
                            setting="events_poll_seconds")


def _check_github(s: Settings) -> None:
    app = {"DEVINSIGHTS_GITHUB_APP_ID": s.github_app_id,
           "DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY": s.github_app_private_key,
           "DEVINSIGHTS_GITHUB_APP_INSTALLATION_ID": s.github_app_installation_id}
    given = [name for name, value in app.items() if value]
    if given and len(given) < len(app):
        missing = [name for name in app if name not in given]
        raise SettingsError(f"a GitHub App needs {', '.join(app)}; {', '.join(missing)} "
                            "is not set")
    if given and s.github_token:
        raise SettingsError("set either DEVINSIGHTS_GITHUB_TOKEN or a GitHub App "
                            "(DEVINSIGHTS_GITHUB_APP_*), not both")
    if not _is_endpoint(s.github_api_url):
        raise SettingsError(f"{{name}} must be an http(s) URL such as https://api.github.com "
                            "(GitHub Enterprise Server: https://HOST/api/v3), not "
                            f"{s.github_api_url!r}", setting="github_api_url")
    if s.github_refresh_seconds < 0:
        raise SettingsError("{name} must not be negative (0 turns the scheduler off)",
                            setting="github_refresh_seconds")


def _is_endpoint(url: str) -> bool:
    # botocore's own test, which raises a bare ValueError deep in client creation otherwise.
    return (urlsplit(url).scheme in ("http", "https")
            and (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)))


# Parsing


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())


def _level(text: str) -> str:
    return text.strip().upper()


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    env: str
    help: str
    parse: Callable[[str], Any] = str
    flag: str | None = None
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option("store", "DEVINSIGHTS_STORE", "storage backend: embedded (SQLite file) or dynamodb",
           flag="--store", metavar="{embedded,dynamodb}"),
    Option("sqlite_path", "DEVINSIGHTS_SQLITE_PATH",
           "SQLite file of the embedded store (default "
           "$XDG_DATA_HOME/devinsights/devinsights.sqlite3)", flag="--sqlite-path"),
    Option("dynamodb_table", "DEVINSIGHTS_DYNAMODB_TABLE", "DynamoDB table name",
           flag="--table"),
    Option("dynamodb_region", "DEVINSIGHTS_DYNAMODB_REGION", "AWS region of the table",
           flag="--region"),
    Option("dynamodb_endpoint_url", "DEVINSIGHTS_DYNAMODB_ENDPOINT_URL",
           "DynamoDB endpoint, for DynamoDB Local or moto (default: AWS)",
           flag="--endpoint-url"),
    Option("jwt_secret", "DEVINSIGHTS_JWT_SECRET",
           "HS256 secret (development; at least 32 bytes); enables `devinsights token`"),
    Option("jwt_public_key", "DEVINSIGHTS_JWT_PUBLIC_KEY",
           "PEM public key (RSA -> RS256, EC P-256 -> ES256), or a path to a PEM file"),
    Option("jwt_jwks_url", "DEVINSIGHTS_JWT_JWKS_URL",
           "JWKS URL of your identity provider; keys are picked by `kid` (RS256/ES256)"),
    Option("jwt_issuer", "DEVINSIGHTS_JWT_ISSUER", "required `iss` of tokens (unchecked if unset)"),
    Option("jwt_audience", "DEVINSIGHTS_JWT_AUDIENCE",
           "required `aud` of tokens (unchecked if unset)"),
    Option("jwt_org_claim", "DEVINSIGHTS_JWT_ORG_CLAIM",
           "claim that carries the organization id (default org)"),
    Option("jwt_leeway_seconds", "DEVINSIGHTS_JWT_LEEWAY_SECONDS",
           "clock skew allowed on exp/nbf/iat (default 30)", parse=int),
    Option("jwt_max_lifetime_seconds", "DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS",
           "furthest a token's exp may be in the future; tokens that live longer are refused "
           "(default 86400, 24 h)", parse=int),
    Option("jwks_refresh_seconds", "DEVINSIGHTS_JWKS_REFRESH_SECONDS",
           "longest the JWKS keys are used once fetched, so a key removed from the JWKS stops "
           "verifying within it; refetched in the background after half of it (default 30)",
           parse=float),
    Option("jwks_timeout_seconds", "DEVINSIGHTS_JWKS_TIMEOUT_SECONDS",
           "longest one JWKS fetch may take before it counts as failed (default 5)",
           parse=float),
    Option("cursor_secret", "DEVINSIGHTS_CURSOR_SECRET",
           "key that signs pagination cursors (default: derived from the JWT secret)"),
    Option("metrics_token", "DEVINSIGHTS_METRICS_TOKEN",
           "bearer token of the Prometheus scraper; turns GET /metrics on (default off)"),
    Option("otlp_endpoint", "DEVINSIGHTS_OTLP_ENDPOINT",
           "OTLP/HTTP traces URL (such as http://localhost:4318/v1/traces); turns tracing "
           "on (needs the tracing extra; default off)"),
    Option("cors_origins", "DEVINSIGHTS_CORS_ORIGINS",
           "comma-separated browser origins allowed to call the API (default none)",
           parse=_origins, flag="--cors-origins"),
    Option("max_body_bytes", "DEVINSIGHTS_MAX_BODY_BYTES",
           "largest request body accepted (default 1048576)", parse=int),
    Option("max_headers", "DEVINSIGHTS_MAX_HEADERS",
           "most header fields in one request (default 100); more is a 431", parse=int),
    Option("max_header_bytes", "DEVINSIGHTS_MAX_HEADER_BYTES",
           "largest header section of one request, names and values (default 32768); "
           "larger is a 431", parse=int),
    Option("header_timeout_seconds", "DEVINSIGHTS_HEADER_TIMEOUT_SECONDS",
           "longest a connection may take to send a request's headers (default 10)",
           parse=float),
    Option("body_timeout_seconds", "DEVINSIGHTS_BODY_TIMEOUT_SECONDS",
           "longest a request body may take to arrive (default 15); slower is a 408",
           parse=float),
    Option("max_depth", "DEVINSIGHTS_MAX_DEPTH", "deepest query accepted (default 12)",
           parse=int),
    Option("max_aliases", "DEVINSIGHTS_MAX_ALIASES", "most aliases in one query (default 30)",
           parse=int),
    Option("max_tokens", "DEVINSIGHTS_MAX_TOKENS",
           "most lexical tokens in one query (default 2000)", parse=int),
    Option("max_batch", "DEVINSIGHTS_MAX_BATCH",
           "most operations in one batched POST (default 10)", parse=int),
    Option("max_variable_values", "DEVINSIGHTS_MAX_VARIABLE_VALUES",
           "most JSON values (lists, objects and what they hold) in one operation's variables "
           "(default 10000)", parse=int),
    Option("max_variable_depth", "DEVINSIGHTS_MAX_VARIABLE_DEPTH",
           "deepest nesting of lists and objects in one operation's variables (default 16)",
           parse=int),
    Option("introspection", "DEVINSIGHTS_INTROSPECTION",
           "allow schema introspection: true or false (default true)", parse=_bool),
    Option("api_quota", "DEVINSIGHTS_API_QUOTA",
           "count API calls per organization and refuse them over usage.apiCalls.limit "
           "(default true)", parse=_bool),
    Option("quota_flush_calls", "DEVINSIGHTS_QUOTA_FLUSH_CALLS",
           "requests a process counts locally before adding them to the store (default "
           "1000; also flushed every second)", parse=int),
    Option("log_level", "DEVINSIGHTS_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR (default INFO)",
           parse=_level, flag="--log-level"),
    Option("host", "DEVINSIGHTS_HOST", "interface to listen on (default 127.0.0.1)",
           flag="--host"),
    Option("port", "DEVINSIGHTS_PORT", "port to listen on; 0 picks a free one (default 8000)",
           parse=int, flag="--port"),
    Option("shutdown_timeout_seconds", "DEVINSIGHTS_SHUTDOWN_TIMEOUT_SECONDS",
           "how long open requests may finish on shutdown (default 10)", parse=float),
    Option("ws_init_timeout_seconds", "DEVINSIGHTS_WS_INIT_TIMEOUT_SECONDS",
           "how long a WebSocket may wait before connection_init (default 10)", parse=float),
    Option("subscription_recheck_seconds", "DEVINSIGHTS_SUBSCRIPTION_RECHECK_SECONDS",
           "longest an open subscription goes without re-reading its subscriber's membership "
           "(default 30)", parse=float),
    Option("workers", "DEVINSIGHTS_WORKERS",
           "server processes `serve` starts on the one port (default 1); more than 1 reads "
           "subscriptions' events from the store (DEVINSIGHTS_EVENTS)", parse=int,
           flag="--workers", metavar="N"),
    Option("events", "DEVINSIGHTS_EVENTS",
           "where subscriptions get events: process (this process's writes), table (every "
           "process's: the DynamoDB table's stream, or the embedded store's activity log) or "
           "auto (table with more than one worker; default)"),
    Option("events_poll_seconds", "DEVINSIGHTS_EVENTS_POLL_SECONDS",
           "how often each process reads new events in table mode (default 0: 1 s on "
           "DynamoDB, 0.1 s embedded)", parse=float),
    Option("default_plan", "DEVINSIGHTS_DEFAULT_PLAN",
           "plan of every organization created through the API: free, pro or enterprise "
           "(default free); `devinsights set-plan` changes one organization's"),
    Option("analytics_min_group_size", "DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE",
           "fewest analyzed people whose averages, totals and counts viewers (and members "
           "who may not see others) get; below it they are null (default 3; 1 turns it off)",
           parse=int),
    Option("github_token", "DEVINSIGHTS_GITHUB_TOKEN",
           "GitHub token the analytics are fetched with (read-only is enough; or use a "
           "GitHub App below)"),
    Option("github_app_id", "DEVINSIGHTS_GITHUB_APP_ID",
           "GitHub App id, with its private key and installation id: the analytics are "
           "fetched with the installation's token, renewed before it expires"),
    Option("github_app_private_key", "DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY",
           "the GitHub App's PEM private key, or a path to its PEM file"),
    Option("github_app_installation_id", "DEVINSIGHTS_GITHUB_APP_INSTALLATION_ID",
           "the GitHub App's installation to act as"),
    Option("github_api_url", "DEVINSIGHTS_GITHUB_API_URL",
           "GitHub's REST API (default https://api.github.com; GitHub Enterprise Server: "
           "https://HOST/api/v3)"),
    Option("github_timeout_seconds", "DEVINSIGHTS_GITHUB_TIMEOUT_SECONDS",
           "longest one GitHub request may take (default 10)", parse=float),
    Option("github_max_calls_per_person", "DEVINSIGHTS_GITHUB_MAX_CALLS_PER_PERSON",
           "most GitHub requests one person's refresh makes; what does not fit is left out "
           "(default 60)", parse=int),
    Option("github_concurrency", "DEVINSIGHTS_GITHUB_CONCURRENCY",
           "most GitHub requests in flight at once, over every refresh (default 4)",
           parse=int),
    Option("github_data_ttl_seconds", "DEVINSIGHTS_GITHUB_DATA_TTL_SECONDS",
           "how long fetched GitHub analytics are kept (default 86400, 24 h)", parse=int),
    Option("github_refresh_seconds", "DEVINSIGHTS_GITHUB_REFRESH_SECONDS",
           "run the analytics scheduler inside `serve` this often: it refreshes what "
           "expires within twice this (default 0: off)", parse=float),
)
BY_NAME = {o.name: o for o in OPTIONS}
EXPECTED: dict[Callable[[str], Any], str] = {int: "a whole number", float: "a number",
                                             _bool: "true or false"}


def from_env(environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Settings from the environment, then ``overrides`` (None means "not given")."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = environ.get(option.env)
        if raw is None or raw == "":
            continue
        try:
            values[option.name] = option.parse(raw)
        except ValueError:
            expected = EXPECTED.get(option.parse, "a valid value")
            raise SettingsError(f"{option.env} must be {expected}, not {raw!r}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("jwt_public_key", "github_app_private_key"):
        key = values.get(name)
        if isinstance(key, str) and not key.lstrip().startswith("-----BEGIN"):
            values[name] = _read_key_file(key, BY_NAME[name].env)
    try:
        return Settings(**values)
    except TypeError as exc:
        raise SettingsError(str(exc)) from None


def _read_key_file(path: str, env: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise SettingsError(f"{env} is neither a PEM key nor a readable file "
                            f"({exc.strerror})") from None


def add_flags(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add the flags of the named settings; an absent flag leaves the environment's value."""
    for name in names:
        option = BY_NAME[name]
        assert option.flag is not None, f"{name} has no flag"
        parser.add_argument(option.flag, dest=name, type=option.parse, default=None,
                            metavar=option.metavar,
                            help=f"{option.help} [env {option.env}]")


def from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    given = {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)}
    return from_env(environ, **given)


def _flag_given(name: str, args: argparse.Namespace) -> str | None:
    flag = BY_NAME[name].flag
    return flag if flag is not None and getattr(args, name, None) is not None else None


def given_as(name: str, args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """How the person set ``name``: the flag they passed, else the variable they set, else
    both, as the two ways to set it."""
    option = BY_NAME[name]
    flag = _flag_given(name, args)
    if flag is not None:
        return flag
    if environ.get(option.env) or option.flag is None:
        return option.env
    return f"{option.flag} or {option.env}"


def explain(error: SettingsError, args: argparse.Namespace) -> str:
    """The error naming the flag when the value came from one, else the variable."""
    flag = _flag_given(error.setting, args) if error.setting is not None else None
    return error.named(flag) if flag is not None else str(error)


def with_changes(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)
