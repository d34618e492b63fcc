"""Who may act is decided on fresh facts, and stays decided when the write commits; a write
whose answer was lost is reported as the success it was, written once.

On DynamoDB these run through tests/dynamo_proxy.py with stale reads and conflicts on (the
api fixture); the same tests hold on the embedded store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from datastore import keys, members
from datastore.dynamodb import DynamoStore
from datastore.records import Role
from datastore.store import Item, Query, Store
from tests.api.conftest import ALICE, BOB, CHARLIE, Api, acting_as
from tests.api.test_mutations import FOUNDER, NEWBIE
from tests.dynamo_proxy import DynamoProxy
from tests.hardening.faults import Faults

ORG = ALICE.org_id
USAGE = "{ organization { usage { apiCalls { current } } } }"


async def everything(store: Store, org: str = ORG) -> list[Item]:
    return await store.query_all(Query(partition=keys.org_pk(org), consistent=True))


async def events(store: Store, action: str, org: str = ORG, actor: str | None = None) -> int:
    return sum(1 for i in await everything(store, org) if i.get("action") == action
               and actor in (None, i.get("actorId")))


async def make_bob_admin(api: Api) -> None:
    await members.change_role(api.store, await acting_as(api, ALICE), BOB.user_id, Role.ADMIN)
    api.settle()  # long ago


# The edge reads the caller's membership strongly consistently


async def test_an_admin_demoted_a_moment_ago_is_refused_an_admin_field_at_once(
        api: Api) -> None:
    await make_bob_admin(api)
    assert (await api.run(USAGE, BOB)).errors == []

    await members.change_role(api.store, await acting_as(api, ALICE), BOB.user_id,
                              Role.MEMBER)
    outcome = await api.run(USAGE, BOB)

    assert outcome.codes == ["FORBIDDEN"]


async def test_a_member_removed_a_moment_ago_reads_nothing(api: Api) -> None:
    await members.remove(api.store, await acting_as(api, ALICE), CHARLIE.user_id)

    outcome = await api.run("{ organization { name } }", CHARLIE)

    assert outcome.codes == ["FORBIDDEN"]


# A mutation's write re-checks its actor: a demotion or removal that lands first wins


@dataclass
class Meanwhile:
    """Change Bob's membership right before his mutation's transaction is sent."""

    api: Api
    change: Callable[[Api], Awaitable[Any]]
    done: bool = False

    async def __call__(self, op: str, _request: Any) -> None:
        if op == "transact" and not self.done:
            self.done = True  # the change's own transaction passes through untouched
            await self.change(self.api)


async def demote_bob(api: Api) -> None:
    await members.change_role(api.store, await acting_as(api, ALICE), BOB.user_id,
                              Role.MEMBER)


async def remove_bob(api: Api) -> None:
    await members.remove(api.store, await acting_as(api, ALICE), BOB.user_id)


async def suspend_bob(api: Api) -> None:
    await members.suspend(api.store, await acting_as(api, ALICE), BOB.user_id)


@pytest.mark.parametrize("change", [demote_bob, remove_bob, suspend_bob],
                         ids=["demoted", "removed", "suspended"])
@pytest.mark.parametrize(("document", "action"), [
    ('mutation { inviteMember(input: {email: "zed@startup.com"}) { __typename } }',
     "invitation.created"),
    ('mutation { updateOrganizationSettings(input: {expectedVersion: 1, name: "Bob Inc"}) '
     "{ __typename } }", "organization.settings_updated"),
    (f'mutation {{ changeMemberRole(input: {{userId: "{CHARLIE.user_id}", role: VIEWER}}) '
     "{ __typename } }", "member.role_changed"),
    ('mutation { generateTeamReport(input: {date: "2030-01-01"}) { __typename } }',
     "team_report.generated"),
], ids=["invite", "settings", "role", "report"])
async def test_an_admin_mutation_whose_actor_lost_the_right_meanwhile_writes_nothing(
        api: Api, change: Callable[[Api], Awaitable[Any]], document: str,
        action: str) -> None:
    await make_bob_admin(api)
    hook = Faults(api.store)
    hook.add("transact", Meanwhile(api, change))
    try:
        outcome = await api.run(document, BOB)
    finally:
        api.store.fault_hook = None

    assert outcome.errors == []
    assert outcome.data is not None
    [result] = outcome.data.values()
    assert result == {"__typename": "PermissionDenied"}
    assert await events(api.store, action, actor=BOB.user_id) == 0


async def test_preferences_of_a_member_suspended_meanwhile_are_not_written(api: Api) -> None:
    hook = Faults(api.store)
    hook.add("transact", Meanwhile(api, suspend_bob))
    try:
        outcome = await api.run('mutation { updateMyPreferences(input: {language: "de"}) '
                                "{ __typename ... on MutationError { code } } }", BOB)
    finally:
        api.store.fault_hook = None

    assert outcome.data == {"updateMyPreferences": {"__typename": "PermissionDenied",
                                                    "code": "PERMISSION_DENIED"}}
    bob = await api.store.get(keys.member(ORG, BOB.user_id), consistent=True)
    assert bob is not None
    assert bob["preferences"].get("language") != "de"


# A lost answer: the retry reports the write's success, and it was written once


async def invite_eve(api: Api) -> dict[str, Any]:
    data = await api.ok('mutation { inviteMember(input: {email: "eve@startup.com"}) { '
                        "... on InviteMemberSuccess { token invitation { invitationId } } } }")
    result: dict[str, Any] = data["inviteMember"]
    return result


@dataclass(frozen=True)
class Case:
    action: str
    document: str
    caller: Any = ALICE
    needs_invitation: bool = False
    org: str = ORG


LOST = [
    Case("organization.created",
         'mutation { createOrganization(input: {name: "Fresh"}) { __typename } }',
         FOUNDER, org=FOUNDER.org_id),
    Case("organization.settings_updated", 'mutation { updateOrganizationSettings(input: '
         '{expectedVersion: 1, name: "Renamed"}) { __typename } }'),
    Case("invitation.created",
         'mutation { inviteMember(input: {email: "zed@startup.com"}) { __typename } }'),
    Case("invitation.accepted", "mutation($t: String!) { acceptInvitation(input: {token: $t}) "
         "{ __typename } }", NEWBIE, needs_invitation=True),
    Case("invitation.revoked", "mutation($i: ID!) { revokeInvitation(input: {invitationId: $i}) "
         "{ __typename } }", needs_invitation=True),
    Case("member.role_changed", 'mutation { changeMemberRole(input: '
         f'{{userId: "{CHARLIE.user_id}", role: VIEWER}}) {{ __typename }} }}'),
    Case("member.removed", f'mutation {{ removeMember(input: {{userId: "{CHARLIE.user_id}"}}) '
         "{ __typename } }"),
    Case("member.preferences_updated", 'mutation { updateMyPreferences(input: '
         '{language: "de"}) { __typename } }'),
    Case("github_data.recorded", 'mutation { recordGitHubData(input: {githubUsername: '
         '"charlie-junior", codeQuality: {overallScore: 7}, metrics: {}, burnoutRisk: {}}) '
         "{ __typename } }"),
    Case("team_report.generated",
         'mutation { generateTeamReport(input: {date: "2030-01-01"}) { __typename } }'),
]


@pytest.mark.parametrize("case", LOST, ids=[c.action for c in LOST])
async def test_a_mutation_whose_answer_was_lost_reports_success_and_wrote_once(
        api: Api, request: pytest.FixtureRequest, case: Case) -> None:
    variables: dict[str, Any] = {}
    if case.needs_invitation:
        invitation = await invite_eve(api)
        variables = {"t": invitation["token"], "i": invitation["invitation"]["invitationId"]}
        variables = {k: v for k, v in variables.items() if f"${k}" in case.document}
    before = await events(api.store, case.action, case.org)
    lost = lose_the_next_transaction_answer(api, request)

    outcome = await api.run(case.document, case.caller, variables or None)

    assert outcome.errors == []
    assert outcome.data is not None
    [result] = outcome.data.values()
    assert result["__typename"].endswith("Success")
    assert await events(api.store, case.action, case.org) == before + 1
    assert lost() == 1


def lose_the_next_transaction_answer(api: Api, request: pytest.FixtureRequest
                                     ) -> Callable[[], int]:
    """Apply the next transaction, then lose its answer; returns how many were applied."""
    if isinstance(api.store, DynamoStore):
        proxy: DynamoProxy = request.getfixturevalue("dynamo_proxy")
        proxy.drop_response("TransactWriteItems", times=1)
        before = proxy.applied["TransactWriteItems"]
        return lambda: proxy.applied["TransactWriteItems"] - before
    faults = Faults(api.store)
    faults.add("transact", faults.lost_response, times=1)
    request.addfinalizer(lambda: setattr(api.store, "fault_hook", None))
    return lambda: faults.injected["transact"]


# A canceled transaction answers for the action that failed, and only a failed condition is
# the caller's: acceptInvitation's actions are the seat counter, the person, the email claim,
# the invitation and the event.

ACCEPT = ("mutation($t: String!) { acceptInvitation(input: {token: $t}) { __typename "
          "... on MemberLimitReached { maxMembers } } }")
OK = "None"


@pytest.mark.dynamodb_only
@pytest.mark.parametrize(("reasons", "times", "typename", "code"), [
    (["TransactionConflict", OK, OK, OK, OK], 1, "AcceptInvitationSuccess", None),
    (["ThrottlingError", OK, OK, OK, OK], 2, "AcceptInvitationSuccess", None),
    (["ConditionalCheckFailed", OK, OK, OK, OK], 1, "MemberLimitReached", None),
    (["TransactionConflict", OK, "ConditionalCheckFailed", OK, OK], 1, "EmailTaken", None),
    ([OK, OK, OK, "ConditionalCheckFailed", OK], 1, "InvitationUnavailable", None),
    (["TransactionConflict", OK, OK, OK, OK], None, None, "STORE_BUSY"),
    (["ProvisionedThroughputExceeded", OK, OK, OK, OK], None, None, "STORE_BUSY"),
    ([OK, "ValidationError", OK, OK, OK], 1, None, "INTERNAL_SERVER_ERROR"),
], ids=["conflict-once", "throttled-twice", "seat-condition", "conflict-and-email-condition",
        "invitation-condition", "conflicts", "throughput", "validation"])
async def test_a_canceled_transaction_answers_for_the_action_that_failed(
        api: Api, dynamo_proxy: DynamoProxy, reasons: list[str], times: int | None,
        typename: str | None, code: str | None) -> None:
    token = (await invite_eve(api))["token"]
    dynamo_proxy.cancel(reasons=reasons, times=times)

    outcome = await api.run(ACCEPT, NEWBIE, {"t": token})

    if code is not None:
        assert outcome.codes == [code]
    else:
        assert outcome.errors == []
        assert outcome.data is not None
        assert outcome.data["acceptInvitation"]["__typename"] == typename
    joined = await api.store.get(keys.member(ORG, NEWBIE.user_id), consistent=True)
    assert (joined is not None) == (typename == "AcceptInvitationSuccess")
    if typename == "MemberLimitReached":
        assert outcome.data == {"acceptInvitation": {"__typename": "MemberLimitReached",
                                                     "maxMembers": 100}}
