"""The role matrix: what an admin, a member and a viewer may read and do.

Queries refuse with a FORBIDDEN error, mutations with a typed ``PermissionDenied`` result; a
refused mutation writes nothing (not even an activity event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from datastore import keys, members
from datastore.store import Item, Query, Store
from resolvers.context import Caller
from tests.api.conftest import ALICE, BOB, CHARLIE, DIANA, Api, acting_as

ORG = ALICE.org_id
ADMIN, MEMBER, VIEWER = "admin", "member", "viewer"
ALL = frozenset({ADMIN, MEMBER, VIEWER})
ROLE_OF = {ALICE: ADMIN, BOB: MEMBER, DIANA: VIEWER}
# Refused roles first, so an allowed mutation never changes what a refused one finds.
CALLERS = (DIANA, BOB, ALICE)

NOT_A_MEMBER = "you are not an active member of this organization"
NO_ANALYTICS = "you may not see this person's analytics"
NO_TEAM_ANALYTICS = "your role may not see the team's per-person analytics"
def lacks(permission: str) -> str:
    return f"your role lacks the {permission} permission"


async def partition(store: Store) -> list[Item]:
    return await store.query_all(Query(partition=keys.org_pk(ORG), consistent=True))


@dataclass(frozen=True)
class Rule:
    field: str
    document: str
    allowed: frozenset[str]
    refusal: str = ""  # the message a refused role gets
    success: str = ""  # a mutation's success type
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.field


QUERY_RULES = [
    Rule("viewer", "{ viewer { id role } }", ALL),
    Rule("organization", "{ organization { id name settings { allowMembersViewOthers } "
                         "owner { id } } }", ALL),
    Rule("organization", "{ organization { id usage { apiCalls { current limit } } } }",
         frozenset({ADMIN}), lacks("manage_settings"), label="organization.usage"),
    Rule("member", f'{{ member(userId: "{CHARLIE.user_id}") {{ id email role }} }}', ALL),
    Rule("memberByEmail", '{ memberByEmail(email: "charlie@startup.com") { id } }', ALL),
    Rule("members", "{ members { edges { node { id role } } } }", ALL),
    Rule("invitations", "{ invitations { edges { node { id email } } } }",
         frozenset({ADMIN}), lacks("invite_members")),
    Rule("githubData", '{ githubData(username: "bob-senior") { githubUsername } }',
         frozenset({ADMIN, MEMBER}), NO_ANALYTICS),
    Rule("teamGitHubData", "{ teamGitHubData { edges { node { githubUsername } } } }",
         frozenset({ADMIN, MEMBER}), NO_TEAM_ANALYTICS),
    Rule("teamReport", "{ teamReport { reportDate summary { totalMembers } } }", ALL),
    Rule("activity", "{ activity { edges { node { id action } } } }", ALL),
]


@pytest.mark.parametrize("rule", QUERY_RULES, ids=lambda r: r.name)
async def test_a_query_field_answers_the_roles_that_may_read_it_and_forbids_the_others(
        api: Api, rule: Rule) -> None:
    for caller in CALLERS:
        role = ROLE_OF[caller]
        outcome = await api.run(rule.document, caller)

        if role in rule.allowed:
            assert outcome.errors == [], role
            assert outcome.data is not None
            assert outcome.data[rule.field] is not None, role
        else:
            assert outcome.codes == ["FORBIDDEN"], role
            assert [e["message"] for e in outcome.errors] == [rule.refusal], role
            assert outcome.data in (None, {rule.field: None}), role


PAYLOAD = "{ __typename ... on MutationError { code message } }"
RECORD_INPUT = ("codeQuality: {overallScore: 7.5, rating: \"Good\"}, "
                "metrics: {totalCommits: 10}, burnoutRisk: {riskScore: 2.5}")


def record_github_data(username: str) -> str:
    return (f'mutation {{ recordGitHubData(input: {{githubUsername: "{username}", '
            f"{RECORD_INPUT}}}) {PAYLOAD} }}")


MUTATION_RULES = [
    Rule("updateOrganizationSettings",
         "mutation($v: Int!) { updateOrganizationSettings(input: {expectedVersion: $v, "
         f'timezone: "Europe/Berlin"}}) {PAYLOAD} }}',
         frozenset({ADMIN}), lacks("manage_settings"), "UpdateOrganizationSettingsSuccess"),
    Rule("inviteMember",
         f'mutation {{ inviteMember(input: {{email: "zed@startup.com", role: ADMIN}}) '
         f"{PAYLOAD} }}",
         frozenset({ADMIN}), lacks("invite_members"), "InviteMemberSuccess"),
    Rule("revokeInvitation",
         f'mutation {{ revokeInvitation(input: {{invitationId: "invite-abc-123"}}) {PAYLOAD} }}',
         frozenset({ADMIN}), lacks("invite_members"), "RevokeInvitationSuccess"),
    Rule("changeMemberRole",
         f'mutation {{ changeMemberRole(input: {{userId: "{CHARLIE.user_id}", role: ADMIN}}) '
         f"{PAYLOAD} }}",
         frozenset({ADMIN}), lacks("manage_settings"), "ChangeMemberRoleSuccess"),
    Rule("removeMember",
         f'mutation {{ removeMember(input: {{userId: "{CHARLIE.user_id}"}}) {PAYLOAD} }}',
         frozenset({ADMIN}), lacks("remove_members"), "RemoveMemberSuccess"),
    Rule("updateMyPreferences",
         f'mutation {{ updateMyPreferences(input: {{language: "de"}}) {PAYLOAD} }}',
         ALL, "", "UpdateMyPreferencesSuccess"),
    Rule("recordGitHubData", record_github_data("charlie-junior"),
         frozenset({ADMIN}), lacks("write_team_data"), "RecordGitHubDataSuccess"),
    Rule("generateTeamReport",
         f'mutation {{ generateTeamReport(input: {{date: "2029-01-01"}}) {PAYLOAD} }}',
         frozenset({ADMIN}), lacks("generate_reports"), "GenerateTeamReportSuccess"),
]


async def org_version(api: Api) -> int:
    data = await api.ok("{ organization { version } }", ALICE)
    return int(data["organization"]["version"])


@pytest.mark.parametrize("rule", MUTATION_RULES, ids=lambda r: r.name)
async def test_a_mutation_succeeds_for_the_roles_that_may_and_is_denied_as_data_to_the_others(
        api: Api, rule: Rule) -> None:
    variables = {"v": await org_version(api)} if "$v" in rule.document else None
    for caller in CALLERS:
        role = ROLE_OF[caller]
        before = await partition(api.store)
        outcome = await api.run(rule.document, caller, variables)

        assert outcome.errors == [], role
        assert outcome.data is not None
        if role in rule.allowed:
            assert outcome.data[rule.field]["__typename"] == rule.success, role
        else:
            assert outcome.data[rule.field] == {
                "__typename": "PermissionDenied", "code": "PERMISSION_DENIED",
                "message": rule.refusal}, role
            assert await partition(api.store) == before, role


async def test_create_organization_and_accept_invitation_refuse_people_already_in_the_org(
        api: Api) -> None:
    before = await partition(api.store)
    for caller in CALLERS:
        created = await api.ok(
            f'mutation {{ createOrganization(input: {{name: "Again"}}) {PAYLOAD} }}', caller)
        accepted = await api.ok(
            f'mutation {{ acceptInvitation(input: {{token: "invite-abc-123.x"}}) {PAYLOAD} }}',
            caller)

        assert created["createOrganization"]["__typename"] == "AlreadyExists", caller.user_id
        assert accepted["acceptInvitation"]["__typename"] == "AlreadyExists", caller.user_id
    assert await partition(api.store) == before


# Viewers: team reports yes, per-person analytics no


TEAM_GITHUB_DATA = "{ teamGitHubData { edges { node { githubUsername } } } }"


MEMBERS_WITH_ANALYTICS = """{ members { edges { node { userId githubUsername
    githubData { githubUsername codeQuality { overallScore } } } } } }"""


def github_data_by_person(data: dict[str, Any]) -> dict[str, Any]:
    return {e["node"]["userId"]: e["node"]["githubData"] for e in data["members"]["edges"]}


async def test_a_viewer_sees_every_members_github_data_as_null_without_an_error(
        api: Api) -> None:
    admin_view = github_data_by_person(await api.ok(MEMBERS_WITH_ANALYTICS, ALICE))
    assert admin_view[BOB.user_id] is not None

    outcome = await api.run(MEMBERS_WITH_ANALYTICS, DIANA)

    assert outcome.errors == []
    assert outcome.data is not None
    assert github_data_by_person(outcome.data) == dict.fromkeys(admin_view)


@pytest.mark.parametrize("document", [
    f'{{ member(userId: "{BOB.user_id}") {{ githubData {{ githubUsername }} }} }}',
    '{ memberByEmail(email: "bob@startup.com") { githubData { githubUsername } } }',
    "{ organization { owner { githubData { githubUsername } } } }",
    "{ teamReport { topPerformers { member { githubData { githubUsername } } } } }",
    "{ activity { edges { node { actor { githubData { githubUsername } } } } } }",
])
async def test_a_viewer_reaches_no_github_data_through_any_nested_member(
        api: Api, document: str) -> None:
    assert (await record_as(api, ALICE, "alice-dev"))["__typename"] == "RecordGitHubDataSuccess"
    assert "githubUsername" in json.dumps(await api.ok(document, ALICE))

    outcome = await api.run(document, DIANA)

    assert outcome.errors == []
    assert outcome.data is not None
    assert "githubUsername" not in json.dumps(outcome.data)


@pytest.mark.parametrize("username", ["bob-senior", "nobody-has-this-name"])
async def test_a_viewer_is_forbidden_top_level_github_data_whether_or_not_it_exists(
        api: Api, username: str) -> None:
    outcome = await api.run(f'{{ githubData(username: "{username}") {{ githubUsername }} }}',
                            DIANA)

    assert outcome.codes == ["FORBIDDEN"]
    assert outcome.data == {"githubData": None}
    assert outcome.errors[0]["message"] == NO_ANALYTICS


async def test_a_viewer_is_forbidden_the_teams_github_data(api: Api) -> None:
    outcome = await api.run(TEAM_GITHUB_DATA, DIANA)

    assert outcome.codes == ["FORBIDDEN"]
    assert outcome.data is None


# What a viewer sees of a team report: tests/api/test_privacy.py.


# allowMembersViewOthers = false


async def record_as(api: Api, caller: Caller, username: str) -> dict[str, Any]:
    """Record analytics as ``caller``; the tests then read them as of later (settled)."""
    data = await api.ok(record_github_data(username), caller)
    api.settle()
    result: dict[str, Any] = data["recordGitHubData"]
    return result


async def set_members_view_others(api: Api, allowed: bool) -> None:
    data = await api.ok(
        "mutation($v: Int!, $a: Boolean!) { updateOrganizationSettings(input: "
        "{expectedVersion: $v, allowMembersViewOthers: $a}) { __typename "
        "... on UpdateOrganizationSettingsSuccess { organization { settings { "
        "allowMembersViewOthers } } } } }",
        ALICE, {"v": await org_version(api), "a": allowed})
    assert data["updateOrganizationSettings"] == {
        "__typename": "UpdateOrganizationSettingsSuccess",
        "organization": {"settings": {"allowMembersViewOthers": allowed}}}


@pytest.fixture
async def private_team(api: Api) -> Api:
    """Alice, Bob and Charlie all have GitHub data; members may not see each other's."""
    for username in ("charlie-junior", "alice-dev"):
        assert (await record_as(api, ALICE, username))["__typename"] == "RecordGitHubDataSuccess"
    await set_members_view_others(api, False)
    return api


