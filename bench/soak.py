"""The soak: mixed reads and writes from two client processes against two server processes
that share one SQLite file, for a bounded time; then every write is checked in the store.

    python -m bench.soak --seconds 180      # the full run (a few minutes, loopback only)

Every write is identifiable: invitations of unique emails, their acceptance by unique new
people, GitHub data of unique usernames, and preference updates whose member version each
success returns. Afterwards, with the servers stopped, the store must hold every
acknowledged write exactly once and nothing refused; each member's version must have grown
by exactly its acknowledged updates (the versions the updates returned: all distinct, no
gaps); ``currentMembers`` must match the people stored; every write must have exactly one
activity event; and the organization's API call counter must equal the requests answered,
across both server processes. Any 5xx, transport error or INTERNAL_SERVER_ERROR fails the
run. It prints the counts (and throughput and latency, for interest) and exits 1 on a
problem. Only processes it started are ever stopped, by their own PID.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
# The demo organization's quota is 100,000 calls a month; a soak must never meet it.
SOAK_CALL_LIMIT = 10**9

ORG = "org-xyz-789"
ALICE = "user-abc-123"  # the demo admin
BOB = "user-bob-002"
PEOPLE = {ALICE: ("alice@startup.com", "Alice Developer"),
          BOB: ("bob@startup.com", "Bob Senior")}

# Operation mix: name -> weight. Reads of every listing, and four kinds of writes.
MIX = {"viewer": 14, "organization": 10, "members": 10, "invitations": 8, "activity": 8,
       "githubData": 6, "teamGitHubData": 2,
       "invite": 14, "accept": 6, "preferences": 14, "recordGitHubData": 8}

READS = {
    "viewer": "query Viewer { viewer { id role version preferences { language } } }",
    "organization": "query Org { organization { id currentMembers maxMembers version } }",
    "members": "query Members { members(first: 25) { edges { node { id email role } } "
               "pageInfo { hasNextPage endCursor } } }",
    "invitations": "query Invitations { invitations(first: 25) { edges { node { id email "
                   "status } } } }",
    "activity": "query Activity { activity(first: 25) { edges { node { id action target "
                "actor { name } } } } }",
    "githubData": "query GitHub($u: String!) { githubData(username: $u) { githubUsername "
                  "metrics { totalCommits } member { name } } }",
    "teamGitHubData": "query Team { teamGitHubData(first: 100) { edges { node { githubUsername "
                      "burnoutRisk { riskScore } } } } }",
}
INVITE = """mutation Invite($email: String!, $name: String) {
  inviteMember(input: {email: $email, name: $name}) {
    __typename
    ... on InviteMemberSuccess { token invitation { invitationId email status } }
    ... on MutationError { code message }
  }
}"""
ACCEPT = """mutation Accept($token: String!) {
  acceptInvitation(input: {token: $token}) {
    __typename
    ... on AcceptInvitationSuccess { member { userId email } }
    ... on MutationError { code message }
  }
}"""
PREFERENCES = """mutation Prefs($language: String!, $expected: Int) {
  updateMyPreferences(input: {language: $language, expectedVersion: $expected}) {
    __typename
    ... on UpdateMyPreferencesSuccess { member { userId version preferences { language } } }
    ... on MutationError { code message }
  }
}"""
RECORD = """mutation Record($u: String!, $commits: Int!) {
  recordGitHubData(input: {githubUsername: $u, codeQuality: {overallScore: 7.5},
                           metrics: {totalCommits: $commits}, burnoutRisk: {riskScore: 3}}) {
    __typename
    ... on RecordGitHubDataSuccess { githubData { githubUsername metrics { totalCommits } } }
    ... on MutationError { code message }
  }
}"""


# The client process


@dataclass
class ClientConfig:
    index: int
    run: str
    urls: list[str]
    secret: str
    tokens: dict[str, str]  # user id -> token, for ALICE and BOB
    seconds: float
    concurrency: int
    out: str
    seed: int


@dataclass
class ClientResult:
    """What one client saw; the parent checks the store against it."""

    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    by_operation: dict[str, int] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)
    transport_errors: int = 0
    samples: list[str] = field(default_factory=list)  # the first few unexpected answers
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    invites: list[dict[str, str]] = field(default_factory=list)  # acknowledged
    accepts: list[dict[str, str]] = field(default_factory=list)  # acknowledged
    accepts_refused: list[dict[str, str]] = field(default_factory=list)  # limit reached
    preferences: list[dict[str, Any]] = field(default_factory=list)  # acknowledged
    conflicts: int = 0  # VersionConflict answers to preference updates
    github: list[str] = field(default_factory=list)  # acknowledged usernames
    in_doubt: dict[str, list[str]] = field(default_factory=dict)  # kind -> identities
    refusals: dict[str, int] = field(default_factory=dict)  # typed errors, by typename


class Client:
    def __init__(self, config: ClientConfig, http: list[httpx.AsyncClient]) -> None:
        from web.auth import mint_token

        self.config = config
        self.http = http
        self.mint = mint_token
        self.result = ClientResult()
        self.sequence = 0
        self.pending: collections.deque[dict[str, str]] = collections.deque()
        self.versions: dict[str, int] = {}

    def unique(self) -> str:
        self.sequence += 1
        return f"{self.config.run}-c{self.config.index}-{self.sequence}"

    def doubt(self, kind: str, identity: str) -> None:
        self.result.in_doubt.setdefault(kind, []).append(identity)

    def note(self, sample: str) -> None:
        if len(self.result.samples) < 10:
            self.result.samples.append(sample[:500])

    async def call(self, operation: str, query: str, variables: dict[str, Any],
                   token: str, turn: int) -> dict[str, Any] | None:
        """The `data` of an answer; None when the outcome is unknown or an error."""
        r = self.result
        r.requests += 1
        r.by_operation[operation] = r.by_operation.get(operation, 0) + 1
        http = self.http[turn % len(self.http)]
        started = time.perf_counter()
        try:
            response = await http.post("/graphql", json={"query": query,
                                                          "variables": variables},
                                       headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            r.transport_errors += 1
            self.note(f"{operation}: {type(exc).__name__}: {exc}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        r.latencies_ms.setdefault(operation, []).append(round(elapsed, 2))
        status = str(response.status_code)
        r.statuses[status] = r.statuses.get(status, 0) + 1
        try:
            body = response.json()
        except ValueError:
            self.note(f"{operation}: HTTP {status}, not JSON: {response.text}")
            return None
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code") or "NO_CODE"
            r.error_codes[code] = r.error_codes.get(code, 0) + 1
            self.note(f"{operation}: HTTP {status}: {error}")
        if response.status_code != 200 or body.get("errors"):
            if response.status_code < 500 and not body.get("errors"):
                self.note(f"{operation}: HTTP {status}: {body}")
            return None
        data: dict[str, Any] = body["data"]
        return data

    def refused(self, typename: str) -> None:
        self.result.refusals[typename] = self.result.refusals.get(typename, 0) + 1

    async def read(self, operation: str, turn: int, rng: random.Random) -> None:
        variables: dict[str, Any] = {}
        if operation == "githubData":
            known = self.result.github
            variables["u"] = rng.choice(known) if known else "bob-senior"
        await self.call(operation, READS[operation], variables, self.config.tokens[ALICE], turn)

    async def invite(self, turn: int) -> None:
        email = f"{self.unique()}@soak.example"
        data = await self.call("invite", INVITE, {"email": email, "name": "Soak Person"},
                               self.config.tokens[ALICE], turn)
        if data is None:
            self.doubt("invite", email)
            return
        result = data["inviteMember"]
        if result["__typename"] != "InviteMemberSuccess":
            self.refused(result["__typename"])
            self.note(f"invite refused: {result}")
            return
        invite = {"email": email, "id": result["invitation"]["invitationId"],
                  "token": result["token"]}
        self.result.invites.append({"email": email, "id": invite["id"]})
        self.pending.append(invite)

    async def accept(self, turn: int) -> None:
        if not self.pending:
            return
        invite = self.pending.popleft()
        user = f"soak-user-{self.unique()}"  # soak-user-{run}-c{client}-{n}
        token = self.mint(self.config.secret, user_id=user, org_id=ORG,
                          email=invite["email"], name="Soak Person", ttl_seconds=3600)
        data = await self.call("accept", ACCEPT, {"token": invite["token"]}, token, turn)
        accepted = {"user": user, "invite": invite["id"], "email": invite["email"]}
        if data is None:
            self.doubt("accept", user)
            return
        result = data["acceptInvitation"]
        if result["__typename"] == "AcceptInvitationSuccess":
            self.result.accepts.append(accepted)
        elif result["__typename"] == "MemberLimitReached":
            self.result.accepts_refused.append(accepted)
            self.refused(result["__typename"])
        else:
            self.refused(result["__typename"])
            self.note(f"accept refused: {result}")

    async def preferences(self, turn: int, rng: random.Random) -> None:
        user = rng.choice([ALICE, BOB])
        language = self.unique()
        # Half of them name the version this client last saw, which is often stale.
        expected = self.versions.get(user) if rng.random() < 0.5 else None
        data = await self.call("preferences", PREFERENCES,
                               {"language": language, "expected": expected},
                               self.config.tokens[user], turn)
        if data is None:
            self.doubt("preferences", f"{user}:{language}")
            return
        result = data["updateMyPreferences"]
        if result["__typename"] == "UpdateMyPreferencesSuccess":
            member = result["member"]
            self.versions[user] = member["version"]
            self.result.preferences.append({"user": user, "version": member["version"],
                                            "language": member["preferences"]["language"],
                                            "sent": language})
        elif result["__typename"] == "VersionConflict":
            self.result.conflicts += 1
            self.versions.pop(user, None)
        else:
            self.refused(result["__typename"])
            self.note(f"preferences refused: {result}")

    async def record(self, turn: int, rng: random.Random) -> None:
        username = f"s{self.unique()}"
        data = await self.call("recordGitHubData", RECORD,
                               {"u": username, "commits": rng.randrange(1, 10_000)},
                               self.config.tokens[ALICE], turn)
        if data is None:
            self.doubt("github", username)
            return
        result = data["recordGitHubData"]
        if result["__typename"] == "RecordGitHubDataSuccess":
            self.result.github.append(username)
        else:
            self.refused(result["__typename"])
            self.note(f"recordGitHubData refused: {result}")

    async def worker(self, number: int, deadline: float) -> None:
        rng = random.Random(self.config.seed * 1000 + number)
        names, weights = list(MIX), list(MIX.values())
        turn = number
        while time.monotonic() < deadline:
            turn += 1
            operation = rng.choices(names, weights)[0]
            if operation in READS:
                await self.read(operation, turn, rng)
            elif operation == "invite":
                await self.invite(turn)
            elif operation == "accept":
                await self.accept(turn)
            elif operation == "preferences":
                await self.preferences(turn, rng)
            else:
                await self.record(turn, rng)


async def run_client(config: ClientConfig) -> ClientResult:
    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS)
    limits = httpx.Limits(max_connections=config.concurrency)
    clients = [httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)
               for url in config.urls]
    try:
        client = Client(config, clients)
        deadline = time.monotonic() + config.seconds
        await asyncio.gather(*(client.worker(n, deadline) for n in range(config.concurrency)))
        return client.result
    finally:
        for http in clients:
            await http.aclose()


def client_main(config_path: Path) -> int:
    config = ClientConfig(**json.loads(config_path.read_text(encoding="utf-8")))
    result = asyncio.run(run_client(config))
    out = Path(config.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result)), encoding="utf-8")
    tmp.replace(out)
    return 0


# The servers


@dataclass
class Started:
    name: str
    popen: subprocess.Popen[bytes]
    files: list[IO[bytes]]
    stdout: Path
    stderr: Path
    url: str = ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, a graceful wait, then SIGKILL; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        for f in self.files:
            f.close()
        return self.popen.returncode

    def tail(self, lines: int = 20) -> str:
        text = self.stderr.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class SoakError(Exception):
    """The soak could not run; the message says why."""


def start(name: str, argv: Sequence[str], workdir: Path, env: dict[str, str]) -> Started:
    stdout, stderr = workdir / f"{name}.out", workdir / f"{name}.log"
    files: list[IO[bytes]] = [stdout.open("wb"), stderr.open("wb")]
    popen = subprocess.Popen(list(argv), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             stdout=files[0], stderr=files[1])
    return Started(name, popen, files, stdout, stderr)


def start_server(index: int, workdir: Path, env: dict[str, str]) -> Started:
    server = start(f"server{index}", [sys.executable, "-m", "server", "serve"], workdir, env)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.url:
        for line in server.stdout.read_text(encoding="utf-8").splitlines():
            if line.startswith("GraphiQL:"):
                server.url = line.split()[1].removesuffix("/graphql")
        if server.url:
            break
        if not server.alive() or time.monotonic() > deadline:
            server.stop()
            raise SoakError(f"{server.name} did not start; its log ends:\n{server.tail()}")
        time.sleep(0.05)
    while True:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if not server.alive() or time.monotonic() > deadline:
            server.stop()
            raise SoakError(f"{server.name} did not become ready; its log ends:\n"
                            f"{server.tail()}")
        time.sleep(0.1)


# Setting up and checking the store


async def prepare(sqlite_path: Path) -> dict[str, int]:
    """Load the demo organization, lift its quota out of reach; return people's versions."""
    from datastore import demo, keys
    from datastore.embedded import EmbeddedStore
    from datastore.records import Member
    from datastore.store import Set

    store = EmbeddedStore(sqlite_path)
    try:
        await demo.load_demo(store)
        await store.update(keys.organization(ORG),
                           [Set("usage.apiCalls.limit", SOAK_CALL_LIMIT)])
        versions = {}
        for user in PEOPLE:
            item = await store.get(keys.member(ORG, user), consistent=True)
            assert item is not None, f"the demo has no {user}"
            versions[user] = Member.from_item(item).version
        return versions
    finally:
        await store.close()


