"""Bearer token -> Caller, in this one place.

The algorithm is pinned by the configured key (HS256 secret, RSA key -> RS256, P-256 key ->
ES256), never read from the token's header, so a token cannot pick a weaker check. ``exp``,
``nbf`` and ``iat`` are checked here rather than by PyJWT, which reads them with ``int()``
and so took ``"1999999999"`` and an ``exp`` ten million years away: they must be JSON
numbers, and ``exp`` no further away than DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS. Error
messages say what was wrong with the token and never repeat any part of it.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from datastore import keys
from resolvers.context import Caller
from web.jwks import KeysUnavailable as KeysUnavailable
from web.jwks import SigningKeys
from web.settings import Settings, SettingsError

BEARER_HINT = "send the header `Authorization: Bearer <token>`"


class InvalidToken(Exception):
    """The request carries no acceptable token; the message says what to fix."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing  # no credentials at all, as opposed to bad ones


def bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise InvalidToken(f"missing token: {BEARER_HINT}", missing=True)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken(f"the Authorization header must use the Bearer scheme: {BEARER_HINT}")
    token = token.strip()
    if not token:
        raise InvalidToken(f"the Bearer token is empty: {BEARER_HINT}")
    return token


def pinned_algorithm(key: Any) -> str | None:
    """RS256 for an RSA public key, ES256 for an EC P-256 one; None for anything else."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    return None


@dataclass(frozen=True, slots=True)
class Verified:
    caller: Caller
    expires_at: float  # the token's exp plus the leeway, epoch seconds


VERIFIED_TTL_SECONDS = 60.0
VERIFIED_CACHE_SIZE = 4096


class Authenticator:
    """Verifies bearer tokens with the one kind of key the settings configure."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        # Verified tokens, briefly: a client sends the same token with every request, and
        # verifying it costs more than a cached { __typename }. Only with a key fixed by the
        # settings, where a verification cannot change its answer before the token expires;
        # with a JWKS a retired key must stop working when the keys are refreshed. Failures
        # are never cached.
        self._verified: collections.OrderedDict[str, tuple[Verified, float]] = \
            collections.OrderedDict()
        self._key: Any = None
        self._algorithm = ""
        self._jwks: SigningKeys | None = None
        match settings.verification:
            case "hs256":
                assert settings.jwt_secret is not None
                self._key, self._algorithm = settings.jwt_secret, "HS256"
            case "public_key":
                assert settings.jwt_public_key is not None
                try:
                    self._key = load_pem_public_key(settings.jwt_public_key.encode())
                except ValueError:
                    raise SettingsError("DEVINSIGHTS_JWT_PUBLIC_KEY is not a PEM public key"
                                        ) from None
                algorithm = pinned_algorithm(self._key)
                if algorithm is None:
                    raise SettingsError("DEVINSIGHTS_JWT_PUBLIC_KEY must be an RSA or EC P-256 "
                                        "public key")
                self._algorithm = algorithm
            case "jwks":
                assert settings.jwt_jwks_url is not None
                self._jwks = SigningKeys(settings.jwt_jwks_url,
                                         refresh_seconds=settings.jwks_refresh_seconds,
                                         timeout_seconds=settings.jwks_timeout_seconds)
            case None:
                raise SettingsError(
                    "no token verification key is configured: set DEVINSIGHTS_JWT_SECRET "
                    "(development), DEVINSIGHTS_JWT_PUBLIC_KEY or DEVINSIGHTS_JWT_JWKS_URL, or "
                    "run `devinsights serve --demo`")

    def on_jwks_fetch(self, observer: Callable[[str], None]) -> None:
        """Tell ``observer`` the outcome ("ok", "failed") of every JWKS fetch, if any."""
        if self._jwks is not None:
            self._jwks.on_fetch = observer

    @property
    def algorithms(self) -> tuple[str, ...]:
        return ("RS256", "ES256") if self._jwks is not None else (self._algorithm,)

    async def caller_from_token(self, token: str) -> Caller:
        return (await self.verify(token)).caller

    async def verify(self, token: str) -> Verified:
        """The caller a token names, and until when it may act (a WebSocket closes then)."""
        if self._jwks is not None:
            key, algorithm = await self._key_from_jwks(token)
            return self._verify(token, key, algorithm)
        now = self.clock()
        cached = self._verified.get(token)
        if cached is not None:
            verified, until = cached
            if now < until and now < verified.expires_at:
                return verified
            del self._verified[token]
        verified = self._verify(token, self._key, self._algorithm)
        self._verified[token] = (verified, now + VERIFIED_TTL_SECONDS)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return verified

    async def _key_from_jwks(self, token: str) -> tuple[Any, str]:
        assert self._jwks is not None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError:
            raise InvalidToken("the token is malformed: it is not a JWT") from None
        except jwt.InvalidTokenError as exc:  # a `kid` that is not a string, or a `crit`
            raise InvalidToken(_header_problem(exc)) from None
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token has no `kid` header; the server picks the signing "
                               "key from the identity provider's JWKS by `kid`")
        jwk = await self._jwks.key(kid)
        if jwk is None:
            raise InvalidToken("the token's `kid` is not a key of the identity provider's JWKS "
                               "(was the key rotated out?)")
        # Pinned by the JWK's own key material; its optional "alg" member is not trusted either.
        algorithm = pinned_algorithm(jwk.key)
        if algorithm is None:
            raise InvalidToken("the token's `kid` names a key type this server does not accept "
                               "(only RSA and EC P-256 keys)")
        return jwk.key, algorithm

    def _verify(self, token: str, key: Any, algorithm: str) -> Verified:
        s = self.settings
        org_claim = s.jwt_org_claim
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], issuer=s.jwt_issuer,
                audience=s.jwt_audience,
                options={"require": ["exp", "sub", org_claim],
                         "verify_aud": s.jwt_audience is not None,
                         "verify_iss": s.jwt_issuer is not None,
                         "verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(_explain(exc, algorithm, s)) from None
        expires = self._check_times(claims)
        caller = Caller(user_id=_id_claim(claims, "sub", "user id"),
                        org_id=_id_claim(claims, org_claim, "organization id"),
                        email=_optional_str(claims, "email"),
                        name=_optional_str(claims, "name"))
        return Verified(caller, expires + s.jwt_leeway_seconds)

    def _check_times(self, claims: Mapping[str, Any]) -> float:
        """The token's ``exp``, once ``exp``, ``nbf`` and ``iat`` say it is valid now."""
        s = self.settings
        now = self.clock()
        exp = _time_claim(claims, "exp")
        if exp <= now - s.jwt_leeway_seconds:
            raise InvalidToken("the token has expired (exp is in the past); get a new token")
        if exp > now + s.jwt_max_lifetime_seconds + s.jwt_leeway_seconds:
            raise InvalidToken(f"the token's exp is more than {s.jwt_max_lifetime_seconds} "
                               "seconds away, longer than this server lets a token live "
                               "(DEVINSIGHTS_JWT_MAX_LIFETIME_SECONDS); get a shorter-lived "
                               "token")
        for name in ("nbf", "iat"):
            if name in claims and _time_claim(claims, name) > now + s.jwt_leeway_seconds:
                raise InvalidToken("the token is not valid yet (nbf or iat is in the future); "
                                   "check the clocks")
        return float(exp)


def _explain(exc: jwt.PyJWTError, algorithm: str, s: Settings) -> str:
    # Ordered from the most specific class to the most general.
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token is missing the required claim `{exc.claim}`"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"the token's issuer (iss) is not {s.jwt_issuer!r}"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"the token's audience (aud) does not include {s.jwt_audience!r}"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return (f"the token is signed with an algorithm this server does not accept; "
                f"it accepts {algorithm} only")
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the token's signature does not verify with the configured key"
    if isinstance(exc, jwt.DecodeError):
        return "the token is malformed: it is not a JWT"
    if "crit" in str(exc) or "Key ID" in str(exc):  # PyJWT's checks of the header
        return _header_problem(exc)
    return "the token is not acceptable"


