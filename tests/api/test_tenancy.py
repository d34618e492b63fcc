"""Cross-tenant attacks: org A's people probe org B through every field and argument.

Org B ("org-abc-123", CompetitorCorp) shares one email and one GitHub username with org A,
has a pending invitation whose token we keep, GitHub data, and a report on a date org A has
none for. Every attack must return nothing of B, answer exactly as it would for an id that
exists nowhere, and leave B's partition as it was.
"""

from __future__ import annotations

import asyncio
import binascii
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from strawberry.relay.utils import from_base64

from datastore import analytics, invitations, keys, members, organizations
from datastore.actors import acting
from datastore.records import Role
from datastore.store import Item, Query, Store
from resolvers.context import Caller, make_context
from tests.api.conftest import ALICE, BOB, CHARLIE, DIANA, Api, Outcome, acting_as

A_ORG = ALICE.org_id
A_ROLES = (ALICE, BOB, DIANA)  # admin, member, viewer: the order of Probe.expected
B_ORG = "org-abc-123"
B_ADMIN = Caller("user-mallory-900", B_ORG, "mallory@competitor.io", "Mallory Rival")
B_SHARED_EMAIL_USER = "user-rival-bob-901"  # bob@startup.com, as BOB in org A
B_TRENT = "user-trent-902"  # GitHub username charlie-junior, as CHARLIE in org A
B_REPORT_DATE = "2031-07-04"
SHARED_EMAIL = "bob@startup.com"
SHARED_GITHUB = "charlie-junior"

B_PEOPLE = [  # (user id, email, name, role, GitHub username)
    (B_SHARED_EMAIL_USER, SHARED_EMAIL, "Robert Twofaced", Role.MEMBER, "robert-twofaced"),
    (B_TRENT, "trent@competitor.io", "Trent Outsider", Role.VIEWER, SHARED_GITHUB),
]
B_ANALYSIS = "CompetitorCorp confidential analysis"
B_GITHUB_DATA = {
    "codeQuality": {"overallScore": 9.4, "rating": "Excellent", "analysis": B_ANALYSIS,
                    "issues": [], "recommendations": [], "strengths": ["rival-strength"]},
    "metrics": {"totalCommits": 987654321, "totalPullRequests": 4321, "totalIssues": 77},
    "burnoutRisk": {"riskScore": 8.8, "riskLevel": "HIGH"},
}

NOBODY_ID = "user-nobody-000"
NOBODY_EMAIL = "nobody@nowhere.example"
NOBODY_GITHUB = "nobody-gh-000"
NOBODY_DATE = "2030-01-01"
NOBODY_INVITE = "invite-0000000000000000"
NOBODY_TOKEN = NOBODY_INVITE + ".bm90LWEtcmVhbC10b2tlbi1ub3QtYS1yZWFsLXRva2VuLW5vdA"
NOBODY_CURSOR = "bm90LWEtY3Vyc29yLW5vdC1hLWN1cnNvci1ub3QtYS1jdXJzb3I"


@dataclass(frozen=True)
class Rival:
    """What org B holds that org A must never reach."""

    invite_id: str
    invite_token: str
    cursors: dict[str, str]  # connection field -> a cursor B was given for it
    secrets: frozenset[str]  # strings that must never appear in an answer to org A

    def leaked(self, outcome: Outcome, *, sent: tuple[str, ...] = ()) -> list[str]:
        """B's strings in the answer, apart from those the caller sent itself; global ids
        are read decoded too, so a B value inside an opaque id counts as leaked."""
        answer = {"data": outcome.data, "errors": outcome.errors}
        text = "\n".join([json.dumps(answer), *decoded_ids(answer)])
        return sorted(s for s in self.secrets - set(sent) if s in text)


def decoded_ids(value: Any) -> Iterator[str]:
    """Every string in ``value`` that decodes as a Relay global id, decoded."""
    if isinstance(value, dict):
        for v in value.values():
            yield from decoded_ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from decoded_ids(v)
    elif isinstance(value, str):
        try:
            type_name, node_id = from_base64(value)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            return
        yield f"{type_name}:{node_id}"


async def partition(store: Store, org_id: str) -> list[Item]:
    return await store.query_all(Query(partition=keys.org_pk(org_id), consistent=True))


