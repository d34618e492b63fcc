"""Bearer tokens at the edge: every bad token is a 401 that says why, and is never echoed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
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
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.web.servers import (
    DROP,
    SECRET,
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
    # PyJWT reads exp, nbf and iat with int(): it took these.
    "exp a numeric string": (lambda: token(exp="1999999999"), "`exp` claim must be a number"),
    "exp ten million years away": (lambda: token(exp=10**15), "more than 86400 seconds away"),
    "exp a day and a minute away": (lambda: token(exp=now() + 86400 + 60),
                                    "more than 86400 seconds away"),
    "exp true": (lambda: token(exp=True), "`exp` claim must be a number"),
    "exp an object": (lambda: token(exp={"at": 1999999999}), "`exp` claim must be a number"),
    "exp NaN": (lambda: raw_claims_token(b'"exp": NaN'), "`exp` claim must be a number"),
    "exp Infinity": (lambda: raw_claims_token(b'"exp": Infinity'),
                     "`exp` claim must be a number"),
    "exp 1e400": (lambda: raw_claims_token(b'"exp": 1e400'), "`exp` claim must be a number"),
    "exp 10^400": (lambda: raw_claims_token(b'"exp": 1' + b"0" * 400),
                   "more than 86400 seconds away"),
    "exp null": (lambda: token(exp=None), "missing the required claim `exp`"),
    "nbf a string": (lambda: token(nbf=str(now())), "`nbf` claim must be a number"),
    "iat a string": (lambda: token(iat=str(now())), "`iat` claim must be a number"),
    "iat false": (lambda: token(iat=False), "`iat` claim must be a number"),
    # Headers that are not what a JWT's header is.
    "header not JSON": (lambda: with_header(b'{"alg": "HS256"'), "malformed"),
    "header a JSON array": (lambda: with_header(b'["HS256"]'), "malformed"),
    "header a JSON string": (lambda: with_header(b'"HS256"'), "malformed"),
    "header a JSON number": (lambda: with_header(b"256"), "malformed"),
    "header null": (lambda: with_header(b"null"), "malformed"),
    "header not UTF-8": (lambda: with_header(b'{"alg": "\xff"}'), "malformed"),
    "header without alg": (lambda: with_header(b'{"typ": "JWT"}'), "algorithm"),
    "alg not a string": (lambda: with_header(b'{"alg": ["HS256"]}'), "algorithm"),
    "alg none, then HS256 again": (lambda: with_header(b'{"alg": "HS256", "alg": "none"}'),
                                   "algorithm"),
    "kid not a string": (lambda: with_header(b'{"alg": "HS256", "kid": 7}'), "`kid`"),
    "crit extension": (lambda: with_header(b'{"alg": "HS256", "crit": ["exp"], "exp": 1}'),
                       "`crit`"),
    "crit not a list": (lambda: with_header(b'{"alg": "HS256", "crit": 5}'), "`crit`"),
    "unencoded payload (b64 false)": (
        lambda: with_header(b'{"alg": "HS256", "b64": false, "crit": ["b64"]}'), "malformed"),
    "two segments": (lambda: ".".join(token().split(".")[:2]), "malformed"),
    "four segments": (lambda: token() + ".e30", "malformed"),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hs256(header: bytes, payload: bytes) -> str:
    """Signed with the servers' secret, whatever the bytes: the server must look past the
    signature to refuse it."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def with_header(header: bytes) -> str:
    return hs256(header, orjson.dumps(claims_for()))


def raw_claims_token(exp: bytes) -> str:
    """Valid claims, but ``exp`` as raw JSON text (NaN and Infinity, which PyJWT parses)."""
    claims = orjson.dumps(claims_for(exp=DROP))
    return hs256(b'{"alg": "HS256", "typ": "JWT"}', claims[:-1] + b", " + exp + b"}")


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


@pytest.mark.parametrize("exp", [lambda: now() + 86400, lambda: float(now() + 3600.5)],
                         ids=["the longest lifetime, an int", "a float"])
def test_a_token_with_a_numeric_exp_within_the_lifetime_is_accepted(served: Served,
                                                                    exp: Any) -> None:
    response = ask(served, bearer(token(exp=exp(), nbf=now() - 1.5)))

    assert response.status_code == 200


def test_the_longest_lifetime_is_a_setting(tmp_path: Path) -> None:
    auth = Authenticator(settings_for(tmp_path, jwt_max_lifetime_seconds=600))

    assert asyncio.run(auth.verify(token(exp=now() + 600))).caller.user_id == "user-abc-123"
    with pytest.raises(InvalidToken, match="more than 600 seconds away"):
        asyncio.run(auth.verify(token(exp=now() + 700)))


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


def test_a_jku_header_never_makes_the_server_fetch_keys_from_elsewhere(
        jwks_served: Served) -> None:
    with jwks_host() as elsewhere:
        elsewhere.keys = [jwk(OTHER_RSA_KEY, "key-1")]
        sent = token(key=OTHER_RSA_KEY, algorithm="RS256",
                     headers={"kid": "key-1", "jku": elsewhere.url})

        response = ask(jwks_served, bearer(sent))

    assert_refused(jwks_served, sent, response, "signature")
    assert elsewhere.fetches == 0


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


# Over the WebSocket: the same refusals close the socket with 4403


async def closed_after_init(served: Served, sent: str) -> tuple[int, str]:
    async with connect(served.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": bearer(sent)}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


WS_CASES = ["header not JSON", "header a JSON array", "header null", "header not UTF-8",
            "alg none", "kid not a string", "crit extension", "exp a numeric string",
            "exp ten million years away", "exp NaN", "exp 10^400", "two segments"]


@pytest.mark.parametrize("case", WS_CASES)
async def test_a_bad_token_in_connection_init_closes_the_socket_with_4403(
        served: Served, case: str) -> None:
    make, says = BAD_TOKENS[case]
    sent = make()

    code, reason = await closed_after_init(served, sent)

    assert code == 4403
    assert says in reason
    for part in set(sent.split(".")) - {""}:
        assert part not in served.logs.text


@pytest.mark.parametrize("header", [b'{"alg": "RS256"', b'["RS256"]', b"null",
                                    b'{"alg": "RS256", "kid": ["key-1"]}',
                                    b'{"alg": "RS256", "kid": "key-1", "crit": ["exp"]}'],
                         ids=["not JSON", "an array", "null", "kid a list", "crit"])
async def test_a_malformed_header_closes_a_jwks_servers_socket_with_4403(
        jwks_served: Served, header: bytes) -> None:
    sent = ".".join([b64(header), *signed(RSA_KEY, "key-1").split(".")[1:]])

    code, _reason = await closed_after_init(jwks_served, sent)

    assert code == 4403
