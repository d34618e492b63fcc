"""Tenancy as properties: hypothesis builds two or three organizations (people of every role,
invitations, GitHub analytics, team reports) and runs random sequences of queries and
mutations as callers of org A, with arguments naming the other orgs' ids, global ids, emails,
usernames, tokens, dates, versions and cursors. After every operation:

* no response to A holds a value that belongs only to another org (its strings, and what
  its global ids encode, are scanned for every such value, read from that org's partition);
* every ``totalCount`` counts A's own items;
* no other org's partition changed (read directly from the store, before and after);
* A's own partition stays A's and consistent (``currentMembers`` and every role-and-status
  counter = people stored).
"""

from __future__ import annotations

import binascii
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.relay.utils import from_base64, to_base64

from datastore import analytics, invitations, keys, members, organizations
from datastore.actors import acting
from datastore.records import ACTIVE_ADMINS, SLOTS, Member, Role, count_attribute
from datastore.store import Item, Query, Store
from datastore.table import create_table
from resolvers.context import Caller
from tests.api.conftest import Api, Outcome
from tests.conftest import TABLE, reset_moto
from tests.hardening import tally

DATES = ("2031-01-01", "2031-06-15", "2032-02-29")
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
FIRST_NAMES = ("Ada", "Bo", "Cy", "Di", "Ed", "Flo")
# Admins can do the most, so they call most often.
CALLERS = ("admin", "admin", "admin", "member", "member", "viewer", "suspended", "newcomer")
SOURCES = ("rival", "rival", "rival", "own", "nobody")  # mostly the other orgs' values
NOBODY = {
    "user": "user-nobody-0", "email": "nobody@nowhere.example", "username": "gh-nobody-0",
    "invite": "invite-0000000000000000", "date": "2030-01-01", "version": 999,
    "token": ("invite-0000000000000000.bm90LWEtcmVhbC10b2tlbi1ub3QtYS1yZWFsLXRva2Vu",
              "nobody@nowhere.example"),
    "cursor": "bm90LWEtY3Vyc29yLW5vdC1hLWN1cnNvci1ub3QtYS1jdXJzb3I", "name": "Nobody At All",
    "node": to_base64("Member", "org-nobody-0#user-nobody-0"),
}
# Strings of another org that are secret though they do not carry its tag.
SYSTEM_IDS = ("eventId", "inviteId", "reportId", "tokenHash", "reportDate")


# The plan of a world, drawn by hypothesis; ids are made from a per-example tag


@dataclass(frozen=True)
class PersonPlan:
    role: Role
    github: bool
    suspended: bool
    shares: str | None  # "email", "github" or "name": the same as a person of org A


@dataclass(frozen=True)
class OrgPlan:
    extra_people: tuple[PersonPlan, ...]
    pending: int
    revoked: int
    orphan_analytics: bool  # GitHub data of a username nobody in the org has
    report_dates: tuple[str, ...]
    spare_seats: int


@dataclass(frozen=True)
class Op:
    kind: str  # a key of DOCUMENTS
    who: str  # which caller of org A
    source: str  # whose values the arguments name: a rival org's, A's own, or nobody's
    pick: int  # which value of that pool
    flag: bool  # sets or leaves out the operation's optional argument


def person_plans() -> st.SearchStrategy[PersonPlan]:
    return st.builds(PersonPlan, role=st.sampled_from(Role), github=st.booleans(),
                     suspended=st.booleans(),
                     shares=st.sampled_from((None, None, "email", "github", "name")))


def org_plans(max_extra: int, max_invites: int) -> st.SearchStrategy[OrgPlan]:
    return st.builds(
        OrgPlan, extra_people=st.lists(person_plans(), max_size=max_extra).map(tuple),
        pending=st.integers(1, max_invites), revoked=st.integers(0, 1),
        orphan_analytics=st.booleans(),
        report_dates=st.lists(st.sampled_from(DATES), max_size=2, unique=True).map(tuple),
        spare_seats=st.integers(0, 2))


def worlds(max_extra: int, max_invites: int) -> st.SearchStrategy[list[OrgPlan]]:
    return st.lists(org_plans(max_extra, max_invites), min_size=2, max_size=3)