def github_data_query(username: str) -> str:
    return f'{{ githubData(username: "{username}") {{ githubUsername member {{ userId }} }} }}'


@pytest.mark.parametrize(("caller", "own", "other"), [
    pytest.param(BOB, "bob-senior", "charlie-junior", id="bob"),
    pytest.param(CHARLIE, "charlie-junior", "bob-senior", id="charlie"),
])
async def test_with_others_hidden_a_member_sees_his_own_github_data_but_not_anothers(
        private_team: Api, caller: Caller, own: str, other: str) -> None:
    mine = await private_team.run(github_data_query(own), caller)
    theirs = await private_team.run(github_data_query(other), caller)

    assert mine.errors == []
    assert mine.data == {"githubData": {"githubUsername": own,
                                        "member": {"userId": caller.user_id}}}
    assert theirs.codes == ["FORBIDDEN"]
    assert theirs.errors[0]["message"] == NO_ANALYTICS
    assert theirs.data == {"githubData": None}


async def test_with_others_hidden_a_member_sees_only_his_own_github_data_on_the_member_list(
        private_team: Api) -> None:
    outcome = await private_team.run(MEMBERS_WITH_ANALYTICS, BOB)

    assert outcome.errors == []
    assert outcome.data is not None
    seen = github_data_by_person(outcome.data)
    assert seen[BOB.user_id] is not None
    assert seen[CHARLIE.user_id] is None


