"""Races for the last seats of an organization and for one invitation: the limit holds,
``currentMembers`` always equals the people stored, and every loser gets a typed error and
leaves nothing behind.

On DynamoDB these run with transaction conflicts and stale reads on (tests/conftest.py,
``behave_like_dynamodb``): racers that touch the organization item at once conflict, the
store retries them, and one still refused answers STORE_BUSY; like a real client, the racers
here send again until they get a definite answer.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections import Counter
from typing import Any

import pytest

from datastore import activity, invitations, keys, members, organizations
from datastore.actors import acting
from datastore.errors import MemberLimitReached, StoreThrottled
from datastore.records import (
    DAY_SECONDS,
    Invitation,
    InvitationStatus,
    Member,
    MemberStatus,
    Role,
    now_ms,
)
from datastore.store import Item, Query, Store, item_missing
from resolvers.context import Caller
from tests.api.conftest import Api
from tests.conftest import behave_like_dynamodb
from tests.hardening import tally

ORG = "org-race-1"
ADMIN = Caller("user-race-admin", ORG, "admin@race.example", "Ada Admin")
ACCEPT = """mutation($t: String!) { acceptInvitation(input: {token: $t}) { __typename
              ... on MutationError { code } ... on MemberLimitReached { maxMembers }
              ... on InvitationUnavailable { reason }
              ... on AcceptInvitationSuccess { member { userId } } } }"""


def invitee(i: int) -> Caller:
    return Caller(f"user-racer-{i:03d}", ORG, f"racer{i:03d}@race.example", f"Racer {i}")


async def pending_invitation(store: Store, caller: Caller, inviter: Member) -> str:
    """A pending invitation and its token, as invitations.create makes them, written without
    its activity event: moto copies the whole table per transaction action, so a hundred
    extra items would cost the DynamoDB run many seconds."""
    invite_id = "invite-" + uuid.uuid4().hex[:16]
    token = f"{invite_id}.{secrets.token_urlsafe(32)}"
    await store.put(Invitation(
        org_id=ORG, invite_id=invite_id, email=str(caller.email), name=caller.name,
        role=Role.MEMBER, invited_by=inviter.user_id, invited_by_name=inviter.name,
        status=InvitationStatus.PENDING, token_hash=invitations.hash_token(token),
        created_at=now_ms(), expires_at=store.now_seconds() + DAY_SECONDS,
    ).to_item(), condition=item_missing())
    return token


async def open_org(store: Store, max_members: int) -> Member:
    _, admin = await organizations.create(store, ORG, "Race Inc", ADMIN.user_id,
                                          str(ADMIN.email), str(ADMIN.name), plan="enterprise",
                                          max_members=max_members)
    return admin


async def stored(store: Store) -> dict[str, list[Item]]:
    """The org's items by kind, read straight from the store."""
    kinds: dict[str, list[Item]] = {}
    for item in await store.query_all(Query(partition=keys.org_pk(ORG), consistent=True)):
        kinds.setdefault(str(item["entityType"]), []).append(item)
    return kinds


async def assert_counts_match_the_people(store: Store, people: int) -> None:
    items = await stored(store)
    org = items["ORGANIZATION"][0]
    admins = [m for m in items["MEMBER"] if m["role"] == "admin"]
    if org["currentMembers"] != len(items["MEMBER"]):
        tally.add(tally.LOST, abs(org["currentMembers"] - len(items["MEMBER"])))
    assert org["currentMembers"] == len(items["MEMBER"]) == people
    assert org["currentMembers"] <= org["maxMembers"]
    assert org["adminCount"] == len(admins)
    assert sorted(c["userId"] for c in items["EMAIL_CLAIM"]) == sorted(
        m["userId"] for m in items["MEMBER"])


@pytest.fixture(autouse=True)
def conflicts_and_stale_reads(request: pytest.FixtureRequest, store: Store) -> None:
    behave_like_dynamodb(request, store)


BUSY_RETRIES = 50


async def until_definite(api: Api, document: str, caller: Caller,
                         variables: dict[str, Any]) -> dict[str, Any]:
    """Send until the answer is not STORE_BUSY, as a client would; count the busy ones."""
    for _ in range(BUSY_RETRIES):
        outcome = await api.run(document, caller, variables)
        if outcome.codes != ["STORE_BUSY"]:
            assert not outcome.errors, outcome.errors
            assert outcome.data is not None
            return outcome.data
        tally.add(tally.BUSY)
        await asyncio.sleep(random.uniform(0, 0.05))
    raise AssertionError(f"still STORE_BUSY after {BUSY_RETRIES} tries")


async def add_until_definite(store: Store, member: Member) -> Member | Exception:
    for _ in range(BUSY_RETRIES):
        try:
            return await members.add(store, member, activity.event(
                store, ORG, ADMIN.user_id, "member.added", member.user_id))
        except StoreThrottled:
            tally.add(tally.BUSY)
            await asyncio.sleep(random.uniform(0, 0.05))
        except Exception as exc:  # the typed refusals the test counts
            return exc
    raise AssertionError(f"still busy after {BUSY_RETRIES} tries")


def kinds_of(results: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["acceptInvitation"]["__typename"] for r in results)