def operations(max_ops: int) -> st.SearchStrategy[list[Op]]:
    op = st.builds(Op, kind=st.sampled_from(tuple(DOCUMENTS)), who=st.sampled_from(CALLERS),
                   source=st.sampled_from(SOURCES), pick=st.integers(0, 1000),
                   flag=st.booleans())
    return st.lists(op, min_size=5, max_size=max_ops)


# The world as built in the store


@dataclass
class Person:
    caller: Caller
    role: Role
    github: str | None
    suspended: bool = False


@dataclass
class Org:
    org_id: str
    tag: str
    name: str
    people: list[Person] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    invites: list[tuple[str, str, str]] = field(default_factory=list)  # id, email, token
    pending: set[str] = field(default_factory=set)  # invitations created pending
    dates: list[str] = field(default_factory=list)
    cursors: dict[str, list[str]] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # global ids, as the API gave them

    @property
    def admin(self) -> Person:
        return self.people[0]

    def pool(self, kind: str) -> list[Any]:
        match kind:
            case "user":
                return [p.caller.user_id for p in self.people]
            case "email":
                return [p.caller.email for p in self.people] + [e for _, e, _ in self.invites]
            case "username":
                return self.usernames
            case "invite":
                return [i for i, _, _ in self.invites]
            case "token":  # mostly pending ones: a bug would most likely accept those
                tokens = [(i in self.pending, (t, e)) for i, e, t in self.invites]
                return [t for pending, t in tokens if pending] * 3 + [t for _, t in tokens]
            case "date":
                return self.dates
            case "name":
                return [self.name] + [str(p.caller.name) for p in self.people]
            case "node":
                return self.ids
        return self.cursors.get(kind.removeprefix("cursor:"), [])


_examples = itertools.count(1)


async def add_person(store: Store, org: Org, admin: Member, person: Person) -> None:
    """Invite and accept (and suspend), as a person joins for real."""
    invitation, token = await invitations.create(
        store, acting(admin), str(person.caller.email), person.role,
        name=person.caller.name, github_username=person.github)
    await invitations.accept(store, org.org_id, token, person.caller.user_id,
                             str(person.caller.email), str(person.caller.name))
    if person.suspended:
        await members.suspend(store, acting(admin), person.caller.user_id)
    org.invites.append((invitation.invite_id, invitation.email, token))


def github_record(tag: str, i: int) -> dict[str, Any]:
    return {"codeQuality": {"overallScore": 5 + i % 5, "analysis": f"analysis {tag}-{i}",
                            "strengths": [f"strength {tag}-{i}"]},
            "metrics": {"totalCommits": 10 + i},
            "burnoutRisk": {"riskScore": 3 + i % 7, "riskLevel": RISK_LEVELS[i % 4]}}


async def build_org(store: Store, plan: OrgPlan, tag: str, a: Org | None) -> Org:
    org = Org(org_id=f"org-{tag}", tag=tag, name=f"Org {tag}")
    base = [PersonPlan(Role.ADMIN, True, False, None), PersonPlan(Role.MEMBER, True, False, None),
            PersonPlan(Role.VIEWER, False, False, None)]
    for i, p in enumerate(base + list(plan.extra_people)):
        email, name, github = f"p{i}.{tag}@{tag}.example", f"{FIRST_NAMES[i % 6]} {tag}-{i}", (
            f"gh-{tag}-{i}" if p.github else None)
        if a is not None and p.shares is not None and i > 0:
            twin = a.people[i % len(a.people)]
            if p.shares == "email" and twin.caller.email not in org.pool("email"):
                email = str(twin.caller.email)  # an email is one person's within an org
            elif p.shares == "name":
                name = str(twin.caller.name)
            elif p.shares == "github" and twin.github:
                github = twin.github
        org.people.append(Person(Caller(f"user-{tag}-{i}", org.org_id, email, name), p.role,
                                 github, p.suspended and i > 0))
    _, admin = await organizations.create(
        store, org.org_id, org.name, org.admin.caller.user_id, str(org.admin.caller.email),
        str(org.admin.caller.name), plan="pro", github_username=org.admin.github,
        max_members=len(org.people) + plan.spare_seats)
    for person in org.people[1:]:
        await add_person(store, org, admin, person)
    for i, person in enumerate(org.people):
        if person.github:
            org.usernames.append(person.github)
            await analytics.record_github_data(
                store, acting(admin), person.github, github_record(tag, i),
                user_id=person.caller.user_id, data_source=f"source {tag}")
    if plan.orphan_analytics:
        org.usernames.append(f"gh-{tag}-orphan")
        await analytics.record_github_data(store, acting(admin), f"gh-{tag}-orphan",
                                           github_record(tag, 99), user_id=None,
                                           data_source=f"source {tag}")
    for j in range(plan.pending + plan.revoked):
        invitation, token = await invitations.create(
            store, acting(admin), f"inv{j}.{tag}@{tag}.example", Role.ADMIN if j % 2 else
            Role.MEMBER, name=f"Invitee {tag}-{j}", github_username=f"gh-{tag}-inv{j}")
        org.invites.append((invitation.invite_id, invitation.email, token))
        if j < plan.pending:
            org.pending.add(invitation.invite_id)
        else:
            await invitations.revoke(store, acting(admin), invitation.invite_id)
    for date in plan.report_dates:
        await analytics.generate_team_report(store, acting(admin), date)
        org.dates.append(date)
    return org


