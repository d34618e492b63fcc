"""Every mutation: its success, each of its typed failures, and its activity event."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

from datastore import demo, keys
from datastore.records import DAY_SECONDS
from datastore.store import Query, Set
from resolvers.context import Caller
from tests.api.conftest import ALICE, BOB, CHARLIE, DIANA, Api
from tests.conftest import Clock

ERR = "__typename ... on MutationError { code message }"
NEWBIE = Caller("user-new-777", demo.DEMO_ORG, "eve@startup.com", "Eve New")
FOUNDER = Caller("user-founder-1", "org-fresh-1", "founder@fresh.io", "Fran Founder")


async def mutate(api: Api, field: str, args: str, selection: str = "",
                 caller: Caller = ALICE, variables: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    head = "mutation" if variables is None else "mutation($t: String!)"
    data = await api.ok(f"{head} {{ {field}({args}) {{ {ERR} {selection} }} }}", caller,
                        variables)
    result: dict[str, Any] = data[field]
    return result


def iso(seconds: int) -> str:
    """An instant of epoch seconds as the API's DateTime shows it."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


async def org_item(api: Api) -> dict[str, Any]:
    item = await api.store.get(keys.organization(demo.DEMO_ORG), consistent=True)
    assert item is not None
    return item


async def people(api: Api, org: str = demo.DEMO_ORG) -> int:
    return len(await api.store.query_all(Query(partition=keys.org_pk(org),
                                               prefix=keys.MEMBER, consistent=True)))


async def latest_action(api: Api) -> str:
    api.settle()  # the feed is GSI2, eventually consistent: let the last write reach it
    data = await api.ok("{ activity(first: 1) { edges { node { action } } } }")
    action: str = data["activity"]["edges"][0]["node"]["action"]
    return action


async def invite(api: Api, email: str = "eve@startup.com", role: str = "MEMBER") -> str:
    result = await mutate(api, "inviteMember", f'input: {{email: "{email}", role: {role}}}',
                          "... on InviteMemberSuccess { token invitation { invitationId status } }")
    assert result["__typename"] == "InviteMemberSuccess", result
    token: str = result["token"]
    return token


# createOrganization


async def test_create_organization_makes_the_caller_its_admin(api: Api) -> None:
    result = await mutate(api, "createOrganization", 'input: {name: "Fresh"}',
                          "... on CreateOrganizationSuccess { organization { organizationId "
                          "name plan currentMembers maxMembers } admin { userId role email } }",
                          FOUNDER)
    assert result["organization"] == {"organizationId": "org-fresh-1", "name": "Fresh",
                                      "plan": "FREE", "currentMembers": 1, "maxMembers": 5}
    assert result["admin"] == {"userId": "user-founder-1", "role": "ADMIN",
                               "email": "founder@fresh.io"}
    api.settle()  # the feed is GSI2: eventually consistent
    data = await api.ok("{ viewer { role } activity { edges { node { action } } } }", FOUNDER)
    assert data["viewer"] == {"role": "ADMIN"}
    assert data["activity"]["edges"][0]["node"]["action"] == "organization.created"


async def test_create_organization_refuses_an_existing_organization(api: Api) -> None:
    outsider = Caller("user-x", demo.DEMO_ORG, "x@y.io", "X")
    result = await mutate(api, "createOrganization", 'input: {name: "Takeover"}',
                          caller=outsider)
    assert result["code"] == "ALREADY_EXISTS"
    assert (await org_item(api))["name"] == "My Startup"


async def test_a_caller_cannot_choose_the_plan_of_their_organization(api: Api) -> None:
    """Issue 11 finding 10: `plan: ENTERPRISE` gave anyone 1,000 seats. The plan is the
    operator's (DEVINSIGHTS_DEFAULT_PLAN, `devinsights set-plan`), not an input."""
    for plan in ("ENTERPRISE", "PRO", '"enterprise"'):
        outcome = await api.run(f'mutation {{ createOrganization(input: {{name: "Fresh", '
                                f"plan: {plan}}}) {{ {ERR} }} }}", FOUNDER)
        assert outcome.data is None, plan
        [error] = outcome.errors
        assert "not to include unknown field 'plan'" in error["message"], plan
        assert "path" not in error, plan  # refused as a request, before anything ran
    assert await api.store.get(
        keys.organization("org-fresh-1"), consistent=True) is None


async def test_an_organization_starts_on_the_servers_default_plan(api: Api) -> None:
    api.settings = dataclasses.replace(api.settings, default_plan="pro")
    result = await mutate(api, "createOrganization", 'input: {name: "Fresh"}',
                          "... on CreateOrganizationSuccess { organization { plan maxMembers } }",
                          FOUNDER)
    assert result["organization"] == {"plan": "PRO", "maxMembers": 100}