async def test_a_hundred_invitees_racing_for_ten_free_seats_seat_exactly_ten(
        bare_api: Api) -> None:
    api = bare_api
    admin = await open_org(api.store, max_members=11)
    callers = [invitee(i) for i in range(100)]
    tokens = await asyncio.gather(*(pending_invitation(api.store, c, admin) for c in callers))

    results = await asyncio.gather(*(until_definite(api, ACCEPT, c, {"t": t})
                                     for c, t in zip(callers, tokens, strict=True)))
    tally.add(tally.CONCURRENT, len(results))

    assert kinds_of(results) == {"AcceptInvitationSuccess": 10, "MemberLimitReached": 90}
    winners = {c.user_id for c, r in zip(callers, results, strict=True)
               if r["acceptInvitation"]["__typename"] == "AcceptInvitationSuccess"}
    for r in results:
        if r["acceptInvitation"]["__typename"] == "MemberLimitReached":
            assert r["acceptInvitation"] == {"__typename": "MemberLimitReached",
                                             "code": "MEMBER_LIMIT_REACHED", "maxMembers": 11}
    await assert_counts_match_the_people(api.store, 11)
    items = await stored(api.store)
    assert {m["userId"] for m in items["MEMBER"]} == winners | {ADMIN.user_id}
    by_invitee = {i["email"]: i for i in items["INVITATION"]}
    for c in callers:
        invitation = by_invitee[c.email]
        if c.user_id in winners:
            assert (invitation["status"], invitation["acceptedBy"]) == ("accepted", c.user_id)
        else:
            assert (invitation["status"], invitation["acceptedBy"]) == ("pending", None)
    assert Counter(e["action"] for e in items["ACTIVITY"])["invitation.accepted"] == 10
    data = await api.ok("{ organization { currentMembers maxMembers } }", ADMIN)
    assert data == {"organization": {"currentMembers": 11, "maxMembers": 11}}


async def test_twenty_direct_additions_racing_for_the_last_three_seats_seat_exactly_three(
        bare_api: Api) -> None:
    api = bare_api
    await open_org(api.store, max_members=5)
    first = Member(org_id=ORG, user_id="user-early", email="early@race.example",
                   name="Early Bird", role=Role.MEMBER, status=MemberStatus.ACTIVE,
                   joined_at=now_ms())
    await members.add(api.store, first, activity.event(api.store, ORG, ADMIN.user_id,
                                                       "member.added", first.user_id))
    racers = [Member(org_id=ORG, user_id=c.user_id, email=str(c.email), name=str(c.name),
                     role=Role.VIEWER if i % 3 else Role.ADMIN, status=MemberStatus.ACTIVE,
                     joined_at=now_ms())
              for i, c in enumerate(invitee(i) for i in range(20))]

    results = await asyncio.gather(*(add_until_definite(api.store, m) for m in racers))
    tally.add(tally.CONCURRENT, len(results))

    added = [r for r in results if isinstance(r, Member)]
    refused = [r for r in results if isinstance(r, MemberLimitReached)]
    assert (len(added), len(refused)) == (3, 17), results
    assert {r.max_members for r in refused} == {5}
    await assert_counts_match_the_people(api.store, 5)
    items = await stored(api.store)
    assert {m["userId"] for m in items["MEMBER"]} == {
        ADMIN.user_id, first.user_id, *(m.user_id for m in added)}


async def test_one_invitation_accepted_by_ten_callers_with_its_email_seats_exactly_one(
        bare_api: Api) -> None:
    api = bare_api
    admin = await open_org(api.store, max_members=50)
    email = "shared@race.example"
    invitation, token = await invitations.create(api.store, acting(admin), email, Role.ADMIN)
    callers = [Caller(f"user-claimant-{i}", ORG, email, f"Claimant {i}") for i in range(10)]

    results = await asyncio.gather(*(until_definite(api, ACCEPT, c, {"t": token})
                                     for c in callers))
    tally.add(tally.CONCURRENT, len(results))

    assert kinds_of(results)["AcceptInvitationSuccess"] == 1
    winner = next(c for c, r in zip(callers, results, strict=True)
                  if r["acceptInvitation"]["__typename"] == "AcceptInvitationSuccess")
    for r in results:
        # Whoever lost the race is told the invitation was used, or (when the race was
        # decided inside the transaction) that the email now belongs to someone.
        assert r["acceptInvitation"] in (
            {"__typename": "AcceptInvitationSuccess", "member": {"userId": winner.user_id}},
            {"__typename": "InvitationUnavailable", "code": "INVITATION_UNAVAILABLE",
             "reason": "USED"},
            {"__typename": "EmailTaken", "code": "EMAIL_TAKEN"}), r
    await assert_counts_match_the_people(api.store, 2)
    items = await stored(api.store)
    assert {m["userId"] for m in items["MEMBER"]} == {ADMIN.user_id, winner.user_id}
    stored_invitation = await api.store.get(keys.invitation(ORG, invitation.invite_id),
                                            consistent=True)
    assert stored_invitation is not None
    assert (stored_invitation["status"], stored_invitation["acceptedBy"]) == (
        "accepted", winner.user_id)
    org = items["ORGANIZATION"][0]
    assert org["adminCount"] == 2


async def test_one_person_submitting_an_acceptance_ten_times_at_once_joins_once(
        bare_api: Api) -> None:
    api = bare_api
    admin = await open_org(api.store, max_members=50)
    newcomer = Caller("user-eager-1", ORG, "eager@race.example", "Eager Beaver")
    _, token = await invitations.create(api.store, acting(admin), str(newcomer.email),
                                        Role.MEMBER)

    results = await asyncio.gather(*(until_definite(api, ACCEPT, newcomer, {"t": token})
                                     for _ in range(10)))
    tally.add(tally.CONCURRENT, len(results))

    kinds = kinds_of(results)
    assert kinds["AcceptInvitationSuccess"] == 1
    assert set(kinds) <= {"AcceptInvitationSuccess", "AlreadyExists", "InvitationUnavailable"}
    await assert_counts_match_the_people(api.store, 2)
