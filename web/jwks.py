"""The identity provider's signing keys (its JWKS) by ``kid``, never older than the refresh
interval, and never waited for by a token whose key is already known.

Why not PyJWKClient's own cache: it keeps a fetched set for its ``lifespan`` (300 s here),
whatever DEVINSIGHTS_JWKS_REFRESH_SECONDS said, so a key withdrawn from the JWKS kept
verifying for five minutes; and its lookup and its refetch for an unknown ``kid`` run under
one lock, in a thread, so one token with a made-up ``kid`` that made it refetch a slow JWKS
held every request behind it, valid ``kid`` or not (3.7 s of a 4 s fetch). Its set is also
refreshed only once expired, by the request that finds it so, which then waits for the fetch.
So PyJWT still fetches (``PyJWKClient.fetch_data`` with its caches off, in a thread, since it
uses blocking urllib) and parses (``PyJWKSet.from_dict``); the caching policy is ours:

- a set serves for at most ``refresh`` seconds after its fetch began, so a key withdrawn from
  the JWKS stops verifying within that time; after that every token waits for a fetch;
- once a set is half that old, the next request starts a refetch in the background and goes
  on with the current set, so under steady traffic no request waits for a fetch (after an
  idle spell longer than ``refresh``, the first request does);
- one fetch at a time, bounded by ``timeout``; the requests that need its result wait for
  that one fetch, and a request whose ``kid`` is in the current set never waits;
- a ``kid`` not in the current set starts a refetch at most once per
  UNKNOWN_KID_COOLDOWN_SECONDS, so tokens with made-up ``kid`` cannot make the server hammer
  the identity provider, and a key it has just published is found within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

import jwt

log = logging.getLogger("devinsights.auth")

UNKNOWN_KID_COOLDOWN_SECONDS = 5.0
# After a failed fetch of an expired set, tokens are refused (503) without a new attempt for
# this long, so an identity provider that is down gets one request a second, not one per token.
RETRY_AFTER_FAILURE_SECONDS = 1.0

Keys = dict[str, jwt.PyJWK]


class KeysUnavailable(Exception):
    """The identity provider's JWKS could not be fetched: the server's problem, not the token's."""


class SigningKeys:
    """The keys of one JWKS URL, fetched as the module docstring says."""

    def __init__(self, url: str, *, refresh_seconds: float, timeout_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False,
                                       timeout=timeout_seconds)
        self.refresh_seconds = refresh_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.on_fetch: Callable[[str], None] | None = None  # told "ok" or "failed"
        self._keys: Keys = {}
        self._fetched_at = -math.inf  # when the fetch of the current set began
        self._fetch: asyncio.Task[Keys] | None = None
        self._unknown_kid_fetch_at = -math.inf
        self._failed_at = -math.inf

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, or None when the identity provider has no such key."""
        now = self.clock()
        age = now - self._fetched_at
        if age < self.refresh_seconds:
            key = self._keys.get(kid)
            if key is not None:
                if age >= self.refresh_seconds / 2:
                    self._start_fetch()  # in the background: this request goes on
                return key
            if self._fetch is None:
                if now - self._unknown_kid_fetch_at < UNKNOWN_KID_COOLDOWN_SECONDS:
                    return None
                self._unknown_kid_fetch_at = now
        elif self._fetch is None and now - self._failed_at < RETRY_AFTER_FAILURE_SECONDS:
            raise KeysUnavailable("the identity provider's JWKS could not be fetched")
        # A waiter that is cancelled (its client went away) must not cancel everyone's fetch.
        keys = await asyncio.shield(self._start_fetch())
        return keys.get(kid)

    def _start_fetch(self) -> asyncio.Task[Keys]:
        if self._fetch is None:
            self._fetch = asyncio.get_running_loop().create_task(self._fetched(self.clock()))
            self._fetch.add_done_callback(_observed)
        return self._fetch

    async def _fetched(self, started: float) -> Keys:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                data = await asyncio.to_thread(self._client.fetch_data)
            keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(data).keys
                    if k.key_id and k.public_key_use in ("sig", None)}
        except (TimeoutError, jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
            self._failed_at = self.clock()
            if self.on_fetch is not None:
                self.on_fetch("failed")
            reason = (f"no answer within {self.timeout_seconds:g} s"
                      if isinstance(exc, TimeoutError) else str(exc))
            log.warning("the identity provider's JWKS could not be fetched: %s", reason,
                        extra={"fields": {"reason": reason}})
            raise KeysUnavailable("the identity provider's JWKS could not be fetched") from None
        finally:
            self._fetch = None
        self._keys, self._fetched_at = keys, started
        if self.on_fetch is not None:
            self.on_fetch("ok")
        return keys


def _observed(task: asyncio.Task[Keys]) -> None:
    # A background refresh nobody waited for: its failure is logged in _fetched already.
    if not task.cancelled():
        with contextlib.suppress(KeysUnavailable):
            task.result()
