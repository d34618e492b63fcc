"""Analytics privacy: the README's table, walked cell by cell.

The table under "Analytics privacy" in README.md says what each kind of caller gets of each
kind of analytics. The tests read it from the README, so the documented policy and the tested
one cannot drift apart, and check every cell against real data: a team whose members are
analyzed one at a time (1, 2, 3 and 4 people; the minimum group size is 3), each step
followed by a freshly generated report, on both stores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from datastore import analytics, keys, members
from datastore.records import TeamReport as StoredReport
from datastore.records import now_ms
from resolvers.context import Caller, make_context
from schema.node import global_id
from server import create_app
from tests.api.conftest import ALICE, BOB, CHARLIE, DIANA, Api, Outcome, acting_as
from web.settings import SettingsError, from_env

README = Path(__file__).resolve().parents[2] / "README.md"
ORG = ALICE.org_id
REPORT_DATE = "2030-06-01"
MIN_GROUP = 3  # ApiSettings' default


# The README's table


def privacy_table() -> dict[str, dict[str, str]]:
    """Row label -> column header -> cell, from the table after ``<!-- privacy-table -->``."""
    text = README.read_text()
    lines = text[text.index("<!-- privacy-table -->"):].splitlines()[1:]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in lines[:lines.index("")] if line.startswith("|")]
    header, _rule, *body = rows
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


TABLE = privacy_table()


@dataclass(frozen=True)
class Kind:
    callers: tuple[Caller, ...]
    members_view_others: bool  # the organization's allowMembersViewOthers


# Admins with the setting off and viewers with it on: each where it would most likely leak.
KINDS = {
    "admin": Kind((ALICE,), members_view_others=False),
    "member, setting on": Kind((BOB, CHARLIE), members_view_others=True),
    "member, setting off": Kind((BOB, CHARLIE), members_view_others=False),
    "viewer": Kind((DIANA,), members_view_others=True),
}


# The team, analyzed one person at a time


@dataclass(frozen=True)
class Person:
    caller: Caller
    username: str
    quality: float
    risk: float
    commits: int

    @property
    def gid(self) -> str:
        return str(global_id("GitHubData", ORG, self.username))


# In the order they are analyzed. With all four: Bob a top performer ("Outstanding"), Charlie
# needs support and is at critical risk (so the one recommendation naming a person names him
# alone), Alice at high risk, Diana (a viewer) needs support.
PEOPLE = (
    Person(BOB, "bob-senior", 8.5, 4.2, 1234),
    Person(CHARLIE, "charlie-junior", 6.0, 8.5, 40),
    Person(ALICE, "alice-dev", 7.5, 6.5, 300),
    Person(DIANA, "diana-cto", 6.5, 3.0, 5),
)
BY_CALLER = {p.caller: p for p in PEOPLE}
NAMES = {ALICE.user_id: "Alice Developer", BOB.user_id: "Bob Senior",
         CHARLIE.user_id: "Charlie Junior", DIANA.user_id: "Diana CTO"}
RESULT = "{ __typename ... on MutationError { code message } }"


async def act(api: Api, caller: Caller) -> None:
    """An event of the activity feed with ``caller`` as its actor."""
    data = await api.ok('mutation { updateMyPreferences(input: {language: "de"}) '
                        "{ __typename } }", caller)
    assert data["updateMyPreferences"]["__typename"] == "UpdateMyPreferencesSuccess", data


async def record(api: Api, person: Person) -> None:
    """As an admin (only write_team_data may record), then the person acts, so the activity
    feed has them as an actor."""
    by = ALICE
    data = await api.ok(
        "mutation($u: String!, $q: Float!, $r: Float!, $c: Int!) { recordGitHubData(input: "
        "{githubUsername: $u, codeQuality: {overallScore: $q}, metrics: {totalCommits: $c, "
        f"totalPullRequests: 3, totalIssues: 2}}, burnoutRisk: {{riskScore: $r}}}}) {RESULT} }}",
        by, {"u": person.username, "q": person.quality, "r": person.risk, "c": person.commits})
    assert data["recordGitHubData"]["__typename"] == "RecordGitHubDataSuccess", data
    await act(api, person.caller)


async def generate_report(api: Api) -> None:
    data = await api.ok(
        f'mutation {{ generateTeamReport(input: {{date: "{REPORT_DATE}"}}) {RESULT} }}', ALICE)
    assert data["generateTeamReport"]["__typename"] == "GenerateTeamReportSuccess", data
    api.settle()


async def set_members_view_others(api: Api, allowed: bool) -> None:
    version = (await api.ok("{ organization { version } }", ALICE))["organization"]["version"]
    data = await api.ok(
        "mutation($v: Int!, $a: Boolean!) { updateOrganizationSettings(input: "
        f"{{expectedVersion: $v, allowMembersViewOthers: $a}}) {RESULT} }}",
        ALICE, {"v": version, "a": allowed})
    assert data["updateOrganizationSettings"]["__typename"] == \
        "UpdateOrganizationSettingsSuccess", data
    api.settle()


async def give_diana_a_github_username(api: Api) -> None:
    # As Diana herself, so the activity feed has her as an actor too.
    await members.update_fields(api.store, await acting_as(api, DIANA), DIANA.user_id,
                                {"githubUsername": "diana-cto"})
    api.settle()


async def forget_the_demos_analytics(api: Api) -> None:
    """The demo analyzes Alice, Bob and Charlie; these tests choose whom, and with what."""
    for item in await api.store.query_all(analytics.team_github_query(ORG)):
        await api.store.delete(keys.github_data(ORG, item["githubUsername"]))
    api.settle()


async def growing_team(api: Api, members_view_others: bool = True) -> AsyncIterator[int]:
    """Analyze one more person at a time, generate the report, and yield how many are
    analyzed (1 to 4), starting from nobody."""
    await forget_the_demos_analytics(api)
    await give_diana_a_github_username(api)
    await set_members_view_others(api, members_view_others)
    for analyzed, person in enumerate(PEOPLE, start=1):
        await record(api, person)
        api.settle()
        await generate_report(api)
        yield analyzed


# Reading what a caller gets

GITHUB_DATA = "githubUsername codeQuality { overallScore } burnoutRisk { riskScore }"
REPORT = """teamHealth
  summary { totalMembers activeMembers analyzedMembers withoutDataCount averageCodeQuality
            averageBurnoutRisk totalCommits totalPullRequests totalIssues needsSupportCount
            burnoutRiskCount }
  topPerformers { userId name codeQuality commits contributions }
  needsSupport { userId name codeQuality recommendation }
  burnoutRisks { userId name riskScore severity urgency }
  withoutData { userId name reason }
  recommendations { priority category action }"""
AGGREGATES = ("averageCodeQuality", "averageBurnoutRisk", "totalCommits", "totalPullRequests",
              "totalIssues", "needsSupportCount", "burnoutRiskCount")
PEOPLE_LISTS = ("topPerformers", "needsSupport", "burnoutRisks", "withoutData")


async def report_of(api: Api, caller: Caller) -> dict[str, Any]:
    """The report as ``caller`` reads it, the same through ``teamReport`` and ``node``."""
    gid = global_id("TeamReport", ORG, REPORT_DATE)
    data = await api.ok(
        f"query($d: String, $id: ID!) {{ teamReport(date: $d) {{ {REPORT} }} "
        f"node(id: $id) {{ ... on TeamReport {{ {REPORT} }} }} }}",
        caller, {"d": REPORT_DATE, "id": gid})
    assert data["node"] == data["teamReport"]
    report: dict[str, Any] = data["teamReport"]
    return report


def named_in(action: str) -> set[str]:
    """The user ids of the people an action names (by their full names)."""
    return {user_id for user_id, name in NAMES.items() if name in action}


def per_person(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["recommendations"] if named_in(r["action"])]


def team_wide(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["recommendations"] if not named_in(r["action"])]


def analytics_seen(data: Any) -> set[str]:
    """The GitHub usernames whose analytics appear anywhere in a response."""
    if isinstance(data, list):
        return set().union(*map(analytics_seen, data)) if data else set()
    if not isinstance(data, dict):
        return set()
    here = {data["githubUsername"]} if "codeQuality" in data else set()
    return here.union(*map(analytics_seen, data.values()))


def paths_to(person: Person) -> dict[str, str]:
    """Every query that reaches ``person``'s analytics for a caller who may see them."""
    gd = GITHUB_DATA
    listed = " ".join(f"{name} {{ member {{ githubData {{ {gd} }} }} }}"
                      for name in PEOPLE_LISTS)
    paths = {
        "githubData": f'{{ githubData(username: "{person.username}") {{ {gd} }} }}',
        "node": f'{{ node(id: "{person.gid}") {{ ... on GitHubData {{ {gd} }} }} }}',
        "nodes": f'{{ nodes(ids: ["{person.gid}"]) {{ ... on GitHubData {{ {gd} }} }} }}',
        "member": f'{{ member(userId: "{person.caller.user_id}") {{ githubData {{ {gd} }} }} }}',
        "members": f"{{ members(first: 100) {{ edges {{ node {{ githubData {{ {gd} }} }} }} }} }}",
        "activity": f"{{ activity(first: 100) {{ edges {{ node {{ actor {{ githubData {{ {gd} "
                    "} } } } } }",
        "teamReport": f'{{ teamReport(date: "{REPORT_DATE}") {{ {listed} }} }}',
        "teamGitHubData": f"{{ teamGitHubData(first: 100) {{ edges {{ node {{ {gd} }} }} }} }}",
    }
    if person.caller is ALICE:
        paths["owner"] = f"{{ organization {{ owner {{ githubData {{ {gd} }} }} }} }}"
    return paths