CONNECTIONS = ("members", "invitations", "activity", "teamGitHubData")
IDS = """{ organization { id } members(first: 100) { edges { node { id } } }
  invitations(first: 100) { edges { node { id } } } activity(first: 100) { edges { node { id } } }
  teamGitHubData(first: 100) { edges { node { id } } } teamReport { id } }"""


async def collect_cursors(api: Api, org: Org) -> None:
    """Cursors each of the org's callers was given, for every connection field, and the
    global ids of everything its admin can read."""
    for person in org.people:
        for fld in CONNECTIONS:
            outcome = await api.run(f"{{ {fld}(first: 1) {{ pageInfo {{ endCursor }} }} }}",
                                    person.caller)
            cursor = ((outcome.data or {}).get(fld) or {}).get("pageInfo", {}).get("endCursor")
            if cursor:
                org.cursors.setdefault(fld, []).append(cursor)
    org.ids = list(ids_in(await api.ok(IDS, org.admin.caller)))


# Reading the store


async def partition(store: Store, org_id: str) -> list[Item]:
    return await store.query_all(Query(partition=keys.org_pk(org_id), consistent=True))


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def ids_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "id" and isinstance(v, str):
                yield v
            else:
                yield from ids_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from ids_in(v)


def secrets_of(org: Org, items: list[Item]) -> set[str]:
    """Everything of the org a stranger must never see: its tagged values, system ids,
    tokens, and the cursors and global ids it was given."""
    found = {s for s in strings(items) if org.tag in s}
    found |= {str(i[name]) for i in items for name in SYSTEM_IDS if i.get(name)}
    for _, _, token in org.invites:
        found |= {token, token.partition(".")[2]}
    found |= {c for cursors in org.cursors.values() for c in cursors}
    found |= set(org.ids)
    return found


def readable(value: Any) -> str:
    """A response as text, each global id in it followed by what it encodes (an org's id,
    a user id, ...): the tags the scan looks for are not visible in base64."""
    decoded = []
    for s in strings(value):
        try:
            decoded.append(from_base64(s)[1])
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            continue
    return json.dumps([value, decoded], ensure_ascii=False)


def check_counts(op: Op, data: dict[str, Any] | None, own: list[Item]) -> None:
    """A connection's totalCount counts org A's own items, never another org's."""
    connection = (data or {}).get(op.kind) or {}
    if "totalCount" not in connection:
        return
    kinds = {"members": "MEMBER", "invitations": "INVITATION", "teamGitHubData": "GITHUB_DATA"}
    expected = [i for i in own if i["entityType"] == kinds[op.kind]
                and (op.kind != "members" or not op.flag or i["role"] == "member")]
    assert connection["totalCount"] == len(expected), (op, connection)