# updateOrganizationSettings


async def test_update_settings_bumps_the_version(api: Api) -> None:
    result = await mutate(api, "updateOrganizationSettings",
                          'input: {expectedVersion: 1, timezone: "Europe/Berlin", '
                          "features: {aiReports: false}}",
                          "... on UpdateOrganizationSettingsSuccess { organization { "
                          "version settings { "
                          "timezone features { aiReports codeQuality } } } }")
    org = result["organization"]
    assert org["version"] == 2
    assert org["settings"]["timezone"] == "Europe/Berlin"
    assert org["settings"]["features"] == {"aiReports": False, "codeQuality": True}
    assert await latest_action(api) == "organization.settings_updated"


async def test_update_settings_with_a_stale_version_conflicts(api: Api) -> None:
    await mutate(api, "updateOrganizationSettings", 'input: {expectedVersion: 1, name: "A"}')
    result = await mutate(api, "updateOrganizationSettings",
                          'input: {expectedVersion: 1, name: "B"}')
    assert result["code"] == "VERSION_CONFLICT"
    assert (await org_item(api))["name"] == "A"


async def test_two_concurrent_settings_updates_one_wins(api: Api) -> None:
    results = await asyncio.gather(*(
        mutate(api, "updateOrganizationSettings", f'input: {{expectedVersion: 1, name: "{n}"}}')
        for n in ("Left", "Right")))
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["UpdateOrganizationSettingsSuccess", "VersionConflict"]
    org = await org_item(api)
    assert org["version"] == 2
    assert org["name"] in {"Left", "Right"}


async def test_update_settings_is_denied_to_members(api: Api) -> None:
    result = await mutate(api, "updateOrganizationSettings",
                          'input: {expectedVersion: 1, name: "Mine"}', caller=BOB)
    assert result["code"] == "PERMISSION_DENIED"
    assert (await org_item(api))["name"] == "My Startup"


async def test_update_settings_rejects_an_unknown_time_zone(api: Api) -> None:
    result = await mutate(api, "updateOrganizationSettings",
                          'input: {expectedVersion: 1, timezone: "Mars/Olympus"}',
                          "... on ValidationError { field }")
    assert (result["code"], result["field"]) == ("VALIDATION", "timezone")
    assert (await org_item(api))["version"] == 1


# inviteMember


async def test_invite_returns_a_token_that_is_stored_only_as_a_hash(api: Api) -> None:
    token = await invite(api)
    everything = await api.store.query_all(Query(partition=keys.org_pk(demo.DEMO_ORG),
                                                 consistent=True))
    assert token not in repr(everything)
    secret = token.split(".", 1)[1]
    assert secret not in repr(everything)
    api.settle()
    data = await api.ok("{ invitations(status: PENDING) { edges { node { email } } } }")
    assert {"node": {"email": "eve@startup.com"}} in data["invitations"]["edges"]
    assert await latest_action(api) == "invitation.created"


async def test_invite_refuses_an_email_already_in_the_org(api: Api) -> None:
    result = await mutate(api, "inviteMember", 'input: {email: "BOB@startup.com"}')
    assert result["code"] == "EMAIL_TAKEN"


async def test_invite_is_denied_to_members_and_viewers(api: Api) -> None:
    for caller in (BOB, DIANA):
        result = await mutate(api, "inviteMember", 'input: {email: "z@startup.com"}',
                              caller=caller)
        assert result["code"] == "PERMISSION_DENIED"
    data = await api.ok("{ invitations { edges { node { email } } } }")
    assert len(data["invitations"]["edges"]) == 1


async def test_invite_validates_the_email(api: Api) -> None:
    result = await mutate(api, "inviteMember", 'input: {email: "not-an-email"}',
                          "... on ValidationError { field }")
    assert (result["code"], result["field"]) == ("VALIDATION", "email")


# acceptInvitation


async def test_accept_adds_the_member_consumes_the_invitation_and_counts(api: Api) -> None:
    token = await invite(api)
    result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                          "... on AcceptInvitationSuccess { member { userId role "
                          "invitedBy { name } } }", NEWBIE, {"t": token})
    assert result["member"] == {"userId": "user-new-777", "role": "MEMBER",
                                "invitedBy": {"name": "Alice Developer"}}
    assert (await org_item(api))["currentMembers"] == 5 == await people(api)
    api.settle()
    data = await api.ok("{ invitations(status: ACCEPTED) { edges { node { email } } } }")
    assert data["invitations"]["edges"] == [{"node": {"email": "eve@startup.com"}}]
    assert await latest_action(api) == "invitation.accepted"