async def build_rival(api: Api) -> Rival:
    store = api.store
    _, admin = await organizations.create(
        store, B_ORG, "CompetitorCorp", B_ADMIN.user_id, str(B_ADMIN.email),
        str(B_ADMIN.name), plan="pro", github_username="mallory-gh")
    for user_id, email, name, role, github in B_PEOPLE:
        _, token = await invitations.create(store, acting(admin), email, role, name=name,
                                            github_username=github)
        await invitations.accept(store, B_ORG, token, user_id, email, name)
    pending, token = await invitations.create(
        store, acting(admin), "peggy@competitor.io", Role.ADMIN, name="Peggy Pending",
        github_username="peggy-pending")
    for github, owner in (("mallory-gh", B_ADMIN.user_id),
                          ("robert-twofaced", B_SHARED_EMAIL_USER), (SHARED_GITHUB, B_TRENT)):
        await analytics.record_github_data(store, acting(admin), github, B_GITHUB_DATA,
                                           user_id=owner, data_source="competitor-scraper")
    await analytics.generate_team_report(store, acting(admin), B_REPORT_DATE)
    # The demo analyzes Charlie too: the shared username is to have analytics in B only.
    await store.delete(keys.github_data(A_ORG, SHARED_GITHUB))
    api.settle()
    cursors = {}
    for field in ("members", "invitations", "activity"):
        data = await api.ok(f"{{ {field}(first: 1) {{ pageInfo {{ endCursor }} }} }}", B_ADMIN)
        cursors[field] = data[field]["pageInfo"]["endCursor"]
    items = await partition(store, B_ORG)
    event_ids = {i["eventId"] for i in items if i.get("entityType") == "ACTIVITY"}
    assert len(event_ids) >= 8
    secrets = {
        B_ORG, "CompetitorCorp", B_ADMIN.user_id, B_SHARED_EMAIL_USER, B_TRENT,
        "mallory@competitor.io", "trent@competitor.io", "peggy@competitor.io",
        "Mallory Rival", "Robert Twofaced", "Trent Outsider", "Peggy Pending",
        "mallory-gh", "robert-twofaced", "peggy-pending", pending.invite_id, token,
        token.partition(".")[2], B_ANALYSIS, "rival-strength", "987654321",
        "competitor-scraper", B_REPORT_DATE, *event_ids,
    }
    return Rival(pending.invite_id, token, cursors, frozenset(secrets))


@pytest.fixture
async def rival(api: Api) -> Rival:
    return await build_rival(api)


def verdict(outcome: Outcome, field: str) -> str:
    """One word for an answer: its error codes, null, or the result's type name."""
    if outcome.errors:
        return ",".join(outcome.codes)
    assert outcome.data is not None
    value = outcome.data[field]
    if value is None:
        return "null"
    return str(value.get("__typename", "data")) if isinstance(value, dict) else "data"


# Probes: each names a value of B, and what each role of A gets back (admin, member, viewer)

PAYLOAD = "__typename ... on MutationError { code message }"
INVITATION_PAYLOAD = PAYLOAD + " ... on InvitationUnavailable { reason }"
MEMBER_FIELDS = "id userId email name role githubUsername invitedBy { id userId name }"


@dataclass(frozen=True)
class Probe:
    name: str
    field: str
    document: str
    rival_value: Callable[[Rival], str]
    nobody: str
    expected: tuple[str, str, str]


