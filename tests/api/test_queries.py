"""Every access pattern of the design doc, through the schema, on both backends."""

from __future__ import annotations

from datastore import demo, keys
from datastore.records import DAY_SECONDS, GitHubData
from tests.api.conftest import ALICE, BOB, Api
from tests.conftest import Clock


async def test_pattern_1_reads_the_callers_organization(api: Api) -> None:
    data = await api.ok("{ organization { organizationId name plan maxMembers currentMembers "
                        "owner { name } settings { allowMembersViewOthers timezone } } }")
    org = data["organization"]
    assert org["organizationId"] == demo.DEMO_ORG
    assert (org["name"], org["plan"], org["maxMembers"]) == ("My Startup", "PRO", 100)
    assert org["currentMembers"] == 4
    assert org["owner"] == {"name": "Alice Developer"}


async def test_pattern_2_lists_every_role_in_one_query(api: Api) -> None:
    outcome = await api.run("{ members(first: 10) { edges { node { userId role } } "
                            "pageInfo { hasNextPage } } }")
    edges = outcome.data["members"]["edges"]  # type: ignore[index]
    assert {(e["node"]["userId"], e["node"]["role"]) for e in edges} == {
        ("user-abc-123", "ADMIN"), ("user-bob-002", "MEMBER"),
        ("user-charlie-003", "MEMBER"), ("user-diana-004", "VIEWER")}
    assert outcome.data["members"]["pageInfo"]["hasNextPage"] is False  # type: ignore[index]
    assert outcome.calls.calls.get("query") == 1


async def test_members_filter_by_role(api: Api) -> None:
    data = await api.ok("{ members(role: MEMBER) { edges { node { name } } } }")
    assert [e["node"]["name"] for e in data["members"]["edges"]] == [
        "Bob Senior", "Charlie Junior"]


async def test_pattern_3_reads_one_member_with_preferences(api: Api) -> None:
    data = await api.ok('{ member(userId: "user-bob-002") { name email permissions '
                        "preferences { weeklyReports } invitedBy { name } } }")
    assert data["member"] == {
        "name": "Bob Senior", "email": "bob@startup.com",
        "permissions": ["read_own_data", "read_team_data", "view_reports"],
        "preferences": {"weeklyReports": False}, "invitedBy": {"name": "Alice Developer"}}


async def test_pattern_4_reads_cached_github_data_with_exact_scores(api: Api) -> None:
    data = await api.ok('{ githubData(username: "bob-senior") { codeQuality { overallScore } '
                        "burnoutRisk { riskScore } metrics { languages { name percent } } "
                        "dataSource member { name } } }")
    gh = data["githubData"]
    item = await api.store.get(keys.github_data(demo.DEMO_ORG, "bob-senior"), consistent=True)
    assert item is not None
    stored = GitHubData.from_item(item).data
    assert gh["codeQuality"]["overallScore"] == stored["codeQuality"]["overallScore"]
    assert gh["burnoutRisk"]["riskScore"] == stored["burnoutRisk"]["riskScore"]
    assert gh["metrics"]["languages"] == [
        {"name": name, "percent": float(percent)}
        for name, percent in stored["metrics"]["languages"].items()]
    assert gh["dataSource"] == demo.GITHUB_FIXTURE_SOURCE
    assert gh["member"] == {"name": "Bob Senior"}


async def test_pattern_5_reads_the_teams_github_data(api: Api) -> None:
    data = await api.ok("{ teamGitHubData { edges { node { githubUsername } } "
                        "pageInfo { hasNextPage } } }")
    team = data["teamGitHubData"]
    assert [e["node"]["githubUsername"] for e in team["edges"]] == [
        "alice-dev", "bob-senior", "charlie-junior"]
    assert team["pageInfo"]["hasNextPage"] is False