@pytest.mark.parametrize(("document", "hidden"), [
    (f'{{ member(userId: "{CHARLIE.user_id}") {{ githubData {{ githubUsername }} }} }}',
     "charlie-junior"),
    ('{ memberByEmail(email: "charlie@startup.com") { githubData { githubUsername } } }',
     "charlie-junior"),
    ('{ githubData(username: "bob-senior") { member { invitedBy { githubData { '
     "githubUsername } } } } }", "alice-dev"),
    ("{ organization { owner { githubData { githubUsername } } } }", "alice-dev"),
])
async def test_with_others_hidden_no_nested_route_reaches_anothers_github_data(
        private_team: Api, document: str, hidden: str) -> None:
    assert f'"githubUsername": "{hidden}"' in json.dumps(await private_team.ok(document, ALICE))

    outcome = await private_team.run(document, BOB)

    assert outcome.errors == []
    assert outcome.data is not None
    assert hidden not in json.dumps(outcome.data)


async def test_with_others_hidden_a_member_is_forbidden_the_teams_github_data(
        private_team: Api) -> None:
    outcome = await private_team.run(TEAM_GITHUB_DATA, BOB)

    assert outcome.codes == ["FORBIDDEN"]
    assert outcome.errors[0]["message"] == NO_TEAM_ANALYTICS
    assert outcome.data is None


