"""generateTeamReport says whom it could not analyze: members without a GitHub username,
without GitHub data, or with expired data, none of whom are in its scores."""

from __future__ import annotations

import dataclasses
from typing import Any

from datastore import keys
from datastore.records import TeamReport as StoredReport
from datastore.records import now_ms
from tests.api.conftest import ALICE, BOB, CHARLIE, DIANA, Api
from tests.conftest import Clock

REPORT_DATE = "2030-06-01"
RESULT = "{ __typename ... on MutationError { code message } }"
REPORT = """summary { analyzedMembers averageCodeQuality averageBurnoutRisk totalCommits
                      withoutDataCount }
  topPerformers { userId } needsSupport { userId } burnoutRisks { userId }
  withoutData { userId name reason member { userId } }"""


async def record(api: Api, username: str, quality: float, risk: float, commits: int) -> None:
    data = await api.ok(
        "mutation($u: String!, $q: Float!, $r: Float!, $c: Int!) { recordGitHubData(input: "
        "{githubUsername: $u, codeQuality: {overallScore: $q}, metrics: {totalCommits: $c}, "
        f"burnoutRisk: {{riskScore: $r}}}}) {RESULT} }}",
        ALICE, {"u": username, "q": quality, "r": risk, "c": commits})
    assert data["recordGitHubData"]["__typename"] == "RecordGitHubDataSuccess", data


async def generate(api: Api) -> dict[str, Any]:
    data = await api.ok(
        f'mutation($d: String) {{ generateTeamReport(input: {{date: $d}}) {{ __typename '
        f"... on GenerateTeamReportSuccess {{ teamReport {{ {REPORT} }} }} "
        "... on MutationError { code message } } }", ALICE, {"d": REPORT_DATE})
    result: dict[str, Any] = data["generateTeamReport"]
    assert result["__typename"] == "GenerateTeamReportSuccess", result
    report: dict[str, Any] = result["teamReport"]
    return report


async def test_a_report_names_who_has_no_username_or_expired_data_and_scores_only_the_current(
        api: Api, clock: Clock) -> None:
    # Diana (a viewer) has no GitHub username and Alice no data; Charlie's data expires.
    await api.store.delete(keys.github_data(ALICE.org_id, "alice-dev"))  # the demo has it
    await record(api, "bob-senior", 8.5, 4.2, 1234)
    api.settings = dataclasses.replace(api.settings, github_data_ttl_seconds=60)
    await record(api, "charlie-junior", 9.9, 9.9, 999)
    api.settle()
    # At its expiresAt: expired, though not yet deleted (the embedded store purges hourly).
    clock.advance(60)

    report = await generate(api)

    assert report["withoutData"] == [
        {"userId": DIANA.user_id, "name": "Diana CTO", "reason": "NO_GITHUB_USERNAME",
         "member": {"userId": DIANA.user_id}},
        {"userId": ALICE.user_id, "name": "Alice Developer", "reason": "NO_DATA",
         "member": {"userId": ALICE.user_id}},
        {"userId": CHARLIE.user_id, "name": "Charlie Junior", "reason": "EXPIRED",
         "member": {"userId": CHARLIE.user_id}}]
    # Bob alone is scored: Charlie's 9.9 would make him a top performer at critical risk.
    assert report["summary"] == {"analyzedMembers": 1, "averageCodeQuality": 8.5,
                                 "averageBurnoutRisk": 4.2, "totalCommits": 1234,
                                 "withoutDataCount": 3}
    assert (report["topPerformers"], report["needsSupport"], report["burnoutRisks"]) == (
        [{"userId": BOB.user_id}], [], [])
    api.settle()
    stored = await api.ok(f"query($d: String) {{ teamReport(date: $d) {{ {REPORT} }} }}",
                          ALICE, {"d": REPORT_DATE})
    assert stored["teamReport"] == report


async def test_a_report_stored_before_it_listed_who_has_no_data_reads_as_empty_and_null(
        api: Api) -> None:
    data = {"teamHealth": 8.1,
            "summary": {"totalMembers": 4, "activeMembers": 4, "analyzedMembers": 1,
                        "averageCodeQuality": 8.5, "totalCommits": 1234},
            "topPerformers": [], "needsSupport": [], "burnoutRisks": [], "recommendations": []}
    await api.store.put(StoredReport(
        org_id=ALICE.org_id, report_date=REPORT_DATE, report_id="report-old",
        report_type="daily", generated_by=ALICE.user_id, generated_by_name="Alice Developer",
        data=data, generated_at=now_ms(), expires_at=api.store.now_seconds() + 3600).to_item())
    api.settle()

    stored = await api.ok(f"query($d: String) {{ teamReport(date: $d) {{ {REPORT} }} }}",
                          ALICE, {"d": REPORT_DATE})

    assert stored["teamReport"]["withoutData"] == []
    assert stored["teamReport"]["summary"]["withoutDataCount"] is None