async def test_accept_twice_reports_the_invitation_used(api: Api) -> None:
    token = await invite(api)
    await mutate(api, "acceptInvitation", "input: {token: $t}", caller=NEWBIE,
                 variables={"t": token})
    twin = Caller("user-twin-8", demo.DEMO_ORG, "eve@startup.com", "Eve Twin")
    result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                          "... on InvitationUnavailable { reason }", twin, {"t": token})
    assert (result["code"], result["reason"]) == ("INVITATION_UNAVAILABLE", "USED")
    assert await people(api) == 5


async def test_accept_an_expired_invitation_fails(api: Api, clock: Clock) -> None:
    token = await invite(api)
    clock.advance(DAY_SECONDS + 1)
    result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                          "... on InvitationUnavailable { reason }", NEWBIE, {"t": token})
    assert result["reason"] == "EXPIRED"
    assert await people(api) == 4


async def test_accept_a_garbage_or_tampered_token_fails_as_invalid(api: Api) -> None:
    token = await invite(api)
    for bad in ("garbage", token[:-2] + "xx", "invite-abc-123.whatever"):
        result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                              "... on InvitationUnavailable { reason }", NEWBIE, {"t": bad})
        assert result["reason"] == "INVALID"
    assert await people(api) == 4


async def test_accept_with_another_email_fails(api: Api) -> None:
    token = await invite(api)
    stranger = Caller("user-str-9", demo.DEMO_ORG, "mallory@evil.io", "Mallory")
    result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                          "... on InvitationUnavailable { reason }", stranger, {"t": token})
    assert result["reason"] == "WRONG_EMAIL"
    assert await people(api) == 4


async def test_accept_a_revoked_invitation_fails(api: Api) -> None:
    token = await invite(api)
    await mutate(api, "revokeInvitation", f'input: {{invitationId: "{token.split(".")[0]}"}}')
    result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                          "... on InvitationUnavailable { reason }", NEWBIE, {"t": token})
    assert result["reason"] == "REVOKED"


async def test_accept_when_the_org_is_full_reports_the_limit(api: Api) -> None:
    token = await invite(api)
    await api.store.update(keys.organization(demo.DEMO_ORG), [Set("maxMembers", 4)])
    result = await mutate(api, "acceptInvitation", "input: {token: $t}",
                          "... on MemberLimitReached { maxMembers }", NEWBIE, {"t": token})
    assert (result["code"], result["maxMembers"]) == ("MEMBER_LIMIT_REACHED", 4)
    assert await people(api) == 4
    api.settle()
    data = await api.ok("{ invitations(status: PENDING) { edges { node { email } } } }")
    assert {"node": {"email": "eve@startup.com"}} in data["invitations"]["edges"]


async def test_accept_by_an_existing_member_fails(api: Api) -> None:
    token = await invite(api)
    result = await mutate(api, "acceptInvitation", "input: {token: $t}", caller=BOB,
                          variables={"t": token})
    assert result["code"] == "ALREADY_EXISTS"


# revokeInvitation


async def test_revoke_marks_the_invitation_revoked(api: Api) -> None:
    result = await mutate(api, "revokeInvitation", 'input: {invitationId: "invite-abc-123"}',
                          "... on RevokeInvitationSuccess { invitation { status } }")
    assert result["invitation"] == {"status": "REVOKED"}
    assert await latest_action(api) == "invitation.revoked"


async def test_revoke_an_unknown_invitation_is_not_found(api: Api) -> None:
    result = await mutate(api, "revokeInvitation", 'input: {invitationId: "invite-nope"}')
    assert result["code"] == "NOT_FOUND"


async def test_revoke_is_denied_to_members(api: Api) -> None:
    result = await mutate(api, "revokeInvitation", 'input: {invitationId: "invite-abc-123"}',
                          caller=BOB)
    assert result["code"] == "PERMISSION_DENIED"


# changeMemberRole


async def test_change_role_is_one_update_and_changes_permissions(api: Api) -> None:
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-bob-002", role: VIEWER}',
                          "... on ChangeMemberRoleSuccess { member { role permissions "
                          "version } }")
    assert result["member"] == {"role": "VIEWER", "version": 2,
                                "permissions": ["view_team_stats", "view_reports"]}
    assert await latest_action(api) == "member.role_changed"


