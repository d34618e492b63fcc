"""Bearer tokens at the edge: every bad token is a 401 that says why, and is never echoed."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.web.servers import (
    DROP,
    JwksHost,
    Served,
    bearer,
    claims_for,
    handmade_token,
    jwk,
    jwks_host,
    serving,
    settings_for,
    token,
)
from web.auth import Authenticator, InvalidToken, bearer_token
from web.settings import SettingsError

VIEWER = {"query": "{ viewer { name } }"}

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def ask(served: Served, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        return client.post("/graphql", content=orjson.dumps(VIEWER),
                           headers={"Content-Type": "application/json", **headers})


def assert_refused(served: Served, sent: str, response: httpx.Response, says: str) -> None:
    """401, a Bearer challenge, a reason, no data, and the token nowhere in sight."""
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert "data" not in body
    message = body["errors"][0]["message"]
    assert says in message
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    line = served.logs.request(response.headers["x-request-id"])
    assert line["status"] == 401
    for part in {sent, *sent.split(".")} - {""}:
        if len(part) > 8:
            assert part not in response.text
            assert part not in served.logs.text


# HS256 with issuer and audience (the module's `served` server)


def tampered(value: str) -> str:
    header, _payload, signature = value.split(".")
    other = handmade_token({"alg": "HS256", "typ": "JWT"}, claims_for(sub="user-bob-002"))
    return f"{header}.{other.split('.')[1]}.{signature}"


def now() -> int:
    return int(time.time())


BAD_TOKENS: dict[str, tuple[Any, str]] = {
    "alg none": (lambda: handmade_token({"alg": "none", "typ": "JWT"}, claims_for()),
                 "algorithm"),
    "wrong key": (lambda: token(key="another-secret-that-is-long-enough-0123456789"),
                  "signature"),
    "tampered payload": (lambda: tampered(token()), "signature"),
    "expired": (lambda: token(exp=now() - 300), "expired"),
    "nbf in the future": (lambda: token(nbf=now() + 600), "not valid yet"),
    "iat in the future": (lambda: token(iat=now() + 600), "not valid yet"),
    "wrong issuer": (lambda: token(iss="https://someone-else.test"), "issuer"),
    "wrong audience": (lambda: token(aud="another-api"), "audience"),
    "no sub": (lambda: token(sub=DROP), "missing the required claim `sub`"),
    "no org": (lambda: token(org=DROP), "missing the required claim `org`"),
    "no exp": (lambda: token(exp=DROP), "missing the required claim `exp`"),
    "org not a string": (lambda: token(org=42), "`org` claim must be a string"),
    "sub with a key separator": (lambda: token(sub="user#ORG#x"), "`sub` claim is not"),
    "not a jwt": (lambda: "definitely-not-a-jwt-token-value", "malformed"),
    "RS256 token": (lambda: token(key=RSA_KEY, algorithm="RS256"), "algorithm"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_401_saying_why_without_echoing_it(served: Served, case: str) -> None:
    make, says = BAD_TOKENS[case]
    sent = make()

    assert_refused(served, sent, ask(served, bearer(sent)), says)


@pytest.mark.parametrize(("header", "says"), [
    (None, "missing token"),
    ("Basic dXNlcjpwYXNz", "Bearer scheme"),
    ("Bearer", "token is empty"),
])
def test_a_missing_or_non_bearer_authorization_is_401(served: Served, header: str | None,
                                                      says: str) -> None:
    response = ask(served, {} if header is None else {"Authorization": header})

    assert_refused(served, "", response, says)


def test_a_request_without_credentials_gets_a_challenge_without_an_error_code(
        served: Served) -> None:
    response = ask(served, {})

    assert response.headers["www-authenticate"] == 'Bearer realm="devinsights"'


def test_a_bad_token_gets_the_invalid_token_challenge(served: Served) -> None:
    response = ask(served, bearer(token(exp=now() - 300)))

    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_token_within_the_leeway_is_still_accepted(served: Served) -> None:
    response = ask(served, bearer(token(exp=now() - 5)))

    assert response.status_code == 200


def test_the_caller_is_the_token_subject(served: Served) -> None:
    response = ask(served, bearer(token(sub="user-bob-002", email="bob@startup.com")))

    assert response.json() == {"data": {"viewer": {"name": "Bob Senior"}}}


# RS256 with a configured public key


@pytest.fixture(scope="module")
def rs256_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    pem_file = tmp_path_factory.mktemp("keys") / "public.pem"
    pem_file.write_text(public_pem(RSA_KEY))
    settings = settings_for(tmp_path_factory.mktemp("rs256"), jwt_secret=None,
                            jwt_public_key=pem_file.read_text())
    with serving(settings) as s:
        yield s


def test_an_rs256_token_signed_with_the_private_key_is_accepted(rs256_served: Served) -> None:
    response = ask(rs256_served, bearer(token(key=RSA_KEY, algorithm="RS256")))

    assert response.json() == {"data": {"viewer": {"name": "Alice Developer"}}}


def test_an_hs256_token_keyed_with_the_rs256_public_key_is_refused(
        rs256_served: Served) -> None:
    forged = handmade_token({"alg": "HS256", "typ": "JWT"}, claims_for(),
                            hmac_key=public_pem(RSA_KEY).encode())

    assert_refused(rs256_served, forged, ask(rs256_served, bearer(forged)), "accepts RS256 only")


def test_an_rs256_token_from_another_key_is_refused(rs256_served: Served) -> None:
    sent = token(key=OTHER_RSA_KEY, algorithm="RS256")

    assert_refused(rs256_served, sent, ask(rs256_served, bearer(sent)), "signature")


def test_an_alg_none_token_is_refused_by_the_rs256_server(rs256_served: Served) -> None:
    sent = handmade_token({"alg": "none"}, claims_for())

    assert_refused(rs256_served, sent, ask(rs256_served, bearer(sent)), "algorithm")


def test_a_public_key_may_be_given_as_a_file_path(tmp_path: Path) -> None:
    from web.settings import from_env

    pem_file = tmp_path / "ec.pem"
    pem_file.write_text(public_pem(EC_KEY))
    settings = from_env({"DEVINSIGHTS_JWT_PUBLIC_KEY": str(pem_file)})

    assert Authenticator(settings).algorithms == ("ES256",)


# JWKS with rotation by kid


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksHost]:
    with jwks_host() as host:
        host.keys = [jwk(RSA_KEY, "key-1")]
        yield host


@pytest.fixture(scope="module")
def jwks_served(tmp_path_factory: pytest.TempPathFactory, jwks: JwksHost) -> Iterator[Served]:
    settings = settings_for(tmp_path_factory.mktemp("jwks"), jwt_secret=None,
                            jwt_jwks_url=jwks.url, jwks_refresh_seconds=0)
    with serving(settings) as s:
        yield s


def signed(key: Any, kid: str, algorithm: str = "RS256", **changes: Any) -> str:
    return token(key=key, algorithm=algorithm, headers={"kid": kid}, **changes)


def test_a_token_whose_kid_is_in_the_jwks_is_accepted(jwks_served: Served) -> None:
    response = ask(jwks_served, bearer(signed(RSA_KEY, "key-1")))

    assert response.json() == {"data": {"viewer": {"name": "Alice Developer"}}}


def test_a_token_with_an_unknown_kid_is_refused(jwks_served: Served) -> None:
    sent = signed(OTHER_RSA_KEY, "key-unknown")

    assert_refused(jwks_served, sent, ask(jwks_served, bearer(sent)), "`kid`")


@pytest.mark.parametrize("kid", [1, ["key-1"], None])
def test_a_token_whose_kid_is_not_a_string_is_refused_not_a_server_error(
        jwks_served: Served, kid: Any) -> None:
    # PyJWT will not sign such a header, so splice one onto a valid token.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid})
                                      .encode()).decode().rstrip("=")
    sent = ".".join([header, *signed(RSA_KEY, "key-1").split(".")[1:]])

    response = ask(jwks_served, bearer(sent))

    assert_refused(jwks_served, sent, response, "`kid`")


def test_a_token_without_a_kid_is_refused(jwks_served: Served) -> None:
    sent = token(key=RSA_KEY, algorithm="RS256")

    assert_refused(jwks_served, sent, ask(jwks_served, bearer(sent)), "no `kid`")


def test_a_rotated_key_is_fetched_by_its_kid_and_the_retired_one_stops_working(
        jwks_served: Served, jwks: JwksHost) -> None:
    retired = signed(RSA_KEY, "key-1")
    assert ask(jwks_served, bearer(retired)).status_code == 200
    jwks.keys = [jwk(EC_KEY, "key-2")]
    fetches = jwks.fetches

    fresh = ask(jwks_served, bearer(signed(EC_KEY, "key-2", algorithm="ES256")))

    assert fresh.json() == {"data": {"viewer": {"name": "Alice Developer"}}}
    assert jwks.fetches == fetches + 1
    assert_refused(jwks_served, retired, ask(jwks_served, bearer(retired)), "`kid`")
    jwks.keys = [jwk(RSA_KEY, "key-1")]


def test_a_key_withdrawn_from_the_jwks_stops_verifying_within_the_refresh_interval(
        tmp_path: Path) -> None:
    refresh = 1.0
    with jwks_host() as host:
        host.keys = [jwk(RSA_KEY, "key-1"), jwk(EC_KEY, "key-2")]
        settings = settings_for(tmp_path, jwt_secret=None, jwt_jwks_url=host.url,
                                jwks_refresh_seconds=refresh)
        with serving(settings) as s:
            withdrawn = signed(RSA_KEY, "key-1")
            assert ask(s, bearer(withdrawn)).status_code == 200
            host.keys = [jwk(EC_KEY, "key-2")]
            at = time.monotonic()
            while (response := ask(s, bearer(withdrawn))).status_code == 200:
                # Generous: the bound is the interval; a request takes milliseconds.
                assert time.monotonic() - at < refresh + 1.0, "the withdrawn key still works"
                time.sleep(0.05)

            assert_refused(s, withdrawn, response, "`kid`")
            kept = ask(s, bearer(signed(EC_KEY, "key-2", algorithm="ES256")))
            assert kept.status_code == 200


def test_a_slow_jwks_refetch_for_an_unknown_kid_does_not_hold_a_request_with_a_known_kid(
        tmp_path: Path) -> None:
    with jwks_host() as host:
        host.keys = [jwk(RSA_KEY, "key-1")]
        settings = settings_for(tmp_path, jwt_secret=None, jwt_jwks_url=host.url,
                                jwks_refresh_seconds=60)
        with serving(settings) as s:
            known = signed(RSA_KEY, "key-1")
            assert ask(s, bearer(known)).status_code == 200
            host.hold()
            unknown: list[httpx.Response] = []
            refetching = threading.Thread(
                target=lambda: unknown.append(ask(s, bearer(signed(OTHER_RSA_KEY, "key-new")))))
            refetching.start()
            assert host.wait_for_held_fetch(), "the unknown kid did not make the server refetch"

            response = ask(s, bearer(known))

            assert response.status_code == 200
            assert refetching.is_alive()  # its fetch is still held: the known kid never waited
            host.release()
            refetching.join(timeout=10)
            assert [r.status_code for r in unknown] == [401]
            assert host.fetches == 2


def test_a_jwks_key_used_with_another_algorithm_is_refused(jwks_served: Served,
                                                           jwks: JwksHost) -> None:
    forged = handmade_token({"alg": "HS256", "kid": "key-1"}, claims_for(),
                            hmac_key=public_pem(RSA_KEY).encode())

    assert_refused(jwks_served, forged, ask(jwks_served, bearer(forged)), "accepts RS256 only")


def test_an_unreachable_jwks_is_a_503_not_a_401(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, jwt_secret=None,
                            jwt_jwks_url="http://127.0.0.1:9/.well-known/jwks.json")
    with serving(settings) as s:
        response = ask(s, bearer(signed(RSA_KEY, "key-1")))

    assert response.status_code == 503
    assert "data" not in response.json()


# The authenticator on its own


def test_bearer_token_requires_the_bearer_scheme() -> None:
    with pytest.raises(InvalidToken, match="Bearer scheme"):
        bearer_token("Token abc")
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"


def test_an_authenticator_without_a_key_says_how_to_configure_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DEVINSIGHTS_JWT_SECRET"):
        Authenticator(settings_for(tmp_path, jwt_secret=None))


def test_a_public_key_of_an_unsupported_curve_is_refused(tmp_path: Path) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())

    with pytest.raises(SettingsError, match="P-256"):
        Authenticator(settings_for(tmp_path, jwt_secret=None, jwt_public_key=public_pem(p384)))


def test_issuer_and_audience_are_not_checked_when_not_configured(tmp_path: Path) -> None:
    import asyncio

    settings = settings_for(tmp_path, jwt_issuer=None, jwt_audience=None)
    caller = asyncio.run(Authenticator(settings).caller_from_token(
        token(iss="anyone", aud="anything", email="alice@startup.com")))

    assert (caller.user_id, caller.org_id, caller.email) == (
        "user-abc-123", "org-xyz-789", "alice@startup.com")



async def test_verification_is_cached_only_until_the_token_expires(tmp_path: Path) -> None:
    from web.auth import Authenticator

    now = [time.time()]
    auth = Authenticator(settings_for(tmp_path), clock=lambda: now[0])
    verifications: list[str] = []
    real_verify = auth._verify

    def counting(raw: str, key: object, algorithm: str) -> object:
        verifications.append(raw)
        return real_verify(raw, key, algorithm)

    auth._verify = counting  # type: ignore[method-assign,assignment]
    short = token(exp=int(now[0]) + 600)
    for _ in range(3):
        assert (await auth.verify(short)).caller.user_id == "user-abc-123"
    assert len(verifications) == 1
    now[0] += 61  # the cache keeps an answer at most a minute
    await auth.verify(short)
    assert len(verifications) == 2
    now[0] += 600  # past exp (plus leeway): never answered from the cache
    with contextlib.suppress(Exception):
        await auth.verify(short)
    assert len(verifications) == 3


def test_two_authorization_headers_are_a_400_whichever_is_valid(served: Served) -> None:
    good = token()
    for pair in ([good, "Bearer forged"], ["Bearer forged", good]):
        with httpx.Client(base_url=served.url, timeout=10) as client:
            response = client.post(
                "/graphql", content=orjson.dumps(VIEWER),
                headers=[("Content-Type", "application/json"),
                         *(("Authorization", v if v.startswith("Bearer") else f"Bearer {v}")
                           for v in pair)])
        assert response.status_code == 400
        error = response.json()["errors"][0]
        assert "send one Authorization header, not 2" in error["message"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "data" not in response.json()
        assert good.split(".")[2] not in response.text + served.logs.text