async def read_partition(sqlite_path: Path) -> list[dict[str, Any]]:
    from datastore import keys
    from datastore.embedded import EmbeddedStore
    from datastore.store import Query

    store = EmbeddedStore(sqlite_path)
    try:
        return await store.query_all(Query(partition=keys.org_pk(ORG)))
    finally:
        await store.close()


@dataclass
class Report:
    seconds: float
    servers: int
    clients: int
    concurrency: int
    requests: int = 0
    requests_per_second: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0  # 5xx
    transport_errors: int = 0
    internal_errors: int = 0  # INTERNAL_SERVER_ERROR codes
    writes: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    phantom: int = 0  # written, though refused or never sent
    in_doubt: int = 0
    read_backs_of_later_updates: int = 0  # see check()
    api_calls_counted: int | None = None
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sum_into(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


def check(report: Report, results: list[ClientResult], before: list[dict[str, Any]],
          items: list[dict[str, Any]], versions_before: dict[str, int], run_id: str) -> None:
    """Compare what the clients were told with what the store holds."""
    from datastore import keys
    from datastore.records import (
        ActivityEvent,
        GitHubData,
        Invitation,
        InvitationStatus,
        Member,
        Organization,
    )

    problems = report.problems

    def expect(condition: bool, problem: str) -> None:
        if not condition:
            problems.append(problem)

    by_kind: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for item in items:
        for prefix in (keys.MEMBER, keys.INVITE, keys.GITHUB_DATA, keys.ACTIVITY, keys.ORG):
            if item["SK"].startswith(prefix):
                by_kind[prefix].append(item)
                break
    people = [Member.from_item(i) for i in by_kind[keys.MEMBER]]
    invitations = [Invitation.from_item(i) for i in by_kind[keys.INVITE]]
    github = [GitHubData.from_item(i) for i in by_kind[keys.GITHUB_DATA]]
    events = [ActivityEvent.from_item(i) for i in by_kind[keys.ACTIVITY]]
    [org] = [Organization.from_item(i) for i in by_kind[keys.ORG]]
    # Only the soak's own events: the demo's, from before it, are subtracted.
    events_by = collections.Counter((e.action, e.target) for e in events)
    events_by.subtract(collections.Counter(
        (i["action"], i.get("target")) for i in before if i["SK"].startswith(keys.ACTIVITY)))
    doubt: dict[str, set[str]] = collections.defaultdict(set)
    for r in results:
        for kind, identities in r.in_doubt.items():
            doubt[kind].update(identities)
    report.in_doubt = sum(len(v) for v in doubt.values())

    def missing(what: str, expected: list[str], stored: collections.Counter[str],
                refused: set[str], kind: str) -> None:
        lost = [x for x in expected if stored[x] == 0]
        twice = [x for x, n in stored.items() if n > 1]
        extra = [x for x in stored if x not in set(expected) and x not in doubt[kind]]
        wrongly = [x for x in refused if stored[x]]
        report.lost += len(lost)
        report.duplicated += len(twice) + (len(expected) - len(set(expected)))
        report.phantom += len(extra) + len(wrongly)
        expect(not lost, f"{len(lost)} acknowledged {what} missing, e.g. {lost[:3]}")
        expect(not twice, f"{len(twice)} {what} stored more than once, e.g. {twice[:3]}")
        expect(len(expected) == len(set(expected)), f"an acknowledged {what} was reported "
                                                      "twice")
        expect(not extra, f"{len(extra)} {what} stored that no one was told of: {extra[:3]}")
        expect(not wrongly, f"{len(wrongly)} refused {what} were stored: {wrongly[:3]}")

    # Invitations: each acknowledged one exactly once, under the id its answer gave.
    acked_invites = [i for r in results for i in r.invites]
    stored_invites = collections.Counter(i.email for i in invitations
                                         if i.email.endswith("@soak.example"))
    missing("invitations", [i["email"] for i in acked_invites], stored_invites, set(),
            "invite")
    ids = {i.email: i.invite_id for i in invitations}
    wrong_ids = [i for i in acked_invites if ids.get(i["email"]) not in (None, i["id"])]
    expect(not wrong_ids, f"{len(wrong_ids)} invitations stored under another id")

    # Acceptances: each acknowledged person exactly once, none of the refused ones, each
    # invitation accepted by the one who was told so.
    acked = [a for r in results for a in r.accepts]
    refused = [a for r in results for a in r.accepts_refused]
    stored_people = collections.Counter(p.user_id for p in people
                                        if p.user_id.startswith(f"soak-user-{run_id}-"))
    missing("new members", [a["user"] for a in acked], stored_people,
            {a["user"] for a in refused}, "accept")
    invitation_by_id = {i.invite_id: i for i in invitations}
    not_consumed = [a for a in acked if a["invite"] in invitation_by_id and (
        invitation_by_id[a["invite"]].status is not InvitationStatus.ACCEPTED
        or invitation_by_id[a["invite"]].accepted_by != a["user"])]
    expect(not not_consumed, f"{len(not_consumed)} accepted invitations not marked as "
                             f"accepted by their person: {not_consumed[:3]}")
    reopened = [a for a in refused if a["invite"] in invitation_by_id
                and invitation_by_id[a["invite"]].status is not InvitationStatus.PENDING]
    expect(not reopened, f"{len(reopened)} refused acceptances consumed their invitation")
    expect(org.current_members == len(people),
           f"currentMembers is {org.current_members} but {len(people)} people are stored")
    expect(len(people) <= org.max_members,
           f"{len(people)} people stored, over maxMembers {org.max_members}")

    # GitHub data: each acknowledged username exactly once.
    acked_github = [u for r in results for u in r.github]
    stored_github = collections.Counter(g.github_username for g in github
                                        if g.github_username.startswith(f"s{run_id}-"))
    missing("GitHub data records", acked_github, stored_github, set(), "github")

    # Preferences: each member's version grew by exactly its acknowledged updates, with one
    # activity event each, and the stored language is one that an acknowledged update sent.
    # (The version an update returns is read after its write, so a concurrent update can
    # show through it; those answers are counted, not failed.)
    member_by_id = {p.user_id: p for p in people}
    for user, version_before in versions_before.items():
        successes = [p for r in results for p in r.preferences if p["user"] == user]
        doubts = {d.partition(":")[2] for d in doubt["preferences"] if d.startswith(f"{user}:")}
        stored = member_by_id[user]
        grown = stored.version - version_before
        expect(len(successes) <= grown <= len(successes) + len(doubts),
               f"{user}: version grew by {grown} for {len(successes)} acknowledged updates "
               f"(+{len(doubts)} in doubt)")
        report.lost += max(0, len(successes) - grown)
        report.phantom += max(0, grown - len(successes) - len(doubts))
        report.read_backs_of_later_updates += len(
            [p for p in successes if p["language"] != p["sent"]])
        if successes:
            language = stored.preferences.get("language")
            expect(language in {p["sent"] for p in successes} | doubts,
                   f"{user}: stored language {language!r} was not sent by an acknowledged "
                   "update")
        expect(events_by["member.preferences_updated", user] == grown,
               f"{user}: {events_by['member.preferences_updated', user]} activity events "
               f"for {grown} updates")

    # One activity event per write, in the same transaction.
    for action, targets in (("invitation.created", [i["id"] for i in acked_invites]),
                            ("invitation.accepted", [a["invite"] for a in acked]),
                            ("github_data.recorded", acked_github)):
        wrong = [t for t in targets if events_by[action, t] != 1]
        expect(not wrong, f"{len(wrong)} {action} writes without exactly one activity "
                          f"event, e.g. {wrong[:3]}")

    # Every answered request of an active member was counted once, whichever server process
    # answered it; an invitee accepting is not a member yet, and costs the org nothing.
    calls = (org.usage.get("apiCalls") or {}).get("current")
    if calls is not None:
        report.api_calls_counted = int(calls)
        answered = sum(sum(r.statuses.values()) for r in results)
        by_invitees = sum(len(r.latencies_ms.get("accept", [])) for r in results)
        unknown = sum(r.transport_errors for r in results)
        expect(answered - by_invitees <= calls <= answered - by_invitees + unknown,
               f"usage.apiCalls.current is {calls} for {answered} answered requests, "
               f"{by_invitees} of them by invitees (+{unknown} unanswered)")

    report.writes = {
        "invitations acknowledged": len(acked_invites),
        "invitations stored": sum(stored_invites.values()),
        "acceptances acknowledged": len(acked),
        "acceptances refused (member limit)": len(refused),
        "members stored": len(people),
        "preference updates acknowledged": sum(len(r.preferences) for r in results),
        "preference updates refused (version conflict)": sum(r.conflicts for r in results),
        "GitHub data acknowledged": len(acked_github),
        "GitHub data stored": sum(stored_github.values()),
        "activity events written": len(events) - len(
            [i for i in before if i["SK"].startswith(keys.ACTIVITY)]),
    }


def summarize(report: Report, results: list[ClientResult]) -> None:
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    for r in results:
        report.requests += r.requests
        report.transport_errors += r.transport_errors
        _sum_into(report.statuses, r.statuses)
        _sum_into(report.error_codes, r.error_codes)
        for name, values in r.latencies_ms.items():
            latencies[name] += values
        report.samples += r.samples
        for typename, count in r.refusals.items():
            if typename not in ("MemberLimitReached", "VersionConflict"):
                report.problems.append(f"{count} unexpected {typename} answers")
    report.requests_per_second = round(report.requests / report.seconds, 1)
    report.server_errors = sum(n for s, n in report.statuses.items() if s.startswith("5"))
    report.internal_errors = report.error_codes.get("INTERNAL_SERVER_ERROR", 0)
    for name, values in sorted(latencies.items()):
        values.sort()
        report.latency_ms[name] = {
            "p50": round(statistics.median(values), 1),
            "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 1),
            "max": round(values[-1], 1)}
    expect = report.problems.append
    if report.server_errors:
        expect(f"{report.server_errors} responses were 5xx")
    if report.transport_errors:
        expect(f"{report.transport_errors} requests got no answer")
    if report.internal_errors:
        expect(f"{report.internal_errors} INTERNAL_SERVER_ERROR errors")
    others = {s: n for s, n in report.statuses.items() if s != "200" and not s.startswith("5")}
    if others:
        expect(f"unexpected statuses: {others}")
    codes = {c: n for c, n in report.error_codes.items() if c != "INTERNAL_SERVER_ERROR"}
    if codes:
        expect(f"GraphQL errors: {codes}")


# The run


def server_env(workdir: Path, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVINSIGHTS_", "AWS_"))}
    env.update(DEVINSIGHTS_STORE="embedded", DEVINSIGHTS_SQLITE_PATH=str(workdir / "soak.sqlite3"),
               DEVINSIGHTS_JWT_SECRET=secret, DEVINSIGHTS_HOST="127.0.0.1",
               DEVINSIGHTS_PORT="0", DEVINSIGHTS_LOG_LEVEL="WARNING",
               PYTHONPATH=str(ROOT))
    return env


def run(seconds: float, *, servers: int = 2, clients: int = 2, concurrency: int = 4,
        workdir: Path | None = None) -> Report:
    """Run the soak in ``workdir`` (a temporary directory by default) and check the store."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="devinsights-soak-") as tmp:
            return run(seconds, servers=servers, clients=clients, concurrency=concurrency,
                       workdir=Path(tmp))
    from web.auth import mint_token

    workdir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    env = server_env(workdir, secret)
    sqlite_path = Path(env["DEVINSIGHTS_SQLITE_PATH"])
    versions = asyncio.run(prepare(sqlite_path))
    before = asyncio.run(read_partition(sqlite_path))
    tokens = {user: mint_token(secret, user_id=user, org_id=ORG, email=email, name=name,
                               ttl_seconds=int(seconds) + 3600)
              for user, (email, name) in PEOPLE.items()}
    report = Report(seconds=seconds, servers=servers, clients=clients, concurrency=concurrency)
    started: list[Started] = []
    try:
        for n in range(servers):
            started.append(start_server(n, workdir, env))
        urls = [s.url for s in started]
        run_id = secrets.token_hex(3)
        children = []
        for n in range(clients):
            config = ClientConfig(index=n, run=run_id, urls=urls[n:] + urls[:n], secret=secret,
                                  tokens=tokens, seconds=seconds, concurrency=concurrency,
                                  out=str(workdir / f"client{n}.json"), seed=n + 1)
            path = workdir / f"client{n}.config.json"
            path.write_text(json.dumps(asdict(config)), encoding="utf-8")
            children.append(start(f"client{n}", [sys.executable, "-m", "bench.soak",
                                                 "--client", str(path)], workdir, env))
            started.append(children[-1])
        deadline = time.monotonic() + seconds + REQUEST_TIMEOUT_SECONDS + 60
        for child in children:
            try:
                child.popen.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.stop()
            if child.popen.returncode != 0:
                raise SoakError(f"{child.name} failed ({child.popen.returncode}):\n"
                                f"{child.tail()}")
        results = [ClientResult(**json.loads((workdir / f"client{n}.json").read_text(
            encoding="utf-8"))) for n in range(clients)]
    finally:
        codes = {s.name: s.stop() for s in reversed(started)}
    for name, code in codes.items():
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        if name.startswith("server") and code not in (0, -signal.SIGTERM):
            report.problems.append(f"{name} exited with {code} after SIGTERM")
    unexpected = [line for s in started if s.name.startswith("server")
                  for line in s.stderr.read_text(encoding="utf-8").splitlines()
                  if '"unexpected error"' in line or "Traceback" in line]
    if unexpected:
        report.problems.append(f"{len(unexpected)} unexpected errors logged: {unexpected[:3]}")
    summarize(report, results)
    check(report, results, before, asyncio.run(read_partition(sqlite_path)), versions, run_id)
    return report


def render(report: Report) -> str:
    lines = [f"soak: {report.servers} server processes on one SQLite file, {report.clients} "
             f"client processes x {report.concurrency} concurrent requests, "
             f"{report.seconds:g} s",
             f"requests: {report.requests} ({report.requests_per_second}/s), statuses "
             f"{report.statuses}",
             f"5xx: {report.server_errors}, no answer: {report.transport_errors}, "
             f"INTERNAL_SERVER_ERROR: {report.internal_errors}",
             f"lost writes: {report.lost}, duplicated: {report.duplicated}, written though "
             f"refused or unsent: {report.phantom}, in doubt: {report.in_doubt}"]
    lines += [f"  {name}: {count}" for name, count in report.writes.items()]
    lines.append(f"preference answers that showed a later update (read after write): "
                 f"{report.read_backs_of_later_updates}")
    if report.api_calls_counted is not None:
        lines.append(f"usage.apiCalls counted: {report.api_calls_counted}")
    lines.append("latency ms (p50 / p99 / max):")
    lines += [f"  {name}: {v['p50']} / {v['p99']} / {v['max']}"
              for name, v in report.latency_ms.items()]
    lines.append("OK: every acknowledged write is stored exactly once" if report.ok
                 else "PROBLEMS:")
    lines += [f"  - {p}" for p in report.problems]
    if not report.ok:
        lines += [f"  sample: {s}" for s in report.samples[:5]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Mixed reads and writes from client processes against server processes "
                    "sharing one SQLite file; then every write is checked in the store.")
    parser.add_argument("--seconds", type=float, default=180.0,
                        help="how long the clients send requests (default 180)")
    parser.add_argument("--servers", type=int, default=2,
                        help="server processes on the same SQLite file (default 2)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="requests in flight per client process (default 4)")
    parser.add_argument("--workdir", type=Path,
                        help="keep the SQLite file, logs and client results here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--client", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args.client)
    if args.seconds <= 0 or min(args.servers, args.clients, args.concurrency) < 1:
        parser.error("--seconds, --servers, --clients and --concurrency must be positive")
    try:
        report = run(args.seconds, servers=args.servers, clients=args.clients,
                     concurrency=args.concurrency, workdir=args.workdir)
    except SoakError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report), indent=2) if args.json else render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
