"""The JWKS keys' caching policy, against a real JWKS host whose fetches a test can hold.

Time is the test's clock, so "half the interval", "expired" and "the cooldown" are exact;
what waits for what is shown by holding a fetch and seeing which lookups finish meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import Clock
from tests.web.servers import JwksHost, jwk, jwks_host
from web.jwks import UNKNOWN_KID_COOLDOWN_SECONDS, KeysUnavailable, SigningKeys

REFRESH = 30.0
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def host() -> Iterator[JwksHost]:
    with jwks_host() as h:
        h.keys = [jwk(RSA_KEY, "key-1")]
        yield h


@pytest.fixture
def clock() -> Clock:
    return Clock()


def signing_keys(host: JwksHost, clock: Clock, timeout: float = 5) -> SigningKeys:
    return SigningKeys(host.url, refresh_seconds=REFRESH, timeout_seconds=timeout, clock=clock)


async def held_fetch_arrived(host: JwksHost) -> None:
    """Returns once a fetch is held at the host. Every task created before this call has run
    to its first wait by then: the loop ran them before the host's thread could answer."""
    assert await asyncio.to_thread(host.wait_for_held_fetch), "no fetch reached the host"


async def test_a_known_kid_never_waits_for_the_background_refresh(host: JwksHost,
                                                                  clock: Clock) -> None:
    keys = signing_keys(host, clock)
    assert await keys.key("key-1") is not None
    host.hold()
    clock.advance(REFRESH / 2)  # half the interval: the next lookup starts a refresh

    found = await asyncio.wait_for(keys.key("key-1"), 5)  # while the refresh is held

    assert found is not None
    await held_fetch_arrived(host)
    assert host.fetches == 2
    host.release()


async def test_a_slow_refetch_for_an_unknown_kid_holds_no_lookup_of_a_known_kid(
        host: JwksHost, clock: Clock) -> None:
    keys = signing_keys(host, clock)
    await keys.key("key-1")
    host.hold()
    unknown = asyncio.create_task(keys.key("key-made-up"))
    await held_fetch_arrived(host)

    known = await asyncio.wait_for(keys.key("key-1"), 5)

    assert known is not None
    assert not unknown.done()  # the refetch is still held: the known kid did not wait for it
    host.release()
    assert await unknown is None


async def test_concurrent_unknown_kids_share_one_fetch_and_all_find_a_rotated_key(
        host: JwksHost, clock: Clock) -> None:
    keys = signing_keys(host, clock)
    await keys.key("key-1")
    host.hold()
    host.keys = [jwk(RSA_KEY, "key-1"), jwk(EC_KEY, "key-2")]  # rotated in at the provider

    lookups = [asyncio.create_task(keys.key("key-2")) for _ in range(20)]
    await held_fetch_arrived(host)
    assert not any(lookup.done() for lookup in lookups)  # all of them wait for that fetch
    host.release()
    found = await asyncio.gather(*lookups)

    assert all(key is not None for key in found)
    assert host.fetches == 2  # the first fetch, then one for all twenty


async def test_an_unknown_kid_refetches_at_most_once_per_cooldown(host: JwksHost,
                                                                  clock: Clock) -> None:
    keys = signing_keys(host, clock)
    await keys.key("key-1")

    assert await keys.key("made-up-1") is None
    assert await keys.key("made-up-2") is None
    clock.advance(UNKNOWN_KID_COOLDOWN_SECONDS - 0.1)
    assert await keys.key("made-up-3") is None
    assert host.fetches == 2
    clock.advance(0.2)
    assert await keys.key("made-up-4") is None
    assert host.fetches == 3


async def test_a_key_set_older_than_the_interval_is_never_used(host: JwksHost,
                                                               clock: Clock) -> None:
    keys = signing_keys(host, clock)
    await keys.key("key-1")
    host.keys = [jwk(EC_KEY, "key-2")]  # key-1 withdrawn
    host.hold()
    clock.advance(REFRESH)  # no lookup came in the second half: no refresh ran

    lookup = asyncio.create_task(keys.key("key-1"))
    await held_fetch_arrived(host)
    assert not lookup.done()  # it waits for the fetch rather than trust the expired set
    host.release()

    assert await lookup is None


async def test_an_expired_set_that_cannot_be_fetched_is_unavailable_not_used(
        clock: Clock) -> None:
    with jwks_host() as host:
        host.keys = [jwk(RSA_KEY, "key-1")]
        keys = signing_keys(host, clock)
        await keys.key("key-1")
    clock.advance(REFRESH)  # and the host is gone

    with pytest.raises(KeysUnavailable):
        await keys.key("key-1")


async def test_a_fetch_slower_than_the_timeout_fails_and_the_next_one_may_succeed(
        host: JwksHost, clock: Clock) -> None:
    keys = signing_keys(host, clock, timeout=0.2)
    host.hold()

    with pytest.raises(KeysUnavailable):
        await asyncio.wait_for(keys.key("key-1"), 5)
    host.release()
    clock.advance(1.0)  # past the pause after a failure

    assert await keys.key("key-1") is not None


async def test_a_failed_background_refresh_keeps_the_current_set_until_it_expires(
        clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    with jwks_host() as host:
        host.keys = [jwk(RSA_KEY, "key-1")]
        keys = signing_keys(host, clock)
        await keys.key("key-1")
    clock.advance(REFRESH / 2)

    assert await keys.key("key-1") is not None  # starts a refresh that will fail
    for _ in range(500):
        if "could not be fetched" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert "could not be fetched" in caplog.text
    clock.advance(REFRESH / 2 - 1)
    assert await keys.key("key-1") is not None
    clock.advance(1)
    with pytest.raises(KeysUnavailable):
        await keys.key("key-1")
