"""Settings from the environment and flags: parsed once, checked with messages that say how."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from web import settings as config
from web.settings import OPTIONS, Settings, SettingsError, from_env

SECRET = "a-development-secret-of-enough-length-0123"


def test_the_defaults_serve_the_embedded_store_on_loopback() -> None:
    s = from_env({})

    assert (s.store, s.host, s.port) == ("embedded", "127.0.0.1", 8000)
    assert s.max_body_bytes == 1024 * 1024
    assert (s.max_depth, s.max_aliases, s.max_tokens) == (12, 30, 2000)
    assert s.introspection is True
    assert s.jwt_org_claim == "org"
    assert s.verification is None


def test_every_setting_is_read_from_its_environment_variable() -> None:
    s = from_env({
        "DEVINSIGHTS_STORE": "dynamodb", "DEVINSIGHTS_DYNAMODB_TABLE": "t",
        "DEVINSIGHTS_DYNAMODB_REGION": "eu-west-1",
        "DEVINSIGHTS_DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8001",
        "DEVINSIGHTS_JWT_SECRET": SECRET, "DEVINSIGHTS_JWT_ISSUER": "https://id.test",
        "DEVINSIGHTS_JWT_AUDIENCE": "api", "DEVINSIGHTS_JWT_ORG_CLAIM": "https://x/org",
        "DEVINSIGHTS_JWT_LEEWAY_SECONDS": "5",
        "DEVINSIGHTS_CORS_ORIGINS": "https://a.test, http://localhost:3000",
        "DEVINSIGHTS_MAX_BODY_BYTES": "2048", "DEVINSIGHTS_INTROSPECTION": "false",
        "DEVINSIGHTS_LOG_LEVEL": "debug", "DEVINSIGHTS_PORT": "0",
    })

    assert (s.store, s.dynamodb_table, s.dynamodb_region) == ("dynamodb", "t", "eu-west-1")
    assert s.dynamodb_endpoint_url == "http://127.0.0.1:8001"
    assert (s.jwt_issuer, s.jwt_audience, s.jwt_org_claim) == ("https://id.test", "api",
                                                              "https://x/org")
    assert s.jwt_leeway_seconds == 5
    assert s.cors_origins == ("https://a.test", "http://localhost:3000")
    assert (s.max_body_bytes, s.introspection, s.log_level, s.port) == (2048, False,
                                                                        "DEBUG", 0)
    assert s.verification == "hs256"


def test_a_flag_wins_over_the_environment_and_an_absent_flag_does_not() -> None:
    parser = argparse.ArgumentParser()
    config.add_flags(parser, ["port", "store"])
    args = parser.parse_args(["--port", "9001"])

    s = config.from_args(args, {"DEVINSIGHTS_PORT": "7000", "DEVINSIGHTS_STORE": "dynamodb"})

    assert (s.port, s.store) == (9001, "dynamodb")


def test_secrets_have_no_flag_because_argv_is_public() -> None:
    for option in OPTIONS:
        if "secret" in option.name or option.name in ("jwt_public_key", "metrics_token"):
            assert option.flag is None


def test_secrets_are_left_out_of_the_repr() -> None:
    s = Settings(jwt_secret=SECRET, cursor_secret=SECRET, github_token=SECRET,
                 metrics_token=SECRET + "-metrics")
    app = Settings(github_app_id="1", github_app_private_key=SECRET,
                   github_app_installation_id="2")

    assert SECRET not in repr(s)
    assert "metrics" not in repr(s).replace("metrics_token", "")
    assert SECRET not in repr(s.github_config())
    assert SECRET not in repr(app) + repr(app.github_config())


def test_a_github_app_s_key_is_read_from_its_file(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    s = from_env({"DEVINSIGHTS_GITHUB_APP_ID": "12", "DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY":
                  str(key), "DEVINSIGHTS_GITHUB_APP_INSTALLATION_ID": "34",
                  "DEVINSIGHTS_GITHUB_API_URL": "https://ghe.example/api/v3"})
    config = s.github_config()

    assert config.configured
    assert (config.app_id, config.app_installation_id) == ("12", "34")
    assert config.app_private_key == key.read_text()
    assert config.api_url == "https://ghe.example/api/v3"
    assert not Settings().github_config().configured


@pytest.mark.parametrize(("environ", "says"), [
    ({"DEVINSIGHTS_PORT": "eighty"}, "DEVINSIGHTS_PORT"),
    ({"DEVINSIGHTS_STORE": "postgres"}, "DEVINSIGHTS_STORE"),
    ({"DEVINSIGHTS_JWT_SECRET": "short"}, "at least 32 bytes"),
    ({"DEVINSIGHTS_METRICS_TOKEN": "short"}, "DEVINSIGHTS_METRICS_TOKEN must be at least 32"),
    ({"DEVINSIGHTS_METRICS_TOKEN": "s" * 32, "DEVINSIGHTS_JWT_SECRET": "s" * 32},
     "must differ from the JWT and cursor secrets"),
    ({"DEVINSIGHTS_METRICS_TOKEN": "s" * 32, "DEVINSIGHTS_CURSOR_SECRET": "s" * 32},
     "must differ from the JWT and cursor secrets"),
    ({"DEVINSIGHTS_JWT_SECRET": SECRET, "DEVINSIGHTS_JWT_JWKS_URL": "https://id.test/jwks"},
     "only one way"),
    ({"DEVINSIGHTS_JWT_JWKS_URL": "file:///etc/passwd"}, "http(s) URL"),
    ({"DEVINSIGHTS_CORS_ORIGINS": "https://a.test/path"}, "not an origin"),
    ({"DEVINSIGHTS_MAX_BODY_BYTES": "0"}, "DEVINSIGHTS_MAX_BODY_BYTES"),
    ({"DEVINSIGHTS_INTROSPECTION": "maybe"}, "true or false"),
    ({"DEVINSIGHTS_LOG_LEVEL": "LOUD"}, "DEVINSIGHTS_LOG_LEVEL"),
    ({"DEVINSIGHTS_JWT_PUBLIC_KEY": "/no/such/key.pem"}, "readable file"),
    ({"DEVINSIGHTS_JWKS_TIMEOUT_SECONDS": "0"}, "DEVINSIGHTS_JWKS_TIMEOUT_SECONDS must be more"),
    ({"DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS": "0"}, "DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS"),
    ({"DEVINSIGHTS_MAX_HEADERS": "0"}, "DEVINSIGHTS_MAX_HEADERS must be at least 1"),
    ({"DEVINSIGHTS_MAX_HEADER_BYTES": "-5"}, "DEVINSIGHTS_MAX_HEADER_BYTES"),
    ({"DEVINSIGHTS_HEADER_TIMEOUT_SECONDS": "0"}, "DEVINSIGHTS_HEADER_TIMEOUT_SECONDS"),
    ({"DEVINSIGHTS_BODY_TIMEOUT_SECONDS": "-1"}, "DEVINSIGHTS_BODY_TIMEOUT_SECONDS"),
    ({"DEVINSIGHTS_MAX_VARIABLE_VALUES": "0"}, "DEVINSIGHTS_MAX_VARIABLE_VALUES"),
    ({"DEVINSIGHTS_MAX_VARIABLE_DEPTH": "0"}, "DEVINSIGHTS_MAX_VARIABLE_DEPTH"),
    ({"DEVINSIGHTS_GITHUB_APP_ID": "1"}, "DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY, "
                                         "DEVINSIGHTS_GITHUB_APP_INSTALLATION_ID is not set"),
    ({"DEVINSIGHTS_GITHUB_TOKEN": "t", "DEVINSIGHTS_GITHUB_APP_ID": "1",
      "DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY": "-----BEGIN x",
      "DEVINSIGHTS_GITHUB_APP_INSTALLATION_ID": "2"},
     "either DEVINSIGHTS_GITHUB_TOKEN or a GitHub App"),
    ({"DEVINSIGHTS_GITHUB_API_URL": "api.github.com"}, "DEVINSIGHTS_GITHUB_API_URL must be"),
    ({"DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY": "/no/such.pem"},
     "DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY is neither a PEM key nor a readable file"),
    ({"DEVINSIGHTS_GITHUB_MAX_CALLS_PER_PERSON": "0"}, "DEVINSIGHTS_GITHUB_MAX_CALLS_PER_PERSON"),
    ({"DEVINSIGHTS_GITHUB_TIMEOUT_SECONDS": "0"}, "DEVINSIGHTS_GITHUB_TIMEOUT_SECONDS"),
    ({"DEVINSIGHTS_GITHUB_REFRESH_SECONDS": "-1"}, "DEVINSIGHTS_GITHUB_REFRESH_SECONDS"),
    ({"DEVINSIGHTS_WORKERS": "0"}, "DEVINSIGHTS_WORKERS must be at least 1"),
    ({"DEVINSIGHTS_EVENTS": "redis"}, "DEVINSIGHTS_EVENTS must be one of auto, process, table"),
    ({"DEVINSIGHTS_EVENTS": "process", "DEVINSIGHTS_WORKERS": "2"},
     "would miss what the others write"),
    ({"DEVINSIGHTS_EVENTS_POLL_SECONDS": "-1"}, "DEVINSIGHTS_EVENTS_POLL_SECONDS"),
])
def test_a_bad_setting_is_refused_naming_the_variable(environ: dict[str, str],
                                                     says: str) -> None:
    with pytest.raises(SettingsError, match=says.replace("(", r"\(").replace(")", r"\)")):
        from_env(environ)


def test_the_cursor_key_is_derived_from_the_jwt_secret_and_is_not_the_secret() -> None:
    a = Settings(jwt_secret=SECRET).cursor_key()

    assert a == Settings(jwt_secret=SECRET).cursor_key()
    assert a != SECRET.encode()
    assert len(a) == 32
    assert Settings(jwt_secret=SECRET, cursor_secret="c" * 32).cursor_key() == b"c" * 32


def test_without_any_secret_the_cursor_key_is_random_per_process_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    config._process_cursor_key.cache_clear()
    with caplog.at_level(logging.WARNING, logger="devinsights.settings"):
        first = Settings().cursor_key()
        second = Settings().cursor_key()

    assert first == second
    warnings = [r for r in caplog.records if "random key" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize(("environ", "source"), [
    ({}, "process"),
    ({"DEVINSIGHTS_WORKERS": "2"}, "table"),
    ({"DEVINSIGHTS_EVENTS": "table"}, "table"),
    ({"DEVINSIGHTS_EVENTS": "process"}, "process"),
])
def test_subscriptions_read_the_store_with_more_than_one_worker_or_when_told(
        environ: dict[str, str], source: str) -> None:
    assert from_env(environ).event_source == source