PROBES = [
    Probe("member by B's admin id", "member",
          f"query($x: ID!) {{ member(userId: $x) {{ {MEMBER_FIELDS} }} }}",
          lambda r: B_ADMIN.user_id, NOBODY_ID, ("null", "null", "null")),
    Probe("member by the id of B's person with the shared email", "member",
          f"query($x: ID!) {{ member(userId: $x) {{ {MEMBER_FIELDS} }} }}",
          lambda r: B_SHARED_EMAIL_USER, NOBODY_ID, ("null", "null", "null")),
    Probe("memberByEmail with an email only B has", "memberByEmail",
          f"query($x: String!) {{ memberByEmail(email: $x) {{ {MEMBER_FIELDS} }} }}",
          lambda r: "trent@competitor.io", NOBODY_EMAIL, ("null", "null", "null")),
    Probe("memberByEmail with the email of B's pending invitation", "memberByEmail",
          f"query($x: String!) {{ memberByEmail(email: $x) {{ {MEMBER_FIELDS} }} }}",
          lambda r: "peggy@competitor.io", NOBODY_EMAIL, ("null", "null", "null")),
    Probe("githubData of a username only B has", "githubData",
          """query($x: String!) { githubData(username: $x) {
               githubUsername dataSource codeQuality { analysis } member { id name } } }""",
          lambda r: "robert-twofaced", NOBODY_GITHUB, ("null", "null", "FORBIDDEN")),
    Probe("githubData of a username both orgs have, recorded only in B", "githubData",
          """query($x: String!) { githubData(username: $x) {
               githubUsername dataSource codeQuality { analysis } member { id name } } }""",
          lambda r: SHARED_GITHUB, NOBODY_GITHUB, ("null", "null", "FORBIDDEN")),
    Probe("teamReport on B's report date", "teamReport",
          """query($x: String) { teamReport(date: $x) {
               reportDate generatedByName generatedBy { id } topPerformers { userId name }
               burnoutRisks { userId name } summary { totalMembers totalCommits } } }""",
          lambda r: B_REPORT_DATE, NOBODY_DATE, ("null", "null", "null")),
    Probe("revokeInvitation of B's pending invitation", "revokeInvitation",
          f"""mutation($x: ID!) {{ revokeInvitation(input: {{invitationId: $x}}) {{
               {INVITATION_PAYLOAD}
               ... on RevokeInvitationSuccess {{ invitation {{ id invitationId email status }}
               }} }} }}""",
          lambda r: r.invite_id, NOBODY_INVITE,
          ("NotFound", "PermissionDenied", "PermissionDenied")),
    Probe("changeMemberRole promoting B's member to admin", "changeMemberRole",
          f"""mutation($x: ID!) {{ changeMemberRole(input: {{userId: $x, role: ADMIN}}) {{
               {PAYLOAD} ... on ChangeMemberRoleSuccess {{ member {{ {MEMBER_FIELDS} }} }}
               }} }}""",
          lambda r: B_SHARED_EMAIL_USER, NOBODY_ID,
          ("NotFound", "PermissionDenied", "PermissionDenied")),
    Probe("changeMemberRole demoting B's only admin", "changeMemberRole",
          f"""mutation($x: ID!) {{ changeMemberRole(input: {{userId: $x, role: VIEWER}}) {{
               {PAYLOAD} ... on ChangeMemberRoleSuccess {{ member {{ {MEMBER_FIELDS} }} }}
               }} }}""",
          lambda r: B_ADMIN.user_id, NOBODY_ID,
          ("NotFound", "PermissionDenied", "PermissionDenied")),
    Probe("changeMemberRole with a version B's member has", "changeMemberRole",
          f"""mutation($x: ID!) {{
               changeMemberRole(input: {{userId: $x, role: ADMIN, expectedVersion: 1}}) {{
               {PAYLOAD} ... on ChangeMemberRoleSuccess {{ member {{ {MEMBER_FIELDS} }} }}
               }} }}""",
          lambda r: B_TRENT, NOBODY_ID, ("NotFound", "PermissionDenied", "PermissionDenied")),
    Probe("removeMember of B's member", "removeMember",
          f"""mutation($x: ID!) {{ removeMember(input: {{userId: $x}}) {{ {PAYLOAD}
               ... on RemoveMemberSuccess {{ member {{ {MEMBER_FIELDS} }} }} }} }}""",
          lambda r: B_TRENT, NOBODY_ID, ("NotFound", "PermissionDenied", "PermissionDenied")),
    Probe("removeMember of B's admin", "removeMember",
          f"""mutation($x: ID!) {{ removeMember(input: {{userId: $x}}) {{ {PAYLOAD}
               ... on RemoveMemberSuccess {{ member {{ {MEMBER_FIELDS} }} }} }} }}""",
          lambda r: B_ADMIN.user_id, NOBODY_ID,
          ("NotFound", "PermissionDenied", "PermissionDenied")),
    Probe("acceptInvitation with B's token", "acceptInvitation",
          f"""mutation($x: String!) {{ acceptInvitation(input: {{token: $x}}) {{
               {INVITATION_PAYLOAD}
               ... on AcceptInvitationSuccess {{ member {{ {MEMBER_FIELDS} }} }} }} }}""",
          lambda r: r.invite_token, NOBODY_TOKEN,
          ("AlreadyExists", "AlreadyExists", "AlreadyExists")),
    Probe("members after B's members cursor", "members",
          "query($x: String!) { members(first: 5, after: $x) { edges { node { id } } } }",
          lambda r: r.cursors["members"], NOBODY_CURSOR,
          ("BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT")),
    Probe("invitations after B's invitations cursor", "invitations",
          "query($x: String!) { invitations(first: 5, after: $x) { edges { node { id } } } }",
          lambda r: r.cursors["invitations"], NOBODY_CURSOR,
          ("BAD_USER_INPUT", "FORBIDDEN", "FORBIDDEN")),
    Probe("activity after B's activity cursor", "activity",
          "query($x: String!) { activity(first: 5, after: $x) { edges { node { id } } } }",
          lambda r: r.cursors["activity"], NOBODY_CURSOR,
          ("BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT")),
    Probe("invitations after B's members cursor", "invitations",
          "query($x: String!) { invitations(first: 5, after: $x) { edges { node { id } } } }",
          lambda r: r.cursors["members"], NOBODY_CURSOR,
          ("BAD_USER_INPUT", "FORBIDDEN", "FORBIDDEN")),
    Probe("activity after B's members cursor", "activity",
          "query($x: String!) { activity(first: 5, after: $x) { edges { node { id } } } }",
          lambda r: r.cursors["members"], NOBODY_CURSOR,
          ("BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT")),
]


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name.replace(" ", "-"))
async def test_probing_with_another_orgs_value_answers_as_for_a_value_that_exists_nowhere(
        api: Api, rival: Rival, probe: Probe) -> None:
    b_before, a_before = await partition(api.store, B_ORG), await partition(api.store, A_ORG)

    for caller, expected in zip(A_ROLES, probe.expected, strict=True):
        attack = await api.run(probe.document, caller, {"x": probe.rival_value(rival)})
        control = await api.run(probe.document, caller, {"x": probe.nobody})

        assert verdict(attack, probe.field) == expected, caller.user_id
        assert (attack.data, attack.errors) == (control.data, control.errors), caller.user_id
        assert rival.leaked(attack) == [], caller.user_id
        assert await partition(api.store, B_ORG) == b_before, caller.user_id
        assert await partition(api.store, A_ORG) == a_before, caller.user_id


# Lookups that must answer from org A only


