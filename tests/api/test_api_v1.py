"""API 1.0: global ids and node(id:), DateTime instants, typed mutation results, paging both
ways with totalCount, and mutation results resolved under the state after the mutation."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any

import pytest
import strawberry

from datastore import demo, members
from datastore.errors import LastAdmin
from resolvers.context import Caller
from schema.errors import ExpectedFailures, MaskUnexpectedErrors, NotFound
from tests.api.conftest import ALICE, BOB, DIANA, Api

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FOUNDER = Caller("user-abc-123", "org-second-1", "alice@startup.com", "Alice Developer")
ERR = "__typename ... on MutationError { code message } ... on ValidationError { field }"


async def second_org(api: Api) -> None:
    """Alice also founds a second organization: one person, two memberships."""
    data = await api.ok('mutation { createOrganization(input: {name: "Second"}) '
                        '{ __typename } }', FOUNDER)
    assert data["createOrganization"]["__typename"] == "CreateOrganizationSuccess"


# Global ids


async def test_one_person_in_two_organizations_has_two_membership_ids(api: Api) -> None:
    await second_org(api)
    here = (await api.ok("{ viewer { id userId } }", ALICE))["viewer"]
    there = (await api.ok("{ viewer { id userId } }", FOUNDER))["viewer"]
    assert here["userId"] == there["userId"] == ALICE.user_id
    assert here["id"] != there["id"]


async def test_node_returns_each_kind_of_object_by_its_global_id(api: Api) -> None:
    data = await api.ok("""{ organization { id name }
        members(first: 1) { edges { node { id userId } } }
        activity(first: 1) { edges { node { id action } } } }""")
    org_id = data["organization"]["id"]
    member = data["members"]["edges"][0]["node"]
    event = data["activity"]["edges"][0]["node"]
    found = await api.ok("""query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
        ... on Organization { name } ... on Member { userId } ... on ActivityEvent { action }
        } }""", variables={"ids": [org_id, member["id"], event["id"]]})
    assert found["nodes"] == [
        {"__typename": "Organization", "id": org_id, "name": data["organization"]["name"]},
        {"__typename": "Member", "id": member["id"], "userId": member["userId"]},
        {"__typename": "ActivityEvent", "id": event["id"], "action": event["action"]}]


async def test_an_id_of_another_organization_answers_like_one_that_never_existed(
        api: Api) -> None:
    await second_org(api)
    theirs = (await api.ok("{ viewer { id } organization { id } }", FOUNDER))
    nowhere = base64.b64encode(b"Member:org-nowhere#user-nobody").decode()
    query = "query($id: ID!) { node(id: $id) { id } }"
    for value in (theirs["viewer"]["id"], theirs["organization"]["id"], nowhere):
        outcome = await api.run(query, ALICE, {"id": value})
        assert (outcome.data, outcome.errors) == ({"node": None}, [])


async def test_node_hides_what_the_role_may_not_read(api: Api) -> None:
    invitations = await api.ok("{ invitations(first: 1) { edges { node { id } } } }")
    edges = invitations["invitations"]["edges"]
    if not edges:
        await api.ok('mutation { inviteMember(input: {email: "new@startup.com"}) '
                     '{ __typename } }')
        api.settle()
        edges = (await api.ok("{ invitations(first: 1) { edges { node { id } } } }")
                 )["invitations"]["edges"]
    invitation_id = edges[0]["node"]["id"]
    query = "query($id: ID!) { node(id: $id) { __typename } }"
    assert (await api.ok(query, ALICE, {"id": invitation_id}))["node"] == {
        "__typename": "Invitation"}
    assert (await api.ok(query, DIANA, {"id": invitation_id}))["node"] is None


async def test_a_value_that_is_not_a_global_id_is_a_clear_error(api: Api) -> None:
    outcome = await api.run('{ node(id: "not-an-id") { id } }')
    assert outcome.codes == ["BAD_USER_INPUT"]
    assert "not an id this API issued" in outcome.errors[0]["message"]


async def test_nodes_batches_its_people_into_one_store_call(api: Api) -> None:
    data = await api.ok("{ members(first: 4) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in data["members"]["edges"]]
    outcome = await api.run("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", BOB,
                            {"ids": ids})
    assert outcome.data == {"nodes": [{"id": i} for i in ids]}
    # The caller's membership, then the four people in one read (a BatchGetItem, or a
    # Query of every person when that costs less, as here: they are the whole team).
    assert outcome.calls.total == 2, outcome.calls.calls


# Instants


async def test_every_instant_is_an_iso_utc_string_with_milliseconds(api: Api) -> None:
    await api.ok('mutation { inviteMember(input: {email: "iso@startup.com"}) '
                 '{ __typename } }')
    api.settle()
    data = await api.ok("""{ viewer { joinedAt }
        organization { createdAt updatedAt }
        invitations(first: 5) { edges { node { createdAt expiresAt } } }
        githubData(username: "bob-senior") { cachedAt expiresAt }
        activity(first: 1) { edges { node { at } } } }""")
    instants = [data["viewer"]["joinedAt"], *data["organization"].values(),
                data["activity"]["edges"][0]["node"]["at"]]
    for edge in data["invitations"]["edges"]:
        instants += edge["node"].values()
    if data["githubData"]:
        instants += data["githubData"].values()
    assert len(instants) >= 6
    assert all(ISO_MS.match(v) for v in instants), instants


# Typed mutation results


async def test_an_id_that_cannot_exist_is_a_typed_validation_error(api: Api) -> None:
    data = await api.ok(f'mutation {{ removeMember(input: {{userId: "bad#id"}}) {{ {ERR} }} }}')
    assert data["removeMember"]["__typename"] == "ValidationError"
    assert data["removeMember"]["field"] == "userId"
    assert data["removeMember"]["code"] == "VALIDATION"
    data = await api.ok(f'mutation {{ removeMember(input: {{userId: "nobody"}}) {{ {ERR} }} }}')
    assert (data["removeMember"]["__typename"], data["removeMember"]["code"]) == (
        "NotFound", "NOT_FOUND")


@strawberry.type
class Done:
    ok: bool


@strawberry.type
class PingQuery:
    ping: bool = True


@strawberry.type
class UndeclaredMutation:
    @strawberry.mutation(extensions=[ExpectedFailures()])
    async def act(self) -> Annotated[Done | NotFound, strawberry.union("ActResult")]:
        raise LastAdmin("the organization must keep one admin")


async def test_an_error_a_mutation_does_not_declare_is_masked() -> None:
    schema = strawberry.Schema(query=PingQuery, mutation=UndeclaredMutation,
                               extensions=[MaskUnexpectedErrors])
    result = await schema.execute("mutation { act { __typename } }")
    assert result.data is None
    assert result.errors is not None
    assert [e.extensions for e in result.errors] == [{"code": "INTERNAL_SERVER_ERROR"}]


async def test_a_mutation_result_resolves_under_the_state_after_it(api: Api) -> None:
    founder = Caller("user-fresh-9", "org-fresh-9", "f@fresh.io", "Fran")
    outcome = await api.run("""mutation { createOrganization(input: {name: "Fresh"}) {
        __typename ... on CreateOrganizationSuccess {
          organization { plan usage { apiCalls { current limit } } }
          admin { role organizations { name role } } } } }""", founder)
    assert outcome.errors == []
    assert outcome.data is not None
    success = outcome.data["createOrganization"]
    assert success["organization"]["plan"] == "FREE"
    assert success["organization"]["usage"]["apiCalls"]["limit"] > 0
    assert success["admin"]["role"] == "ADMIN"


# Paging


async def test_members_pages_backward_to_the_same_people_as_forward(api: Api) -> None:
    forward = (await api.ok("{ members(first: 4) { edges { cursor node { userId } } "
                            "pageInfo { hasNextPage hasPreviousPage } totalCount } }")
               )["members"]
    people = [e["node"]["userId"] for e in forward["edges"]]
    assert forward["totalCount"] == len(people) == 4
    assert forward["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}
    last_two = (await api.ok("{ members(last: 2) { edges { node { userId } } "
                             "pageInfo { hasNextPage hasPreviousPage } } }"))["members"]
    assert [e["node"]["userId"] for e in last_two["edges"]] == people[2:]
    assert last_two["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    before = forward["edges"][2]["cursor"]
    earlier = (await api.ok("query($c: String!) { members(last: 5, before: $c) { edges { "
                            "node { userId } } pageInfo { hasNextPage hasPreviousPage } } }",
                            variables={"c": before}))["members"]
    assert [e["node"]["userId"] for e in earlier["edges"]] == people[:2]
    assert earlier["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}


async def test_paging_both_ways_at_once_is_refused_naming_the_argument(api: Api) -> None:
    outcome = await api.run("{ members(first: 2, last: 2) { totalCount } }")
    assert outcome.codes == ["BAD_USER_INPUT"]
    assert "not both" in outcome.errors[0]["message"]
    outcome = await api.run("{ members(last: 101) { totalCount } }")
    assert outcome.codes == ["BAD_USER_INPUT"]
    assert "between 1 and 100" in outcome.errors[0]["message"]


@pytest.mark.parametrize(("role", "expected"), [("ADMIN", 1), ("MEMBER", 2), ("VIEWER", 1)])
async def test_total_count_comes_from_the_organizations_counters(
        api: Api, role: str, expected: int) -> None:
    outcome = await api.run(f"{{ organization {{ members(role: {role}, first: 1) "
                            "{ totalCount } } }")
    assert outcome.data == {"organization": {"members": {"totalCount": expected}}}
    assert outcome.calls.calls == {"batch_get": 1, "query": 1}  # the caller, the page


async def test_team_github_data_is_a_connection_with_a_count(api: Api) -> None:
    data = await api.ok("{ teamGitHubData(first: 1) { totalCount edges { node { id "
                        "githubUsername } } pageInfo { hasNextPage } } }")
    page = data["teamGitHubData"]
    assert page["totalCount"] >= len(page["edges"]) == 1
    assert page["pageInfo"]["hasNextPage"] == (page["totalCount"] > 1)


async def test_viewer_lists_the_organizations_the_caller_is_in(api: Api) -> None:
    await second_org(api)
    api.settle()
    data = await api.ok("{ viewer { organizations { organizationId name role } } "
                        "member(userId: \"user-bob-002\") { organizations { name } } }")
    assert sorted(o["organizationId"] for o in data["viewer"]["organizations"]) == sorted([
        demo.DEMO_ORG, "org-second-1"])
    assert data["member"] == {"organizations": None}




# New operations


async def invite(api: Api, email: str, role: str = "MEMBER") -> dict[str, Any]:
    data = await api.ok(f"""mutation {{ inviteMember(input: {{email: "{email}", role: {role}}})
        {{ {ERR} ... on InviteMemberSuccess {{ token refreshed
           invitation {{ invitationId role expiresAt }} }} }} }}""")
    result: dict[str, Any] = data["inviteMember"]
    assert result["__typename"] == "InviteMemberSuccess", result
    return result


async def test_inviting_an_email_twice_refreshes_the_pending_invitation(api: Api) -> None:
    first = await invite(api, "twice@startup.com")
    again = await invite(api, "twice@startup.com", "VIEWER")
    assert (first["refreshed"], again["refreshed"]) == (False, True)
    assert again["invitation"]["invitationId"] == first["invitation"]["invitationId"]
    assert again["invitation"]["role"] == "VIEWER"
    api.settle()
    pending = await api.ok("{ invitations(status: PENDING, first: 50) { totalCount edges { "
                           "node { email } } } }")
    emails = [e["node"]["email"] for e in pending["invitations"]["edges"]]
    assert emails.count("twice@startup.com") == 1
    assert pending["invitations"]["totalCount"] == len(emails)


async def test_the_invitee_sees_what_a_token_opens_and_nothing_more(api: Api) -> None:
    token = (await invite(api, "eve@startup.com"))["token"]
    invitee = Caller("user-eve-5", demo.DEMO_ORG, "eve@startup.com", "Eve")
    query = ("query($t: String!) { invitation(token: $t) { organizationName inviterName "
             "role status expiresAt } }")
    seen = (await api.ok(query, invitee, {"t": token}))["invitation"]
    assert {k: v for k, v in seen.items() if k != "expiresAt"} == {
        "organizationName": "My Startup", "inviterName": "Alice Developer", "role": "MEMBER",
        "status": "PENDING"}
    assert ISO_MS.match(seen["expiresAt"])
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (wrong, "invite-nothing.secret", "garbage"):
        assert (await api.ok(query, invitee, {"t": bad}))["invitation"] is None


async def test_a_resent_invitation_has_a_new_token_and_the_old_one_stops_working(
        api: Api) -> None:
    first = await invite(api, "eve@startup.com")
    data = await api.ok(f"""mutation($id: ID!) {{ resendInvitation(input: {{invitationId: $id}})
        {{ {ERR} ... on ResendInvitationSuccess {{ token }} }} }}""",
                        variables={"id": first["invitation"]["invitationId"]})
    new_token = data["resendInvitation"]["token"]
    assert new_token != first["token"]
    invitee = Caller("user-eve-5", demo.DEMO_ORG, "eve@startup.com", "Eve")
    accept = (f"mutation($t: String!) {{ acceptInvitation(input: {{token: $t}}) {{ {ERR} "
              "... on InvitationUnavailable { reason } } }")
    old = (await api.ok(accept, invitee, {"t": first["token"]}))["acceptInvitation"]
    assert (old["__typename"], old["reason"]) == ("InvitationUnavailable", "INVALID")
    joined = (await api.ok(accept, invitee, {"t": new_token}))["acceptInvitation"]
    assert joined["__typename"] == "AcceptInvitationSuccess"


SUSPEND = (f"mutation($u: ID!) {{ suspendMember(input: {{userId: $u}}) {{ {ERR} "
           "... on SuspendMemberSuccess { member { status } } } }")
REACTIVATE = (f"mutation($u: ID!) {{ reactivateMember(input: {{userId: $u}}) {{ {ERR} "
              "... on ReactivateMemberSuccess { member { status } } } }")


async def test_a_suspended_member_reads_nothing_but_their_own_status(api: Api) -> None:
    data = await api.ok(SUSPEND, variables={"u": BOB.user_id})
    assert data["suspendMember"]["member"] == {"status": "SUSPENDED"}
    outcome = await api.run("{ viewer { status invitedBy { name } organizations { name } "
                            "githubData { githubUsername } } }", BOB)
    assert outcome.data == {"viewer": {"status": "SUSPENDED", "invitedBy": None,
                                       "organizations": None, "githubData": None}}
    for query in ("{ organization { name } }", "{ members { totalCount } }",
                  '{ member(userId: "user-abc-123") { name } }'):
        assert (await api.run(query, BOB)).codes == ["FORBIDDEN"], query
    write = await api.ok('mutation { updateMyPreferences(input: {language: "fr"}) '
                         '{ __typename } }', BOB)
    assert write["updateMyPreferences"]["__typename"] == "PermissionDenied"
    counted = await api.ok("{ organization { members(status: SUSPENDED) { totalCount } } }")
    assert counted["organization"]["members"]["totalCount"] == 1
    data = await api.ok(REACTIVATE, variables={"u": BOB.user_id})
    assert data["reactivateMember"]["member"] == {"status": "ACTIVE"}
    assert (await api.ok("{ organization { name } }", BOB))["organization"]["name"]


async def test_suspension_is_an_admins_and_never_of_oneself(api: Api) -> None:
    mine = (await api.ok(SUSPEND, variables={"u": ALICE.user_id}))["suspendMember"]
    assert (mine["__typename"], mine["code"]) == ("CannotSuspendSelf", "CANNOT_SUSPEND_SELF")
    by_member = (await api.ok(SUSPEND, BOB, {"u": DIANA.user_id}))["suspendMember"]
    assert by_member["__typename"] == "PermissionDenied"


async def test_profiles_change_by_an_admin_or_by_the_person(api: Api) -> None:
    data = await api.ok(f"""mutation {{ updateMember(input: {{userId: "user-bob-002",
        name: "Bob Elder"}}) {{ {ERR} ... on UpdateMemberSuccess {{ member {{ name }} }} }} }}""")
    assert data["updateMember"]["member"] == {"name": "Bob Elder"}
    denied = await api.ok('mutation { updateMember(input: {userId: "user-abc-123", '
                          'name: "X"}) { __typename } }', BOB)
    assert denied["updateMember"]["__typename"] == "PermissionDenied"
    mine = await api.ok(f"""mutation {{ updateMyProfile(input: {{githubUsername: "bob-elder"}})
        {{ {ERR} ... on UpdateMyProfileSuccess {{ member {{ githubUsername name }} }} }} }}""",
                        BOB)
    assert mine["updateMyProfile"]["member"] == {"githubUsername": "bob-elder",
                                                 "name": "Bob Elder"}
    bad = await api.ok(f"""mutation {{ updateMyProfile(input: {{githubUsername: "-no-"}})
        {{ {ERR} }} }}""", BOB)
    assert (bad["updateMyProfile"]["__typename"], bad["updateMyProfile"]["field"]) == (
        "ValidationError", "githubUsername")


async def test_the_owner_transfers_ownership_and_the_new_owner_is_an_admin(api: Api) -> None:
    transfer = (f"mutation($u: ID!) {{ transferOwnership(input: {{userId: $u}}) {{ {ERR} "
                "... on TransferOwnershipSuccess { organization { owner { userId } } "
                "owner { role } } } }")
    by_other = (await api.ok(transfer, BOB, {"u": BOB.user_id}))["transferOwnership"]
    assert by_other["__typename"] == "PermissionDenied"
    data = (await api.ok(transfer, ALICE, {"u": BOB.user_id}))["transferOwnership"]
    assert data["organization"]["owner"] == {"userId": BOB.user_id}
    assert data["owner"] == {"role": "ADMIN"}
    again = (await api.ok(transfer, ALICE, {"u": ALICE.user_id}))["transferOwnership"]
    assert again["__typename"] == "PermissionDenied"  # Alice is no longer the owner


async def test_expected_version_means_the_same_on_remove_as_everywhere(api: Api) -> None:
    remove = (f"mutation($v: Int) {{ removeMember(input: {{userId: \"user-bob-002\", "
              f"expectedVersion: $v}}) {{ {ERR} ... on RemoveMemberSuccess {{ member {{ userId "
              "} } } }")
    bob = (await api.ok('{ member(userId: "user-bob-002") { version } }'))["member"]
    stale = (await api.ok(remove, variables={"v": bob["version"] - 1}))["removeMember"]
    assert (stale["__typename"], stale["code"]) == ("VersionConflict", "VERSION_CONFLICT")
    assert (await api.ok('{ member(userId: "user-bob-002") { userId } }'))["member"]
    await api.ok('mutation { updateMyPreferences(input: {language: "de"}) { __typename } }', BOB)
    current = (await api.ok(remove, variables={"v": None}))["removeMember"]
    assert current == {"__typename": "RemoveMemberSuccess", "member": {"userId": BOB.user_id}}


async def test_the_owner_stays_an_active_admin_until_they_transfer(api: Api) -> None:
    await api.ok('mutation { changeMemberRole(input: {userId: "user-bob-002", role: ADMIN}) '
                 '{ __typename } }')
    attempts = {
        "removeMember": 'removeMember(input: {userId: "user-abc-123"})',
        "changeMemberRole": 'changeMemberRole(input: {userId: "user-abc-123", role: MEMBER})',
        "suspendMember": 'suspendMember(input: {userId: "user-abc-123"})',
    }
    for field, call in attempts.items():
        data = await api.ok(f"mutation {{ {call} {{ {ERR} }} }}", BOB)
        assert (data[field]["__typename"], data[field]["code"]) == (
            "OwnerProtected", "OWNER_PROTECTED"), field
    alice = (await api.ok('{ member(userId: "user-abc-123") { role status } }'))["member"]
    assert alice == {"role": "ADMIN", "status": "ACTIVE"}
    await api.ok('mutation { transferOwnership(input: {userId: "user-bob-002"}) '
                 '{ __typename } }')
    data = await api.ok(f'mutation {{ {attempts["changeMemberRole"]} {{ {ERR} }} }}', BOB)
    assert data["changeMemberRole"]["__typename"] == "ChangeMemberRoleSuccess"


async def test_a_github_username_with_a_trailing_newline_is_refused(api: Api) -> None:
    # `$` matches before a final newline: "bob-elder\n" once passed and became a second record.
    data = await api.ok(f"""mutation($g: String!) {{ updateMyProfile(input: {{githubUsername: $g}})
        {{ {ERR} }} }}""", BOB, {"g": "bob-elder\n"})
    assert (data["updateMyProfile"]["__typename"], data["updateMyProfile"]["field"]) == (
        "ValidationError", "githubUsername")


@pytest.mark.parametrize("user_id", ["user-bob-002\n", " user-bob-002", "user-bob-002 ",
                                     "user\x00bob", "user\tbob"])
async def test_an_id_with_a_control_character_or_surrounding_space_is_refused(
        api: Api, user_id: str) -> None:
    """Issue 11: every identifier validated with full matches; an id that differs from
    another only by what a reader cannot see is refused, not looked up."""
    before = await api.store.query_all(members.list_query(demo.DEMO_ORG))
    data = await api.ok("mutation($u: ID!) { changeMemberRole(input: {userId: $u, role: VIEWER})"
                        f" {{ {ERR} }} }}", ALICE, {"u": user_id})
    result = data["changeMemberRole"]
    assert (result["__typename"], result["field"]) == ("ValidationError", "userId")
    assert "control characters or surrounding spaces" in result["message"]
    assert await api.store.query_all(members.list_query(demo.DEMO_ORG)) == before