async def test_pattern_6_reads_the_latest_and_a_dated_team_report(api: Api) -> None:
    latest = await api.ok("{ teamReport { reportDate summary { totalMembers } "
                          "topPerformers { name member { userId } } generatedBy { name } } }")
    report = latest["teamReport"]
    assert report["summary"]["totalMembers"] == 4
    assert report["topPerformers"] == [
        {"name": "Bob Senior", "member": {"userId": "user-bob-002"}},
        {"name": "Alice Developer", "member": {"userId": "user-abc-123"}}]
    assert report["generatedBy"] == {"name": "Alice Developer"}
    dated = await api.ok("query($d: String) { teamReport(date: $d) { reportDate } }",
                         variables={"d": report["reportDate"]})
    assert dated["teamReport"] == {"reportDate": report["reportDate"]}
    missing = await api.ok('{ teamReport(date: "1999-01-01") { reportDate } }')
    assert missing["teamReport"] is None


DASHBOARD = """{
  teamGitHubData { edges { node { githubUsername dataSource member { name }
    codeQuality { rating } burnoutRisk { riskLevel healthStatus } } } }
  teamReport { teamHealth summary { analyzedMembers averageCodeQuality }
    topPerformers { name contributions } needsSupport { name }
    burnoutRisks { name severity } recommendations { priority action } }
}"""


async def test_the_demo_dashboard_shows_three_people_analyzed_from_the_fixture(
        api: Api) -> None:
    data = await api.ok(DASHBOARD)

    people = [e["node"] for e in data["teamGitHubData"]["edges"]]
    assert [(p["member"]["name"], p["codeQuality"]["rating"], p["burnoutRisk"]["riskLevel"],
             p["burnoutRisk"]["healthStatus"]) for p in people] == [
        ("Alice Developer", "Good", "LOW", "HEALTHY"),
        ("Bob Senior", "Excellent", "CRITICAL", "CRITICAL"),
        ("Charlie Junior", "Needs Improvement", "MEDIUM", "MONITOR")]
    assert {p["dataSource"] for p in people} == {demo.GITHUB_FIXTURE_SOURCE}
    report = data["teamReport"]
    assert report["summary"]["analyzedMembers"] == 3
    assert report["teamHealth"] is not None
    assert report["summary"]["averageCodeQuality"] is not None
    assert report["topPerformers"] == [{"name": "Bob Senior", "contributions": "Outstanding"},
                                       {"name": "Alice Developer", "contributions": "Strong"}]
    assert report["needsSupport"] == [{"name": "Charlie Junior"}]
    assert report["burnoutRisks"] == [{"name": "Bob Senior", "severity": "CRITICAL"}]
    assert report["recommendations"][0] == {
        "priority": "URGENT", "action": "Talk with Bob Senior about workload this week"}


async def test_pattern_7_finds_a_member_by_email_case_insensitively(api: Api) -> None:
    data = await api.ok('{ memberByEmail(email: "Bob@Startup.com") { userId } }')
    assert data["memberByEmail"] == {"userId": "user-bob-002"}
    absent = await api.ok('{ memberByEmail(email: "nobody@startup.com") { userId } }')
    assert absent["memberByEmail"] is None


async def test_pattern_8_lists_pending_invitations(api: Api) -> None:
    data = await api.ok("{ invitations(status: PENDING) { edges { node { invitationId email "
                        "status invitedBy { name } } } } }")
    assert [e["node"] for e in data["invitations"]["edges"]] == [{
        "invitationId": "invite-abc-123", "email": "newuser@startup.com", "status": "PENDING",
        "invitedBy": {"name": "Alice Developer"}}]


async def test_activity_is_newest_first_from_gsi2(api: Api) -> None:
    await api.ok('mutation { updateMyPreferences(input: {language: "de"}) { __typename } }')
    api.settle()  # GSI2: eventually consistent
    data = await api.ok("{ activity(first: 2) { edges { node { action actor { name } } } } }")
    first = data["activity"]["edges"][0]["node"]
    assert first == {"action": "member.preferences_updated",
                     "actor": {"name": "Alice Developer"}}
    assert api.store  # the query went to GSI2; the datastore suite checks the index itself