def check_own_partition(a: Org, items: list[Item]) -> None:
    assert {i.get("organizationId", a.org_id) for i in items} == {a.org_id}
    org = next(i for i in items if i["entityType"] == "ORGANIZATION")
    people = [i for i in items if i["entityType"] == "MEMBER"]
    if org["currentMembers"] != len(people):
        tally.add(tally.LOST, abs(org["currentMembers"] - len(people)))
    assert org["currentMembers"] == len(people) <= org["maxMembers"]
    # Every role-and-status counter (adminCount: the active admins) counts the people stored.
    for role, status in SLOTS:
        stored = [p for p in people if (p["role"], p["status"]) == (role.value, status.value)]
        assert org[count_attribute((role, status))] == len(stored), (role, status)
    assert org[ACTIVE_ADMINS] >= 1


# Operations of org A's callers


MEMBER = """id userId email name role status githubUsername permissions version
  invitedBy { id userId name email } preferences { language }
  githubData { id githubUsername dataSource codeQuality { analysis strengths }
               member { id userId } }"""
RESULT = "__typename ... on MutationError { code message }"

# kind -> (document, pool the argument $x comes from)
DOCUMENTS: dict[str, tuple[str, str | None]] = {
    "overview": (f"""{{ viewer {{ {MEMBER} }} organization {{ id organizationId name plan
        currentMembers maxMembers version usage {{ apiCalls {{ current limit }} }}
        owner {{ {MEMBER} }} }} }}""", None),
    "member": (f"query($x: ID!) {{ member(userId: $x) {{ {MEMBER} }} }}", "user"),
    "node": (f"""query($x: ID!) {{ node(id: $x) {{ __typename id ... on Member {{ {MEMBER} }}
        ... on Organization {{ organizationId name }}
        ... on Invitation {{ invitationId email invitee: name invitedBy {{ id userId name }} }}
        ... on GitHubData {{ username: githubUsername dataSource codeQuality {{ analysis }} }}
        ... on TeamReport {{ reportDate generatedByName topPerformers {{ userId name }} }}
        ... on ActivityEvent {{ eventId action target actorId }} }} }}""", "node"),
    "memberByEmail": (f"query($x: String!) {{ memberByEmail(email: $x) {{ {MEMBER} }} }}",
                      "email"),
    "members": (f"""query($x: String, $r: Role) {{ members(first: 3, after: $x, role: $r) {{
        edges {{ cursor node {{ {MEMBER} }} }} pageInfo {{ hasNextPage endCursor }}
        totalCount }} }}""", "cursor:members"),
    "invitations": ("""query($x: String) { invitations(first: 3, after: $x) {
        edges { cursor node { id invitationId email name role status githubUsername
                              invitedByName invitedBy { id userId name } } }
        pageInfo { endCursor } totalCount } }""", "cursor:invitations"),
    "activity": ("""query($x: String) { activity(first: 5, after: $x) {
        edges { cursor node { id eventId action target actorId actor { id userId name email } } }
        pageInfo { endCursor } } }""", "cursor:activity"),
    "githubData": (f"""query($x: String!) {{ githubData(username: $x) {{ githubUsername
        dataSource codeQuality {{ analysis strengths }} burnoutRisk {{ riskLevel }}
        member {{ {MEMBER} }} }} }}""", "username"),
    "teamGitHubData": ("""query($x: String) { teamGitHubData(first: 3, after: $x) {
        edges { cursor node { id githubUsername dataSource codeQuality { analysis }
                              member { id userId name email } } }
        pageInfo { endCursor } totalCount } }""", "cursor:teamGitHubData"),
    "teamReport": ("""query($x: String) { teamReport(date: $x) { reportDate generatedByName
        generatedBy { id name } summary { totalMembers totalCommits }
        topPerformers { userId name member { id email } } needsSupport { userId name }
        burnoutRisks { userId name } recommendations { action } } }""", "date"),
    "updateSettings": (f"""mutation($x: Int!, $n: String) {{ updateOrganizationSettings(
        input: {{expectedVersion: $x, name: $n, timezone: "Europe/Berlin"}}) {{ {RESULT}
        ... on UpdateOrganizationSettingsSuccess {{ organization {{ id organizationId name
        version }} }} }} }}""", "version"),
    "invite": (f"""mutation($x: String!, $g: String) {{ inviteMember(input: {{email: $x,
        role: MEMBER, githubUsername: $g, name: "Invitee"}}) {{ {RESULT}
        ... on InviteMemberSuccess {{ token refreshed invitation {{ id invitationId email
        githubUsername invitedBy {{ id userId }} }} }} }} }}""", "email"),
    "accept": (f"""mutation($x: String!) {{ acceptInvitation(input: {{token: $x}}) {{
        {RESULT} ... on InvitationUnavailable {{ reason }}
        ... on MemberLimitReached {{ maxMembers }}
        ... on AcceptInvitationSuccess {{ member {{ {MEMBER} }} }} }} }}""", "token"),
    "revoke": (f"""mutation($x: ID!) {{ revokeInvitation(input: {{invitationId: $x}}) {{
        {RESULT} ... on RevokeInvitationSuccess {{ invitation {{ id invitationId email
        status }} }} }} }}""", "invite"),
    "changeRole": (f"""mutation($x: ID!, $r: Role!, $v: Int) {{ changeMemberRole(input: {{
        userId: $x, role: $r, expectedVersion: $v}}) {{ {RESULT}
        ... on ChangeMemberRoleSuccess {{ member {{ {MEMBER} }} }} }} }}""", "user"),
    "remove": (f"""mutation($x: ID!) {{ removeMember(input: {{userId: $x}}) {{ {RESULT}
        ... on RemoveMemberSuccess {{ member {{ {MEMBER} }} }} }} }}""", "user"),
    "preferences": (f"""mutation($v: Int) {{ updateMyPreferences(input: {{language: "de",
        expectedVersion: $v}}) {{ {RESULT}
        ... on UpdateMyPreferencesSuccess {{ member {{ {MEMBER} }} }} }} }}""", None),
    "recordGitHubData": (f"""mutation($x: String!) {{ recordGitHubData(input: {{
        githubUsername: $x, codeQuality: {{overallScore: 7.5, analysis: "recorded by A"}},
        metrics: {{totalCommits: 3}}, burnoutRisk: {{riskScore: 2}}}}) {{ {RESULT}
        ... on RecordGitHubDataSuccess {{ githubData {{ id githubUsername dataSource
        member {{ {MEMBER} }} }} }} }} }}""", "username"),
    "generateReport": (f"""mutation($x: String) {{ generateTeamReport(input: {{date: $x}}) {{
        {RESULT} ... on GenerateTeamReportSuccess {{ teamReport {{ id reportDate
        summary {{ totalMembers }} topPerformers {{ userId name }}
        burnoutRisks {{ userId name }} }} }} }} }}""", "date"),
}
ROLES = ("ADMIN", "MEMBER", "VIEWER")