async def global_ids(api: Api, *user_ids: str) -> dict[str, str]:
    """The global ids of people of org A, by user id, as org A's admin reads them."""
    found = {}
    for user_id in user_ids:
        data = await api.ok("query($u: ID!) { member(userId: $u) { id } }", ALICE,
                            {"u": user_id})
        found[user_id] = data["member"]["id"]
    return found


@pytest.mark.parametrize("email", [SHARED_EMAIL, "  BOB@Startup.COM "])
async def test_member_by_email_in_both_orgs_returns_only_the_callers_orgs_person(
        api: Api, rival: Rival, email: str) -> None:
    ids = await global_ids(api, BOB.user_id, ALICE.user_id)
    for caller in A_ROLES:
        outcome = await api.run(
            f"query($e: String!) {{ memberByEmail(email: $e) {{ {MEMBER_FIELDS} }} }}", caller,
            {"e": email})

        assert outcome.errors == [], caller.user_id
        assert outcome.data == {"memberByEmail": {
            "id": ids[BOB.user_id], "userId": BOB.user_id, "email": SHARED_EMAIL,
            "name": "Bob Senior", "role": "MEMBER", "githubUsername": "bob-senior",
            "invitedBy": {"id": ids[ALICE.user_id], "userId": ALICE.user_id,
                          "name": "Alice Developer"}}}, caller.user_id
        assert rival.leaked(outcome) == [], caller.user_id