async def test_promoting_then_demoting_keeps_one_admin(api: Api) -> None:
    await mutate(api, "changeMemberRole", 'input: {userId: "user-bob-002", role: ADMIN}')
    assert (await org_item(api))["adminCount"] == 2
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-bob-002", role: MEMBER}')
    assert result["__typename"] == "ChangeMemberRoleSuccess"
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-abc-123", role: MEMBER}')
    assert result["code"] == "LAST_ADMIN"
    assert (await org_item(api))["adminCount"] == 1


async def test_demoting_the_last_admin_fails(api: Api) -> None:
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-abc-123", role: VIEWER}')
    assert result["code"] == "LAST_ADMIN"
    data = await api.ok("{ viewer { role } }")
    assert data["viewer"] == {"role": "ADMIN"}


async def test_change_role_with_a_stale_version_conflicts(api: Api) -> None:
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-bob-002", role: VIEWER, expectedVersion: 7}')
    assert result["code"] == "VERSION_CONFLICT"


async def test_change_role_of_an_unknown_person_is_not_found(api: Api) -> None:
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-ghost", role: VIEWER}')
    assert result["code"] == "NOT_FOUND"


async def test_change_role_is_denied_to_members(api: Api) -> None:
    result = await mutate(api, "changeMemberRole",
                          'input: {userId: "user-bob-002", role: ADMIN}', caller=BOB)
    assert result["code"] == "PERMISSION_DENIED"


# removeMember


async def test_remove_deletes_the_person_and_frees_the_seat_and_email(api: Api) -> None:
    result = await mutate(api, "removeMember", 'input: {userId: "user-charlie-003"}',
                          "... on RemoveMemberSuccess { member { userId } }")
    assert result["member"] == {"userId": "user-charlie-003"}
    assert (await org_item(api))["currentMembers"] == 3 == await people(api)
    assert await api.store.get(
        keys.member_email(demo.DEMO_ORG, "charlie@startup.com"), consistent=True) is None
    assert (await api.run("{ viewer { userId } organization { name } }", CHARLIE)).data == {
        "viewer": None, "organization": None}
    assert await latest_action(api) == "member.removed"


async def test_removing_the_last_admin_fails(api: Api) -> None:
    result = await mutate(api, "removeMember", 'input: {userId: "user-abc-123"}')
    assert result["code"] == "LAST_ADMIN"
    assert await people(api) == 4


async def test_remove_an_unknown_person_is_not_found(api: Api) -> None:
    result = await mutate(api, "removeMember", 'input: {userId: "user-ghost"}')
    assert result["code"] == "NOT_FOUND"


async def test_remove_is_denied_to_members(api: Api) -> None:
    result = await mutate(api, "removeMember", 'input: {userId: "user-charlie-003"}',
                          caller=BOB)
    assert result["code"] == "PERMISSION_DENIED"
    assert await people(api) == 4


# updateMyPreferences


async def test_update_my_preferences_changes_only_the_caller(api: Api) -> None:
    result = await mutate(api, "updateMyPreferences",
                          'input: {weeklyReports: true, language: "de"}',
                          "... on UpdateMyPreferencesSuccess { member { userId preferences { "
                          "weeklyReports language emailNotifications } } }", BOB)
    assert result["member"] == {"userId": "user-bob-002", "preferences": {
        "weeklyReports": True, "language": "de", "emailNotifications": True}}


async def test_update_my_preferences_with_a_stale_version_conflicts(api: Api) -> None:
    result = await mutate(api, "updateMyPreferences",
                          'input: {expectedVersion: 9, language: "de"}', caller=BOB)
    assert result["code"] == "VERSION_CONFLICT"


async def test_update_my_preferences_needs_a_change(api: Api) -> None:
    result = await mutate(api, "updateMyPreferences", "input: {}", caller=BOB)
    assert result["code"] == "VALIDATION"


async def test_update_my_preferences_is_denied_to_non_members(api: Api) -> None:
    result = await mutate(api, "updateMyPreferences", 'input: {language: "de"}',
                          caller=NEWBIE)
    assert result["code"] == "PERMISSION_DENIED"


# recordGitHubData

GITHUB_INPUT = ('input: {githubUsername: "%s", codeQuality: {overallScore: %s}, '
                "metrics: {totalCommits: 10, languages: [{name: \"Go\", percent: 100}]}, "
                "burnoutRisk: {riskScore: 8.6}}")


async def test_record_github_data_caches_it_for_a_day(api: Api, clock: Clock) -> None:
    result = await mutate(api, "recordGitHubData", GITHUB_INPUT % ("charlie-junior", "6.2"),
                          "... on RecordGitHubDataSuccess { githubData { expiresAt "
                          "member { userId } codeQuality { overallScore } } }")
    gh = result["githubData"]
    assert gh["codeQuality"]["overallScore"] == 6.2
    assert gh["member"] == {"userId": "user-charlie-003"}
    assert gh["expiresAt"] == iso(int(clock.now) + DAY_SECONDS)
    assert await latest_action(api) == "github_data.recorded"