def _header_problem(exc: jwt.PyJWTError) -> str:
    # Said in our words: PyJWT's may quote the header.
    if "crit" in str(exc):
        return ("the token's header lists critical extensions (`crit`) this server does not "
                "support")
    return ("the token's `kid` header must be a string naming a key of the identity "
            "provider's JWKS")


def _time_claim(claims: Mapping[str, Any], name: str) -> int | float:
    value = claims[name]
    # bool is an int to Python, and a float may be NaN or infinite (PyJWT's parser reads both).
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))):
        raise InvalidToken(f"the token's `{name}` claim must be a number: seconds since the "
                           "epoch, as in RFC 7519")
    return value


def _id_claim(claims: Mapping[str, Any], name: str, what: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise InvalidToken(f"the token's `{name}` claim must be a string ({what})")
    try:
        # The same rule every store key applies to ids, checked before any key is built.
        keys.user_index(value) if name == "sub" else keys.org_pk(value)
    except keys.InvalidKeyPart as exc:
        raise InvalidToken(f"the token's `{name}` claim is not a valid {what}: {exc}") from None
    return value


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def mint_token(secret: str, *, user_id: str, org_id: str, email: str | None = None,
               name: str | None = None, ttl_seconds: int = 3600, issuer: str | None = None,
               audience: str | None = None, org_claim: str = "org") -> str:
    """An HS256 development token that this server accepts with the same settings."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, org_claim: org_id, "iat": now,
                              "exp": now + ttl_seconds}
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