async def all_member_ids(api: Api, caller: Caller, rival: Rival) -> list[str]:
    """Walk every page of ``members`` one person at a time, checking each page for leaks."""
    seen: list[str] = []
    after = None
    while True:
        outcome = await api.run(
            """query($after: String) { members(first: 1, after: $after) {
                 edges { node { id userId email name githubUsername
                                githubData { id githubUsername } invitedBy { id userId } } }
                 pageInfo { hasNextPage endCursor } } }""", caller, {"after": after})
        assert outcome.errors == []
        assert rival.leaked(outcome) == []
        assert outcome.data is not None
        page = outcome.data["members"]
        seen += [e["node"]["userId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
        assert len(seen) < 20, "paging does not terminate"


async def test_members_lists_only_the_callers_orgs_people_on_every_page(
        api: Api, rival: Rival) -> None:
    own = sorted(p.user_id for p in (ALICE, BOB, CHARLIE, DIANA))
    for caller in A_ROLES:
        assert sorted(await all_member_ids(api, caller, rival)) == own, caller.user_id


async def test_charlie_shows_no_github_data_though_his_username_has_data_in_the_other_org(
        api: Api, rival: Rival) -> None:
    for caller in A_ROLES:
        outcome = await api.run(
            f"""{{ member(userId: "{CHARLIE.user_id}") {{ githubUsername
                   githubData {{ githubUsername dataSource codeQuality {{ analysis }} }} }} }}""",
            caller)

        assert outcome.errors == [], caller.user_id
        assert outcome.data == {"member": {"githubUsername": SHARED_GITHUB,
                                           "githubData": None}}, caller.user_id
        assert rival.leaked(outcome) == [], caller.user_id


async def test_invitations_lists_only_the_callers_orgs_invitations(
        api: Api, rival: Rival) -> None:
    outcome = await api.run(
        """{ invitations(first: 100) { edges { node { id invitationId email name
               githubUsername invitedByName invitedBy { id userId } } }
               pageInfo { hasNextPage } } }""", ALICE)

    assert outcome.errors == []
    assert rival.leaked(outcome) == []
    assert outcome.data is not None
    assert [e["node"]["invitationId"] for e in outcome.data["invitations"]["edges"]] == [
        "invite-abc-123"]


async def test_activity_lists_only_the_callers_orgs_events(api: Api, rival: Rival) -> None:
    own = {i["eventId"] for i in await partition(api.store, A_ORG)
           if i.get("entityType") == "ACTIVITY"}

    for caller in A_ROLES:
        outcome = await api.run(
            """{ activity(first: 100) { edges { node { id eventId action target actorId
                   actor { id userId } } }
                   pageInfo { hasNextPage } } }""", caller)

        assert outcome.errors == [], caller.user_id
        assert rival.leaked(outcome) == [], caller.user_id
        assert outcome.data is not None
        assert {e["node"]["eventId"] for e in outcome.data["activity"]["edges"]} == own, \
            caller.user_id


async def test_team_github_data_holds_only_the_callers_orgs_analytics(
        api: Api, rival: Rival) -> None:
    for caller in (ALICE, BOB):  # viewers are refused the field (see test_permissions)
        outcome = await api.run(
            """{ teamGitHubData(first: 100) { edges { node { id githubUsername dataSource
                   codeQuality { analysis } member { id userId } } } } }""", caller)

        assert outcome.errors == [], caller.user_id
        assert rival.leaked(outcome) == [], caller.user_id
        assert outcome.data is not None
        assert [e["node"]["githubUsername"] for e in outcome.data["teamGitHubData"]["edges"]] \
            == ["alice-dev", "bob-senior"]


async def test_latest_team_report_is_the_callers_orgs_though_the_other_orgs_is_newer(
        api: Api, rival: Rival) -> None:
    own = [i["reportDate"] for i in await partition(api.store, A_ORG)
           if i.get("entityType") == "TEAM_REPORT"]

    for caller in A_ROLES:
        outcome = await api.run(
            """{ teamReport { id reportDate generatedByName generatedBy { id userId }
                   topPerformers { userId name member { id userId } }
                   summary { totalMembers } } }""",
            caller)

        assert outcome.errors == [], caller.user_id
        assert rival.leaked(outcome) == [], caller.user_id
        assert outcome.data is not None
        report = outcome.data["teamReport"]
        assert report["reportDate"] == max(own) < B_REPORT_DATE, caller.user_id
        assert report["summary"]["totalMembers"] == 4, caller.user_id


async def test_organization_and_viewer_describe_only_the_callers_org(
        api: Api, rival: Rival) -> None:
    for caller in A_ROLES:
        outcome = await api.run(
            f"""{{ viewer {{ {MEMBER_FIELDS} }}
                   organization {{ id organizationId name currentMembers
                                   owner {{ {MEMBER_FIELDS} }} }} }}""",
            caller)

        assert outcome.errors == [], caller.user_id
        assert rival.leaked(outcome) == [], caller.user_id
        assert outcome.data is not None
        assert outcome.data["organization"]["organizationId"] == A_ORG
        assert outcome.data["organization"]["currentMembers"] == 4
        assert outcome.data["viewer"]["userId"] == caller.user_id


async def test_writes_naming_the_other_orgs_values_land_in_the_callers_org_only(
        api: Api, rival: Rival) -> None:
    b_before = await partition(api.store, B_ORG)
    invited = await api.run(
        'mutation { inviteMember(input: {email: "mallory@competitor.io"}) { __typename '
        "... on InviteMemberSuccess { invitation { email invitedBy { userId } } } } }", ALICE)
    recorded = await api.run(
        'mutation { recordGitHubData(input: {githubUsername: "robert-twofaced", '
        "codeQuality: {overallScore: 3}, metrics: {}, burnoutRisk: {}}) { __typename "
        "... on RecordGitHubDataSuccess { githubData { githubUsername member { userId } } } } }",
        ALICE)
    generated = await api.run(
        f'mutation {{ generateTeamReport(input: {{date: "{B_REPORT_DATE}"}}) {{ __typename '
        "... on GenerateTeamReportSuccess { teamReport { summary { totalMembers } "
        "topPerformers { userId name } burnoutRisks { userId name } } } } }", ALICE)
    api.settle()
    report = await api.run(f'{{ teamReport(date: "{B_REPORT_DATE}") {{ generatedBy {{ userId }} '
                           "summary { totalMembers } } }", DIANA)
    preferences = await api.run('mutation { updateMyPreferences(input: {language: "fr"}) '
                                "{ __typename } }", BOB)

    assert invited.data == {"inviteMember": {"__typename": "InviteMemberSuccess", "invitation": {
        "email": "mallory@competitor.io", "invitedBy": {"userId": ALICE.user_id}}}}
    assert recorded.data == {"recordGitHubData": {"__typename": "RecordGitHubDataSuccess",
                                                  "githubData": {"githubUsername":
                                                                 "robert-twofaced",
                                                                 "member": None}}}
    assert generated.data is not None
    assert generated.data["generateTeamReport"]["teamReport"]["summary"] == {"totalMembers": 4}
    assert report.data == {"teamReport": {"generatedBy": {"userId": ALICE.user_id},
                                          "summary": {"totalMembers": 4}}}
    assert preferences.data == {"updateMyPreferences": {
        "__typename": "UpdateMyPreferencesSuccess"}}
    sent = ("mallory@competitor.io", "robert-twofaced", B_REPORT_DATE)
    for outcome in (invited, recorded, generated, report, preferences):
        assert outcome.errors == []
        assert rival.leaked(outcome, sent=sent) == []
    assert await partition(api.store, B_ORG) == b_before


# Invitation tokens


NEWCOMER = Caller("user-peggy-999", A_ORG, "peggy@competitor.io", "Peggy Pending")


@pytest.mark.parametrize("garbage", [NOBODY_TOKEN, "not-a-token", "invite-abc-123.x"])
async def test_another_orgs_token_is_as_invalid_as_a_garbage_token_for_a_newcomer(
        api: Api, rival: Rival, garbage: str) -> None:
    document = f"""mutation($t: String!) {{ acceptInvitation(input: {{token: $t}}) {{
                     {INVITATION_PAYLOAD}
                     ... on AcceptInvitationSuccess {{ member {{ id userId }} }} }} }}"""
    b_before, a_before = await partition(api.store, B_ORG), await partition(api.store, A_ORG)

    attack = await api.run(document, NEWCOMER, {"t": rival.invite_token})
    control = await api.run(document, NEWCOMER, {"t": garbage})

    assert attack.errors == []
    assert attack.data == {"acceptInvitation": {
        "__typename": "InvitationUnavailable", "code": "INVITATION_UNAVAILABLE",
        "message": invitations.INVALID, "reason": "INVALID"}}
    assert (attack.data, attack.errors) == (control.data, control.errors)
    assert rival.leaked(attack) == []
    assert await partition(api.store, B_ORG) == b_before
    assert await partition(api.store, A_ORG) == a_before
    viewer = await api.ok("{ viewer { id } }", NEWCOMER)
    assert viewer == {"viewer": None}


async def test_another_orgs_token_still_works_in_its_own_org_after_the_attacks(
        api: Api, rival: Rival) -> None:
    document = f"""mutation($t: String!) {{ acceptInvitation(input: {{token: $t}}) {{
                     {INVITATION_PAYLOAD}
                     ... on AcceptInvitationSuccess {{ member {{ userId role }} }} }} }}"""
    await api.run(document, NEWCOMER, {"t": rival.invite_token})

    joined = await api.ok(document, Caller(NEWCOMER.user_id, B_ORG, NEWCOMER.email,
                                           NEWCOMER.name), {"t": rival.invite_token})

    assert joined == {"acceptInvitation": {
        "__typename": "AcceptInvitationSuccess",
        "member": {"userId": NEWCOMER.user_id, "role": "ADMIN"}}}


# Cursors


async def own_cursor(api: Api, caller: Caller, field: str) -> str:
    data = await api.ok(f"{{ {field}(first: 1) {{ pageInfo {{ endCursor }} }} }}", caller)
    cursor = data[field]["pageInfo"]["endCursor"]
    assert isinstance(cursor, str)
    return cursor


@pytest.mark.parametrize(("made_on", "replayed_on"), [
    ("members", "invitations"), ("members", "activity"), ("activity", "members"),
    ("invitations", "members"), ("invitations", "activity"),
])
async def test_a_cursor_replayed_on_another_field_is_rejected(
        api: Api, made_on: str, replayed_on: str) -> None:
    cursor = await own_cursor(api, ALICE, made_on)

    outcome = await api.run(
        f"query($c: String!) {{ {replayed_on}(first: 5, after: $c) {{ pageInfo "
        "{ hasNextPage } } }", ALICE, {"c": cursor})

    assert outcome.codes == ["BAD_USER_INPUT"]
    assert outcome.data is None
    assert outcome.errors[0]["message"] == (
        f"the cursor is not valid for {replayed_on}; request the first page again without "
        "`after`")


async def test_a_cursor_replayed_on_its_own_field_by_its_own_org_continues_the_list(
        api: Api) -> None:
    cursor = await own_cursor(api, ALICE, "members")

    data = await api.ok("query($c: String!) { members(first: 5, after: $c) "
                        "{ edges { node { id } } } }", ALICE, {"c": cursor})

    assert len(data["members"]["edges"]) == 3


async def test_a_cursor_of_the_callers_own_org_is_rejected_when_replayed_by_the_other_org(
        api: Api, rival: Rival) -> None:
    cursor = await own_cursor(api, ALICE, "members")

    outcome = await api.run("query($c: String!) { members(first: 5, after: $c) "
                            "{ edges { node { id } } } }", B_ADMIN, {"c": cursor})

    assert outcome.codes == ["BAD_USER_INPUT"]
    assert outcome.data is None


# Callers whose org claim names an org they are not a member of


@dataclass(frozen=True)
class Stranger:
    caller: Caller
    user_id: str  # a person of the claimed org
    email: str
    github: str
    invite_id: str


def strangers() -> list[Any]:
    return [
        pytest.param(Stranger(Caller("user-eve-666", A_ORG, "eve@evil.example", "Eve"),
                              BOB.user_id, SHARED_EMAIL, "bob-senior", "invite-abc-123"),
                     id="nobody-claiming-A"),
        pytest.param(Stranger(Caller(B_ADMIN.user_id, A_ORG, B_ADMIN.email, B_ADMIN.name),
                              BOB.user_id, SHARED_EMAIL, "bob-senior", "invite-abc-123"),
                     id="B-admin-claiming-A"),
        pytest.param(Stranger(Caller(ALICE.user_id, B_ORG, ALICE.email, ALICE.name),
                              B_SHARED_EMAIL_USER, SHARED_EMAIL, "robert-twofaced", ""),
                     id="A-admin-claiming-B"),
    ]


STRANGER_QUERIES = [
    ("organization", "{ organization { id name } }"),
    ("member", "query($u: ID!) { member(userId: $u) { id email } }"),
    ("memberByEmail", "query($e: String!) { memberByEmail(email: $e) { id email } }"),
    ("members", "{ members { edges { node { id } } } }"),
    ("invitations", "{ invitations { edges { node { id } } } }"),
    ("githubData", "query($g: String!) { githubData(username: $g) { githubUsername } }"),
    ("teamGitHubData", "{ teamGitHubData { edges { node { githubUsername } } } }"),
    ("teamReport", "{ teamReport { reportDate } }"),
    ("activity", "{ activity { edges { node { id } } } }"),
]

STRANGER_MUTATIONS = [
    ("updateOrganizationSettings", "mutation { updateOrganizationSettings(input: "
                                   "{expectedVersion: 1, name: \"Pwned\"}) { __typename } }"),
    ("inviteMember", "mutation { inviteMember(input: {email: \"eve2@evil.example\", "
                     "role: ADMIN}) { __typename } }"),
    ("revokeInvitation", "mutation($i: ID!) { revokeInvitation(input: {invitationId: $i}) "
                         "{ __typename } }"),
    ("changeMemberRole", "mutation($u: ID!) { changeMemberRole(input: {userId: $u, "
                         "role: VIEWER}) { __typename } }"),
    ("removeMember", "mutation($u: ID!) { removeMember(input: {userId: $u}) { __typename } }"),
    ("updateMyPreferences", "mutation { updateMyPreferences(input: {language: \"xx\"}) "
                            "{ __typename } }"),
    ("recordGitHubData", "mutation($g: String!) { recordGitHubData(input: {githubUsername: $g, "
                         "codeQuality: {overallScore: 1}, metrics: {}, burnoutRisk: {}}) "
                         "{ __typename } }"),
    ("generateTeamReport", "mutation { generateTeamReport(input: {date: \"2029-01-01\"}) "
                           "{ __typename } }"),
]


def stranger_variables(s: Stranger, rival: Rival) -> dict[str, str]:
    return {"u": s.user_id, "e": s.email, "g": s.github, "i": s.invite_id or rival.invite_id}


def used(document: str, variables: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if f"${k}" in document}


@pytest.mark.parametrize("stranger", strangers())
async def test_a_caller_claiming_an_org_they_do_not_belong_to_gets_forbidden_and_no_data(
        api: Api, rival: Rival, stranger: Stranger) -> None:
    variables = stranger_variables(stranger, rival)
    viewer = await api.run("{ viewer { id } }", stranger.caller)
    assert (viewer.data, viewer.errors) == ({"viewer": None}, [])

    for field, document in STRANGER_QUERIES:
        outcome = await api.run(document, stranger.caller, used(document, variables))
        assert outcome.codes == ["FORBIDDEN"], field
        assert outcome.data in (None, {field: None}), field
        assert rival.leaked(outcome) == [], field


@pytest.mark.parametrize("stranger", strangers())
async def test_a_caller_claiming_an_org_they_do_not_belong_to_may_change_nothing(
        api: Api, rival: Rival, stranger: Stranger) -> None:
    variables = stranger_variables(stranger, rival)
    b_before, a_before = await partition(api.store, B_ORG), await partition(api.store, A_ORG)

    for field, document in STRANGER_MUTATIONS:
        outcome = await api.run(document, stranger.caller, used(document, variables))
        assert (outcome.data, outcome.errors) == ({field: {"__typename": "PermissionDenied"}},
                                                  []), field

    assert await partition(api.store, B_ORG) == b_before
    assert await partition(api.store, A_ORG) == a_before


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [r async for r in stream]


@pytest.mark.parametrize("stranger", strangers())
async def test_a_caller_claiming_an_org_they_do_not_belong_to_cannot_subscribe_to_its_activity(
        api: Api, rival: Rival, stranger: Stranger) -> None:
    ctx = await make_context(api.store, stranger.caller, api.settings, api.broker)

    stream = await api.schema.subscribe("subscription { activity { id action } }",
                                        context_value=ctx)
    try:  # a refused subscription yields its error and ends; an accepted one would wait
        results = await asyncio.wait_for(collect(stream), timeout=5)
    finally:
        await stream.aclose()

    assert [(r.data, [(e.extensions or {}).get("code") for e in r.errors or []])
            for r in results] == [(None, ["FORBIDDEN"])]
    assert api.broker.subscribers(stranger.caller.org_id) == 0


# Live activity


async def test_a_subscriber_receives_its_own_orgs_events_and_never_the_other_orgs(
        api: Api, rival: Rival) -> None:
    ctx = await make_context(api.store, ALICE, api.settings, api.broker)
    stream = await api.schema.subscribe("subscription { activity { id action target } }",
                                        context_value=ctx)
    assert hasattr(stream, "__aiter__")
    first = asyncio.ensure_future(stream.__anext__())
    for _ in range(100):  # let the subscription attach to the broker
        if api.broker.subscribers(A_ORG):
            break
        await asyncio.sleep(0.01)
    assert api.broker.subscribers(A_ORG) == 1

    await api.ok('mutation { generateTeamReport(input: {date: "2031-07-05"}) { __typename } }',
                 B_ADMIN)
    await api.ok('mutation { generateTeamReport(input: {date: "2029-02-02"}) { __typename } }',
                 ALICE)
    received = await asyncio.wait_for(first, timeout=5)
    await stream.aclose()

    assert received.errors is None
    assert received.data is not None
    assert received.data["activity"]["action"] == "team_report.generated"
    assert received.data["activity"]["target"] == "2029-02-02"


# Identity follows the membership record, not the token


async def test_a_removed_member_is_refused_on_their_very_next_request(
        api: Api, rival: Rival) -> None:
    before = await api.run("{ members { edges { node { userId } } } }", CHARLIE)
    assert before.errors == []

    removed = await api.ok(f"""mutation {{ removeMember(input: {{userId: "{CHARLIE.user_id}"}})
                                 {{ __typename }} }}""", ALICE)
    assert removed == {"removeMember": {"__typename": "RemoveMemberSuccess"}}

    viewer = await api.run("{ viewer { id } }", CHARLIE)
    assert (viewer.data, viewer.errors) == ({"viewer": None}, [])
    for field, document in STRANGER_QUERIES:
        variables = {"u": BOB.user_id, "e": SHARED_EMAIL, "g": "bob-senior"}
        outcome = await api.run(document, CHARLIE, used(document, variables))
        assert outcome.codes == ["FORBIDDEN"], field
        assert outcome.data in (None, {field: None}), field
    denied = await api.ok('mutation { updateMyPreferences(input: {language: "de"}) '
                          "{ __typename } }", CHARLIE)
    assert denied == {"updateMyPreferences": {"__typename": "PermissionDenied"}}


ADMIN_ONLY_READ = "{ invitations { edges { node { id } } } }"
ADMIN_ONLY_WRITE = ('mutation { inviteMember(input: {email: "zed@startup.com"}) '
                    "{ __typename } }")


async def change_role(api: Api, actor: Caller, user_id: str, role: str) -> None:
    data = await api.ok(f"""mutation {{ changeMemberRole(input: {{userId: "{user_id}",
                              role: {role}}}) {{ __typename }} }}""", actor)
    assert data == {"changeMemberRole": {"__typename": "ChangeMemberRoleSuccess"}}


async def test_a_demoted_admin_loses_admin_only_fields_on_their_very_next_request(
        api: Api) -> None:
    await change_role(api, ALICE, BOB.user_id, "ADMIN")
    assert (await api.run(ADMIN_ONLY_READ, BOB)).errors == []

    await change_role(api, ALICE, BOB.user_id, "MEMBER")

    read = await api.run(ADMIN_ONLY_READ, BOB)
    assert read.codes == ["FORBIDDEN"]
    assert read.data is None
    usage = await api.run("{ organization { usage { apiCalls { current } } } }", BOB)
    assert usage.codes == ["FORBIDDEN"]
    assert usage.data == {"organization": None}
    write = await api.ok(ADMIN_ONLY_WRITE, BOB)
    assert write == {"inviteMember": {"__typename": "PermissionDenied"}}


async def test_an_admin_demoted_by_another_admin_loses_admin_only_fields_at_once(
        api: Api) -> None:
    await change_role(api, ALICE, BOB.user_id, "ADMIN")
    # Alice owns the organization, and an owner cannot be demoted: she hands it to Bob.
    handed = await api.ok('mutation { transferOwnership(input: {userId: "user-bob-002"}) '
                          "{ __typename } }", ALICE)
    assert handed == {"transferOwnership": {"__typename": "TransferOwnershipSuccess"}}
    await change_role(api, BOB, ALICE.user_id, "VIEWER")

    read = await api.run(ADMIN_ONLY_READ, ALICE)
    write = await api.ok(ADMIN_ONLY_WRITE, ALICE)
    analytics_ = await api.run('{ githubData(username: "bob-senior") { githubUsername } }',
                               ALICE)

    assert read.codes == ["FORBIDDEN"]
    assert write == {"inviteMember": {"__typename": "PermissionDenied"}}
    assert analytics_.codes == ["FORBIDDEN"]


async def test_a_suspended_member_is_refused_though_the_record_still_exists(api: Api) -> None:
    await members.suspend(api.store, await acting_as(api, ALICE), CHARLIE.user_id)

    listed = await api.run("{ members { edges { node { id } } } }", CHARLIE)
    write = await api.ok('mutation { updateMyPreferences(input: {language: "de"}) '
                         "{ __typename } }", CHARLIE)

    assert listed.codes == ["FORBIDDEN"]
    assert listed.data is None
    assert write == {"updateMyPreferences": {"__typename": "PermissionDenied"}}


async def test_a_removed_members_open_subscription_ends_and_delivers_nothing_more(
        api: Api) -> None:
    ctx = await make_context(api.store, CHARLIE, api.settings, api.broker)
    stream = await api.schema.subscribe("subscription { activity { action target } }",
                                        context_value=ctx)
    assert isinstance(stream, AsyncIterator)
    received: list[Any] = []

    async def drain() -> None:
        async for result in stream:
            received.append(result.data)

    reader = asyncio.ensure_future(drain())
    for _ in range(100):  # let the subscription attach to the broker
        if api.broker.subscribers(A_ORG):
            break
        await asyncio.sleep(0.01)
    assert api.broker.subscribers(A_ORG) == 1

    await api.ok(f'mutation {{ removeMember(input: {{userId: "{CHARLIE.user_id}"}}) '
                 "{ __typename } }", ALICE)
    await api.ok('mutation { generateTeamReport(input: {date: "2029-03-03"}) { __typename } }',
                 ALICE)
    await asyncio.wait({reader}, timeout=2)
    ended = reader.done()
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await stream.aclose()

    notice = {"activity": {"action": "member.removed", "target": CHARLIE.user_id}}
    assert [r for r in received if r != notice] == []
    assert ended, "the removed member's subscription is still open"