async def test_viewer_is_the_caller(api: Api) -> None:
    data = await api.ok("{ viewer { userId role } }", BOB)
    assert data["viewer"] == {"userId": "user-bob-002", "role": "MEMBER"}


async def test_pages_members_with_signed_cursors(api: Api) -> None:
    seen: list[str] = []
    after = None
    for _ in range(3):
        data = await api.ok("query($a: String) { members(first: 2, after: $a) { edges { "
                            "node { userId } } pageInfo { hasNextPage endCursor } } }",
                            variables={"a": after})
        seen += [e["node"]["userId"] for e in data["members"]["edges"]]
        info = data["members"]["pageInfo"]
        after = info["endCursor"]
        if not info["hasNextPage"]:
            break
    assert len(seen) == 4 == len(set(seen))
    # Page two ended exactly at the last member and said so: no empty third page.
    assert info["hasNextPage"] is False


async def test_rejects_a_cursor_replayed_on_another_field(api: Api) -> None:
    data = await api.ok("{ members(first: 1) { pageInfo { endCursor } } }")
    cursor = data["members"]["pageInfo"]["endCursor"]
    outcome = await api.run("query($a: String) { invitations(after: $a) { edges { cursor } } }",
                            variables={"a": cursor})
    assert outcome.codes == ["BAD_USER_INPUT"]
    assert "cursor is not valid for invitations" in outcome.errors[0]["message"]


async def test_rejects_first_above_the_cap(api: Api) -> None:
    outcome = await api.run("{ members(first: 101) { edges { cursor } } }")
    assert outcome.codes == ["BAD_USER_INPUT"]
    assert "between 1 and 100" in outcome.errors[0]["message"]


async def test_expired_analytics_invitations_and_reports_read_as_absent(
        api: Api, clock: Clock) -> None:
    clock.advance(DAY_SECONDS + 1)
    data = await api.ok('{ githubData(username: "bob-senior") { dataSource } '
                        "teamGitHubData { edges { node { githubUsername } } } "
                        "teamReport { reportDate } invitations { edges { node { id } } } "
                        'member(userId: "user-bob-002") { githubData { dataSource } } }')
    assert data == {"githubData": None, "teamGitHubData": {"edges": []}, "teamReport": None,
                    "invitations": {"edges": []}, "member": {"githubData": None}}
    assert await api.store.get(
        keys.github_data(demo.DEMO_ORG, "bob-senior"), consistent=True) is None


async def test_an_unexpected_error_is_masked_with_a_code_and_request_id(api: Api) -> None:
    async def explode(op: str, request: object) -> None:
        if op == "query":
            raise RuntimeError("secret internals: token=abc")

    api.store.fault_hook = explode
    try:
        outcome = await api.run("{ teamGitHubData { edges { node { githubUsername } } } }")
    finally:
        api.store.fault_hook = None
    assert outcome.errors == [{
        "message": "Unexpected error.", "locations": [{"line": 1, "column": 3}],
        "path": ["teamGitHubData"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-test"}}]


async def test_a_store_outage_is_reported_as_unavailable_not_masked(api: Api) -> None:
    from datastore.errors import StoreUnavailable

    async def down(op: str, request: object) -> None:
        if op == "query":
            raise StoreUnavailable("connect timeout to 10.1.2.3")

    api.store.fault_hook = down
    try:
        outcome = await api.run("{ teamGitHubData { edges { node { githubUsername } } } }")
    finally:
        api.store.fault_hook = None
    assert outcome.codes == ["STORE_UNAVAILABLE"]
    assert "10.1.2.3" not in str(outcome.errors)


async def test_a_members_own_role_comes_from_the_store_not_the_token(api: Api) -> None:
    data = await api.ok("{ viewer { role } }", ALICE)
    assert data["viewer"]["role"] == "ADMIN"