@dataclass
class World:
    store: Store
    a: Org
    rivals: list[Org]

    async def value(self, op: Op, kind: str) -> Any:
        nobody = NOBODY["cursor" if kind.startswith("cursor:") else kind]
        if op.source == "nobody":
            return nobody
        org = self.a if op.source == "own" else self.rivals[op.pick % len(self.rivals)]
        if kind == "version":
            item = await self.store.get(keys.organization(org.org_id), consistent=True)
            assert item is not None
            return item["version"]
        pool = org.pool(kind)
        return pool[op.pick % len(pool)] if pool else nobody

    def caller(self, op: Op, email: str | None = None) -> Caller:
        if op.who == "newcomer" or email is not None:
            n = op.pick % 3
            return Caller(f"user-{self.a.tag}-new{n}", self.a.org_id,
                          email or f"new{n}.{self.a.tag}@{self.a.tag}.example",
                          f"Newcomer {self.a.tag}-{n}")
        by_role = {"admin": self.a.people[0], "member": self.a.people[1],
                   "viewer": self.a.people[2]}
        suspended = [p for p in self.a.people if p.suspended]
        person = by_role.get(op.who) or (suspended[0] if suspended else self.a.people[2])
        return person.caller

    async def run(self, api: Api, op: Op) -> Outcome:
        document, pool = DOCUMENTS[op.kind]
        variables: dict[str, Any] = {}
        email = None
        if pool is not None:
            variables["x"] = await self.value(op, pool)
        if op.kind == "accept":
            variables["x"], email = variables["x"]
            if op.flag and op.who != "newcomer":
                email = None  # a person of A tries a token, with their own email
        if op.kind == "updateSettings":
            variables["n"] = await self.value(op, "name") if op.flag else None
        if op.kind == "invite":
            variables["g"] = await self.value(op, "username") if op.flag else None
        if op.kind == "members":
            variables["r"] = "MEMBER" if op.flag else None
        if op.kind == "changeRole":
            variables["r"] = ROLES[op.pick % 3]
            variables["v"] = 1 if op.flag else None
        if op.kind == "preferences":
            variables["v"] = 1 if op.flag else None
        if op.kind in ("members", "invitations", "activity", "teamGitHubData", "teamReport",
                       "generateReport") and op.source == "nobody" and op.flag:
            variables["x"] = None  # the first page, the latest report, today
        outcome = await api.run(document, self.caller(op, email), variables)
        result = (outcome.data or {}).get("inviteMember") or {}
        if result.get("token"):  # A's own new invitation: its token joins A's pool
            invitation = result["invitation"]
            self.a.invites.append((invitation["invitationId"], invitation["email"],
                                   result["token"]))
            self.a.pending.add(invitation["invitationId"])
        return outcome