def own_paths(person: Person) -> dict[str, str]:
    """As ``paths_to``, with ``viewer`` for ``teamGitHubData``: that lists everyone, and is
    refused as a whole to those who may see only their own (an "others'" cell)."""
    paths = paths_to(person)
    del paths["teamGitHubData"]
    paths["viewer"] = f"{{ viewer {{ githubData {{ {GITHUB_DATA} }} }} }}"
    return paths


# Refused outright rather than answered with nulls: a top-level field the caller asked by name.
REFUSED = {"githubData", "teamGitHubData"}


def assert_reached(outcome: Outcome, person: Person, path: str) -> None:
    assert outcome.errors == [], (path, outcome.errors)
    assert person.username in analytics_seen(outcome.data), path


def assert_not_reached(outcome: Outcome, person: Person, path: str) -> None:
    assert outcome.codes == (["FORBIDDEN"] if path in REFUSED else []), (path, outcome.errors)
    assert person.username not in analytics_seen(outcome.data), path


# The cells' checks: (api, caller, what the admin reads of the same report) -> None


Check = Callable[[Api, Caller, dict[str, Any]], Awaitable[None]]


async def sees_own(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    me = BY_CALLER[caller]
    for path, document in own_paths(me).items():
        assert_reached(await api.run(document, caller), me, path)


async def sees_not_own(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    me = BY_CALLER[caller]
    for path, document in own_paths(me).items():
        assert_not_reached(await api.run(document, caller), me, path)


async def sees_others(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    for other in PEOPLE:
        if other.caller is not caller:
            for path, document in paths_to(other).items():
                assert_reached(await api.run(document, caller), other, path)


async def sees_no_others(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    for other in PEOPLE:
        if other.caller is not caller:
            for path, document in paths_to(other).items():
                assert_not_reached(await api.run(document, caller), other, path)


async def lists_everyone(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    mine = await report_of(api, caller)
    assert {n: mine[n] for n in PEOPLE_LISTS} == {n: full[n] for n in PEOPLE_LISTS}


async def lists_own_entry_only(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    mine = await report_of(api, caller)
    for name in PEOPLE_LISTS:
        # Their own entry whole, scores included; nobody else's.
        assert mine[name] == [p for p in full[name] if p["userId"] == caller.user_id], name


async def lists_no_one(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    mine = await report_of(api, caller)
    assert [mine[n] for n in PEOPLE_LISTS] == [[] for _ in PEOPLE_LISTS]


async def all_per_person_recommendations(api: Api, caller: Caller, full: dict[str, Any]
                                         ) -> None:
    assert per_person(await report_of(api, caller)) == per_person(full)


async def per_person_recommendations_naming_them_alone(
        api: Api, caller: Caller, full: dict[str, Any]) -> None:
    expected = [r for r in per_person(full) if named_in(r["action"]) == {caller.user_id}]
    assert per_person(await report_of(api, caller)) == expected


async def no_per_person_recommendations(api: Api, caller: Caller, full: dict[str, Any]
                                        ) -> None:
    assert per_person(await report_of(api, caller)) == []


async def team_wide_recommendations(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    assert team_wide(await report_of(api, caller)) == team_wide(full)


async def summary_aggregates(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    mine = await report_of(api, caller)
    assert (mine["teamHealth"], mine["summary"]) == (full["teamHealth"], full["summary"])


async def the_whole_report(api: Api, caller: Caller, full: dict[str, Any]) -> None:
    assert await report_of(api, caller) == full


async def aggregates_null_and_no_recommendations(api: Api, caller: Caller,
                                                 full: dict[str, Any]) -> None:
    mine = await report_of(api, caller)
    assert mine["teamHealth"] is None
    assert mine["summary"] == {**full["summary"], **dict.fromkeys(AGGREGATES)}
    assert mine["recommendations"] == []


@dataclass(frozen=True)
class Row:
    checks: dict[str, Check]  # cell text -> its check
    applies: Callable[[int], bool]  # to a report of this many analyzed people


def at_least_min(analyzed: int) -> bool:
    return analyzed >= MIN_GROUP


ROWS = {
    "own GitHubData": Row({"yes": sees_own, "no": sees_not_own},
                          lambda analyzed: analyzed == len(PEOPLE)),
    "others' GitHubData": Row({"yes": sees_others, "no": sees_no_others},
                              lambda analyzed: analyzed == len(PEOPLE)),
    "report people lists": Row({"everyone": lists_everyone,
                                "own entry only": lists_own_entry_only,
                                "none": lists_no_one}, lambda analyzed: True),
    "per-person recommendations": Row({
        "all": all_per_person_recommendations,
        "only those naming them alone": per_person_recommendations_naming_them_alone,
        "none": no_per_person_recommendations}, at_least_min),
    "team-wide recommendations": Row({"yes": team_wide_recommendations}, at_least_min),
    "summary aggregates": Row({"yes": summary_aggregates}, at_least_min),
    "below the minimum group size": Row({
        "as above": the_whole_report,
        "aggregates null, no recommendations": aggregates_null_and_no_recommendations},
        lambda analyzed: analyzed < MIN_GROUP),
}
CELLS = [pytest.param(row, kind, id=f"{row} | {kind}") for row in TABLE for kind in KINDS]


def test_the_readme_table_has_exactly_the_rows_and_columns_the_tests_walk() -> None:
    assert list(TABLE) == list(ROWS)
    for row, cells in TABLE.items():
        assert list(cells) == list(KINDS), row
        assert set(cells.values()) <= set(ROWS[row].checks), row


@pytest.mark.parametrize(("row", "kind"), CELLS)
async def test_each_cell_of_the_privacy_table_holds(api: Api, row: str, kind: str) -> None:
    check = ROWS[row].checks[TABLE[row][kind]]
    checked = 0
    async for analyzed in growing_team(api, KINDS[kind].members_view_others):
        if ROWS[row].applies(analyzed):
            full = await report_of(api, ALICE)
            for caller in KINDS[kind].callers:
                await check(api, caller, full)
            checked += 1
    assert checked


async def test_the_seeded_reports_hold_what_the_table_is_about(api: Api) -> None:
    """So that no cell passes for want of something to hide."""
    seen = {}
    async for analyzed in growing_team(api):
        seen[analyzed] = await report_of(api, ALICE)

    assert (seen[1]["summary"]["averageCodeQuality"], seen[1]["summary"]["averageBurnoutRisk"]
            ) == (8.5, 4.2)
    assert seen[1]["topPerformers"][0]["contributions"] == "Outstanding"
    for analyzed in (2, 3, 4):
        assert [named_in(r["action"]) for r in per_person(seen[analyzed])] == [
            {CHARLIE.user_id}]
        assert team_wide(seen[analyzed])
    assert {p["userId"] for n in PEOPLE_LISTS for p in seen[4][n]} == set(NAMES)
    # Those not yet analyzed are listed without data, so that list has entries to withhold
    # and, for Charlie at first, his own to show; their count is a count of people, shown
    # like analyzedMembers even below the minimum group size.
    assert [[p["userId"] for p in seen[n]["withoutData"]] for n in (1, 2, 3, 4)] == [
        [ALICE.user_id, CHARLIE.user_id, DIANA.user_id], [ALICE.user_id, DIANA.user_id],
        [DIANA.user_id], []]
    assert [seen[n]["summary"]["withoutDataCount"] for n in (1, 2, 3, 4)] == [3, 2, 1, 0]


# The two findings of issue 11, as reported


FINDING_3 = """{ teamReport { burnoutRisks { name severity urgency } needsSupport { name }
    topPerformers { name contributions } recommendations { action } } }"""


@pytest.mark.parametrize(("caller", "members_view_others"), [
    pytest.param(DIANA, True, id="viewer"),
    pytest.param(BOB, False, id="member-with-others-hidden"),
])
async def test_finding_3_the_team_report_names_and_labels_no_one_else_for_a_restricted_caller(
        api: Api, caller: Caller, members_view_others: bool) -> None:
    async for _ in growing_team(api, members_view_others):
        pass
    admin = json.dumps(await api.ok(FINDING_3, ALICE))
    assert "Charlie Junior" in admin
    assert "Outstanding" in admin

    seen = json.dumps(await api.ok(FINDING_3, caller))

    others = [name for user_id, name in NAMES.items() if user_id != caller.user_id]
    assert [name for name in others if name in seen] == []
    assert "CRITICAL" not in seen


async def test_finding_4_a_viewer_reads_no_averages_of_a_single_analyzed_member(
        api: Api) -> None:
    await forget_the_demos_analytics(api)
    await record(api, PEOPLE[0])  # Bob alone is analyzed
    await generate_report(api)
    query = "{ teamReport { teamHealth summary { analyzedMembers averageCodeQuality " \
            "averageBurnoutRisk totalCommits } } }"
    admin = await api.ok(query, ALICE)
    assert admin["teamReport"]["summary"] == {"analyzedMembers": 1, "averageCodeQuality": 8.5,
                                              "averageBurnoutRisk": 4.2, "totalCommits": 1234}

    viewer = await api.ok(query, DIANA)

    assert viewer["teamReport"] == {"teamHealth": None, "summary": {
        "analyzedMembers": 1, "averageCodeQuality": None, "averageBurnoutRisk": None,
        "totalCommits": None}}


# The minimum group size is a setting


@pytest.mark.parametrize(("min_group", "shown_from"), [(1, 1), (3, 3), (5, None)])
async def test_the_minimum_group_size_decides_when_a_viewer_gets_the_aggregates(
        api: Api, min_group: int, shown_from: int | None) -> None:
    api.settings = dataclasses.replace(api.settings, analytics_min_group_size=min_group)
    shown = []
    async for analyzed in growing_team(api):
        report = await report_of(api, DIANA)
        if report["summary"]["averageCodeQuality"] is not None:
            shown.append(analyzed)

    assert shown == ([] if shown_from is None else list(range(shown_from, len(PEOPLE) + 1)))


def test_the_minimum_group_size_is_read_from_the_environment_and_reaches_the_api() -> None:
    env = {"DEVINSIGHTS_JWT_SECRET": "privacy-tests-hs256-secret-0123456789abcdef",
           "DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE": "5"}

    app = create_app(from_env(env))

    assert app.state.api.api_settings.analytics_min_group_size == 5
    assert create_app(from_env({**env, "DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE": ""})
                      ).state.api.api_settings.analytics_min_group_size == MIN_GROUP


@pytest.mark.parametrize(("value", "message"), [
    ("0", "DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE must be at least 1"),
    ("three", "DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE must be a whole number, not 'three'"),
])
def test_a_minimum_group_size_below_one_or_not_a_number_is_refused(value: str, message: str
                                                                   ) -> None:
    with pytest.raises(SettingsError) as refused:
        from_env({"DEVINSIGHTS_ANALYTICS_MIN_GROUP_SIZE": value})

    assert str(refused.value) == message


# Reports stored before recommendations said whom they name


async def store_old_report(api: Api) -> None:
    """Today's report of four analyzed people, with recommendations as stored before they had
    ``userIds``: their text is all there is."""
    person = {"userId": CHARLIE.user_id, "name": "Charlie Junior", "riskScore": 8.5,
              "severity": "CRITICAL", "urgency": "Immediate action required"}
    alice = {"userId": ALICE.user_id, "name": "Alice Developer", "riskScore": 8.1,
             "severity": "CRITICAL", "urgency": "Immediate action required"}
    data = {
        "teamHealth": 6.9,
        "summary": {"totalMembers": 4, "activeMembers": 4, "analyzedMembers": 4,
                    "averageCodeQuality": 7.1, "averageBurnoutRisk": 5.5},
        "topPerformers": [], "needsSupport": [], "burnoutRisks": [person, alice],
        "recommendations": [
            {"priority": "URGENT", "category": "Burnout Prevention",
             "action": "Talk with Charlie Junior about workload this week"},
            {"priority": "URGENT", "category": "Burnout Prevention",
             "action": "Address Alice's burnout immediately"},  # the design doc's own
            {"priority": "HIGH", "category": "Team Development",
             "action": "Pair members who need support with senior engineers"},
        ],
    }
    await api.store.put(StoredReport(
        org_id=ORG, report_date=REPORT_DATE, report_id="report-old", report_type="daily",
        generated_by=ALICE.user_id, generated_by_name="Alice Developer", data=data,
        generated_at=now_ms(), expires_at=api.store.now_seconds() + 3600).to_item())
    api.settle()


@pytest.mark.parametrize(("caller", "members_view_others"), [
    pytest.param(DIANA, True, id="viewer"),
    pytest.param(CHARLIE, False, id="member-with-others-hidden-even-when-named"),
])
async def test_an_old_recommendation_mentioning_a_person_counts_as_per_person(
        api: Api, caller: Caller, members_view_others: bool) -> None:
    await set_members_view_others(api, members_view_others)
    await store_old_report(api)

    admin = await report_of(api, ALICE)
    restricted = await report_of(api, caller)

    assert len(admin["recommendations"]) == 3
    # Whom it names is unknown, so not even Charlie is shown the one with his name.
    assert [r["action"] for r in restricted["recommendations"]] == [
        "Pair members who need support with senior engineers"]


# The activity feed's live subscription


async def next_actor_analytics(api: Api, subscriber: Caller, act: Callable[[], Awaitable[None]]
                               ) -> dict[str, Any]:
    ctx = await make_context(api.store, subscriber, api.settings, api.broker)
    stream = await api.schema.subscribe(
        f"subscription {{ activity {{ action actor {{ userId githubData {{ {GITHUB_DATA} }} }} "
        "} }", context_value=ctx)
    assert hasattr(stream, "__anext__")
    try:
        first = asyncio.ensure_future(stream.__anext__())
        for _ in range(100):  # let the subscription attach to the broker
            if api.broker.subscribers(ORG):
                break
            await asyncio.sleep(0.01)
        await act()
        received = await asyncio.wait_for(first, timeout=5)
    finally:
        await stream.aclose()
    assert received.errors is None
    actor: dict[str, Any] = received.data["activity"]["actor"]
    return actor


@pytest.mark.parametrize(("subscriber", "members_view_others", "shown"), [
    pytest.param(DIANA, True, False, id="viewer"),
    pytest.param(BOB, False, False, id="member-with-others-hidden"),
    pytest.param(BOB, True, True, id="member"),
    pytest.param(ALICE, False, True, id="admin"),
])
async def test_a_live_events_actor_shows_analytics_only_to_those_who_may_see_them(
        api: Api, subscriber: Caller, members_view_others: bool, shown: bool) -> None:
    await set_members_view_others(api, members_view_others)
    await record(api, PEOPLE[1])  # readable everywhere before the live event is resolved
    api.settle()

    actor = await next_actor_analytics(api, subscriber, lambda: act(api, CHARLIE))

    assert actor["userId"] == CHARLIE.user_id
    assert (actor["githubData"] is not None) is shown


async def test_a_member_with_others_hidden_sees_his_own_analytics_on_his_own_live_event(
        api: Api) -> None:
    await set_members_view_others(api, False)
    await record(api, PEOPLE[1])  # readable everywhere before the live event is resolved
    api.settle()

    actor = await next_actor_analytics(api, CHARLIE, lambda: act(api, CHARLIE))

    assert actor["githubData"]["githubUsername"] == "charlie-junior"



async def test_an_average_over_fewer_people_than_the_analyzed_is_withheld_by_its_own_count(
        api: Api) -> None:
    """Three people with a code-quality score, one of them with a burnout score: the average
    risk is that one person's, so it is withheld although three are analyzed."""
    await forget_the_demos_analytics(api)
    await record(api, PEOPLE[0])
    for person in PEOPLE[1:3]:
        data = await api.ok(
            "mutation($u: String!, $q: Float!) { recordGitHubData(input: {githubUsername: $u, "
            f"codeQuality: {{overallScore: $q}}, metrics: {{}}, burnoutRisk: {{}}}}) {RESULT} }}",
            ALICE, {"u": person.username, "q": person.quality})
        assert data["recordGitHubData"]["__typename"] == "RecordGitHubDataSuccess", data
    api.settle()
    await generate_report(api)
    query = (f'{{ teamReport(date: "{REPORT_DATE}") {{ summary {{ analyzedMembers '
             "averageCodeQuality averageBurnoutRisk } } }")
    admin = (await api.ok(query, ALICE))["teamReport"]["summary"]
    viewer = (await api.ok(query, DIANA))["teamReport"]["summary"]
    assert admin == {"analyzedMembers": 3, "averageCodeQuality": 7.3, "averageBurnoutRisk": 4.2}
    assert viewer == {"analyzedMembers": 3, "averageCodeQuality": None,
                      "averageBurnoutRisk": None}