async def test_with_others_hidden_an_admin_still_sees_everyones_github_data(
        private_team: Api) -> None:
    listed = github_data_by_person(await private_team.ok(MEMBERS_WITH_ANALYTICS, ALICE))
    team = await private_team.ok(TEAM_GITHUB_DATA, ALICE)
    charlie = await private_team.ok(github_data_query("charlie-junior"), ALICE)

    assert listed[BOB.user_id] is not None
    assert listed[CHARLIE.user_id] is not None
    assert sorted(e["node"]["githubUsername"] for e in team["teamGitHubData"]["edges"]) == [
        "alice-dev", "bob-senior", "charlie-junior"]
    assert charlie["githubData"]["member"] == {"userId": CHARLIE.user_id}


async def test_a_member_sees_anothers_github_data_again_once_the_setting_is_turned_back_on(
        private_team: Api) -> None:
    await set_members_view_others(private_team, True)

    outcome = await private_team.run(github_data_query("charlie-junior"), BOB)
    team = await private_team.run(TEAM_GITHUB_DATA, BOB)

    assert outcome.errors == []
    assert outcome.data == {"githubData": {"githubUsername": "charlie-junior",
                                           "member": {"userId": CHARLIE.user_id}}}
    assert team.errors == []


async def test_by_default_a_member_sees_anothers_github_data(api: Api) -> None:
    outcome = await api.run(github_data_query("bob-senior"), CHARLIE)

    assert outcome.errors == []
    assert outcome.data == {"githubData": {"githubUsername": "bob-senior",
                                           "member": {"userId": BOB.user_id}}}


# recordGitHubData: the design's write_team_data, which only admins hold (issue 11, finding 12)


@pytest.mark.parametrize("username", ["bob-senior", "charlie-junior", "nobody-has-this-name"])
async def test_a_member_may_not_record_github_data_not_even_his_own(
        api: Api, username: str) -> None:
    before = await partition(api.store)

    result = await record_as(api, BOB, username)

    assert result == {"__typename": "PermissionDenied", "code": "PERMISSION_DENIED",
                      "message": lacks("write_team_data")}
    assert await partition(api.store) == before


async def test_a_viewer_may_not_record_github_data_even_for_her_own_username(
        api: Api) -> None:
    await members.update_fields(api.store, await acting_as(api, ALICE), DIANA.user_id,
                                {"githubUsername": "diana-cto"})
    before = await partition(api.store)

    result = await record_as(api, DIANA, "diana-cto")

    assert result["__typename"] == "PermissionDenied"
    assert await partition(api.store) == before


async def test_an_admin_may_record_github_data_for_anyone_in_the_org(api: Api) -> None:
    result = await record_as(api, ALICE, "charlie-junior")
    stored = await api.ok('{ githubData(username: "charlie-junior") { member { userId } } }',
                          ALICE)

    assert result["__typename"] == "RecordGitHubDataSuccess"
    assert stored["githubData"] == {"member": {"userId": CHARLIE.user_id}}