async def build_world(api: Api, plans: list[OrgPlan]) -> World:
    n = next(_examples)
    orgs: list[Org] = []
    for letter, plan in zip("abc", plans, strict=False):
        orgs.append(await build_org(api.store, plan, f"{letter}{n}", orgs[0] if orgs else None))
    for org in orgs:
        await collect_cursors(api, org)
    return World(api.store, orgs[0], orgs[1:])


async def check_tenancy(api: Api, plans: list[OrgPlan], ops: list[Op]) -> None:
    world = await build_world(api, plans)
    store, a = api.store, world.a
    rival_items = {r.org_id: await partition(store, r.org_id) for r in world.rivals}
    secrets = set().union(*(secrets_of(r, rival_items[r.org_id]) for r in world.rivals))
    for rival in world.rivals:  # the scan looks for something real
        assert {rival.org_id, str(rival.admin.caller.email), rival.invites[-1][2]} <= secrets
    tally.add(tally.CASES)

    for op in ops:
        outcome = await world.run(api, op)
        # A masked error hides a bug (it once hid every inviteMember failing).
        assert "INTERNAL_SERVER_ERROR" not in outcome.codes, (op, outcome)
        if op.source == "rival":
            tally.add(tally.OPERATIONS)

        own = await partition(store, a.org_id)
        text = readable({"data": outcome.data, "errors": outcome.errors})
        mine = set(strings(own))
        leaked = sorted(s for s in secrets - mine if s in text)
        tally.add(tally.LEAKS, len(leaked))
        assert leaked == [], (op, outcome)
        for rival in world.rivals:
            assert await partition(store, rival.org_id) == rival_items[rival.org_id], op
        check_counts(op, outcome.data, own)
        check_own_partition(a, own)


PATIENT = settings(deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("store", ["embedded"], indirect=True)
@settings(PATIENT, max_examples=100)
@given(plans=worlds(max_extra=3, max_invites=2), ops=operations(max_ops=20))
async def test_org_a_never_sees_nor_changes_another_orgs_data_on_the_embedded_store(
        bare_api: Api, plans: list[OrgPlan], ops: list[Op]) -> None:
    await check_tenancy(bare_api, plans, ops)


@pytest.mark.parametrize("store", ["dynamodb"], indirect=True)
@settings(PATIENT, max_examples=10)
@given(plans=worlds(max_extra=1, max_invites=1), ops=operations(max_ops=10))
async def test_org_a_never_sees_nor_changes_another_orgs_data_on_dynamodb(
        bare_api: Api, moto_endpoint: str, moto_client: Any, plans: list[OrgPlan],
        ops: list[Op]) -> None:
    # A fresh table for each example: moto copies the whole table for every transaction
    # action, so a table holding every earlier example's orgs would make each write slow.
    reset_moto(moto_endpoint)
    create_table(moto_client, TABLE)
    await check_tenancy(bare_api, plans, ops)