async def test_record_github_data_validates_scores(api: Api) -> None:
    key = keys.github_data(demo.DEMO_ORG, "charlie-junior")
    before = await api.store.get(key, consistent=True)  # the demo's
    result = await mutate(api, "recordGitHubData", GITHUB_INPUT % ("charlie-junior", "11"),
                          "... on ValidationError { field }")
    assert (result["code"], result["field"]) == ("VALIDATION", "codeQuality.overallScore")
    assert await api.store.get(key, consistent=True) == before


async def test_record_github_data_is_denied_for_someone_elses_username(api: Api) -> None:
    result = await mutate(api, "recordGitHubData", GITHUB_INPUT % ("charlie-junior", "9"),
                          caller=BOB)
    assert result["code"] == "PERMISSION_DENIED"


# generateTeamReport


REPORT_INPUT = ('input: {githubUsername: "%s", codeQuality: {overallScore: %s}, '
                "metrics: {totalCommits: %d}, burnoutRisk: {riskScore: %s}}")


async def test_generate_team_report_computes_it_from_cached_data(api: Api) -> None:
    for person in (("alice-dev", "7.5", 300, "6.5"), ("bob-senior", "8.5", 1234, "4.2"),
                   ("charlie-junior", "6.2", 10, "8.6")):
        await mutate(api, "recordGitHubData", REPORT_INPUT % person)
    result = await mutate(api, "generateTeamReport", 'input: {date: "2025-01-24"}',
                          "... on GenerateTeamReportSuccess { teamReport { reportDate "
                          "teamHealth "
                          "summary { analyzedMembers averageCodeQuality totalCommits } "
                          "topPerformers { name } needsSupport { name } "
                          "burnoutRisks { name severity } recommendations { priority } "
                          "generatedBy { name } } }")
    report = result["teamReport"]
    assert report["reportDate"] == "2025-01-24"
    assert report["summary"] == {"analyzedMembers": 3, "averageCodeQuality": 7.4,
                                 "totalCommits": 1544}
    assert report["topPerformers"] == [{"name": "Bob Senior"}]
    assert report["needsSupport"] == [{"name": "Charlie Junior"}]
    assert report["burnoutRisks"] == [{"name": "Charlie Junior", "severity": "CRITICAL"},
                                      {"name": "Alice Developer", "severity": "HIGH"}]
    assert report["recommendations"][0] == {"priority": "URGENT"}
    assert report["generatedBy"] == {"name": "Alice Developer"}
    api.settle()
    stored = await api.ok('{ teamReport(date: "2025-01-24") { teamHealth } }')
    assert stored["teamReport"]["teamHealth"] == report["teamHealth"]
    assert await latest_action(api) == "team_report.generated"


async def test_generate_team_report_validates_the_date(api: Api) -> None:
    result = await mutate(api, "generateTeamReport", 'input: {date: "2025-13-01"}',
                          "... on ValidationError { field }")
    assert (result["code"], result["field"]) == ("VALIDATION", "date")


async def test_generate_team_report_is_denied_to_members(api: Api) -> None:
    result = await mutate(api, "generateTeamReport", 'input: {date: "2025-01-24"}',
                          caller=BOB)
    assert result["code"] == "PERMISSION_DENIED"
    assert await api.store.get(
        keys.team_report(demo.DEMO_ORG, "2025-01-24"), consistent=True) is None


async def test_each_successful_concurrent_update_answers_with_its_own_write(api: Api) -> None:
    outcomes = await asyncio.gather(*(api.run(
        f'mutation {{ updateMyPreferences(input: {{language: "l{i}"}}) {{ __typename '
        "... on UpdateMyPreferencesSuccess { member { version preferences { language } } } } }",
        BOB)
        for i in range(12)))
    # On DynamoDB a racer may also lose to conflicts for all its retries: STORE_BUSY.
    assert all(o.codes == ["STORE_BUSY"] for o in outcomes if o.errors)
    won = [(i, o.data["updateMyPreferences"]["member"]) for i, o in enumerate(outcomes)
           if o.data and o.data["updateMyPreferences"]["__typename"]
           == "UpdateMyPreferencesSuccess"]
    assert won
    for i, member in won:
        assert member["preferences"]["language"] == f"l{i}"
    versions = sorted(m["version"] for _, m in won)
    assert versions == list(range(2, 2 + len(won)))
