"""What each operation costs DynamoDB, beside the floor of the bytes its answer needs.

    .venv/bin/python -m bench.cost            # ~3 minutes; writes bench/COST.md

Starts moto (bench/moto_server.py), the DynamoDB semantics proxy in front of it
(tests/dynamo_proxy.py, which charges capacity as DynamoDB does), and our server on the
DynamoDB store through the proxy. Each operation is sent once to warm up, then once with
``X-DevInsights-Cost: 1``; the table shows the store calls and read/write units the server
reported for it (the proxy's charges), the floor, and ours over the floor. It also measures
a call DynamoDB keeps throttling: the attempts it makes and how long it takes to give up.

The floor of an answer: the items it needs, their bytes summed and rounded up to 4 KB once
(0.5 RCU a unit eventually consistent; 1.0 for the caller's membership and organization,
which are read strongly consistently), and for a write, DynamoDB's charge for writing
exactly the items the change needs (the person and the activity event, with their indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.operations import DASHBOARD, PAGE_SIZE, TYPENAME, org_id, person_id
from bench.processes import ROOT, BenchError, Process, request, start
from tests.dynamo_proxy import item_size

TABLE = "devinsights-bench"
# One page, the largest: 100 entries (all of them up to 100 members).
TEAM_ANALYTICS = f"{{ teamGitHubData(first: {PAGE_SIZE}) {{ edges {{ node {{ githubUsername " \
                 "codeQuality { overallScore } member { name } } } } }"
ADMINS = "{ members(role: ADMIN, first: 1) { edges { node { id } } } }"
PREFERENCES = ('mutation { updateMyPreferences(input: {language: "en"}) { __typename '
               "... on UpdateMyPreferencesSuccess { member { version } } } }")
Items = dict[str, dict[str, Any]]  # sort key -> item, as DynamoDB stores it


@dataclass(frozen=True)
class CostOp:
    name: str
    query: str
    size: int
    floor: Callable[[Items, str], tuple[float, float]]  # (RCU, WCU) the answer needs
    caller: int = 0


@dataclass(frozen=True)
class Cost:
    op: CostOp
    calls: int
    by_op: dict[str, int]
    read: float
    write: float
    floor_read: float
    floor_write: float


def units(size: int, per: int = 4096) -> int:
    return math.ceil(size / per)


def _edge(items: Items, org: str, user: str) -> int:
    return item_size(items[f"ORG#{org}"]) + item_size(items[f"MEMBER#{user}"])


def _reads(items: Items, org: str, user: str, eventual: Sequence[str]) -> float:
    return units(_edge(items, org, user)) * 1.0 + (
        units(sum(item_size(items[k]) for k in eventual)) * 0.5 if eventual else 0.0)


def floor_typename(items: Items, org: str) -> tuple[float, float]:
    return _reads(items, org, person_id(org, 0), []), 0.0


def floor_member(items: Items, org: str) -> tuple[float, float]:
    return _reads(items, org, person_id(org, 0), [f"MEMBER#{person_id(org, 42)}"]), 0.0


def floor_dashboard(items: Items, org: str) -> tuple[float, float]:
    people = sorted(k for k in items if k.startswith("MEMBER#"))[:PAGE_SIZE]
    usernames = [items[k].get("githubUsername", {}).get("S") for k in people]
    github = [f"GITHUB_DATA#{u}" for u in usernames if u and f"GITHUB_DATA#{u}" in items]
    report = max(k for k in items if k.startswith("TEAM_REPORT#"))
    return _reads(items, org, person_id(org, 0), [*people, *github, report]), 0.0


def floor_team_analytics(items: Items, org: str) -> tuple[float, float]:
    github = sorted(k for k in items if k.startswith("GITHUB_DATA#"))[:PAGE_SIZE]
    owners = [f"MEMBER#{items[k]['userId']['S']}" for k in github if "S" in items[k].get(
        "userId", {})]
    return _reads(items, org, person_id(org, 0), [*github, *owners]), 0.0


def floor_admins(items: Items, org: str) -> tuple[float, float]:
    admins = [k for k in items if k.startswith("MEMBER#")
              and items[k]["role"]["S"] == "admin"][:1]
    return _reads(items, org, person_id(org, 0), admins), 0.0


def floor_preferences(items: Items, org: str) -> tuple[float, float]:
    """Write the person (transactionally, 2x) and its two index entries, and one event
    (2x, and its GSI2 entry); read nothing past the edge."""
    user = person_id(org, 0)
    person = units(item_size(items[f"MEMBER#{user}"]), 1024)
    event = 1  # an activity event is well under 1 KB
    write = 2 * person + 2 * person + 3 * event
    return _reads(items, org, user, []), float(write)


OPERATIONS = [
    CostOp("typename", TYPENAME, 100, floor_typename),
    CostOp("member", f'{{ member(userId: "{person_id(org_id(100), 42)}") {{ id name email '
           "role status githubUsername version invitedBy { name } } }", 100, floor_member),
    *(CostOp(f"dashboard-{n}", DASHBOARD, n, floor_dashboard) for n in (10, 100, 1000)),
    *(CostOp(f"teamGitHubData-{n}", TEAM_ANALYTICS, n, floor_team_analytics)
      for n in (10, 100, 1000)),
    CostOp("members(role: ADMIN, first: 1)-1000", ADMINS, 1000, floor_admins),
    CostOp("updateMyPreferences", PREFERENCES, 100, floor_preferences),
]


def partition(client: Any, org: str) -> Items:
    items: Items = {}
    kwargs: dict[str, Any] = {"TableName": TABLE, "KeyConditionExpression": "PK = :p",
                              "ExpressionAttributeValues": {":p": {"S": f"ORG#{org}"}},
                              "ConsistentRead": True}
    while True:
        page = client.query(**kwargs)
        items.update({i["SK"]["S"]: i for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(port: int, op: CostOp, token: str, client: Any) -> Cost:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    body = orjson.dumps({"query": op.query})
    request(port, "POST", "/graphql", body, headers)  # warm: the quota's first flush
    items = partition(client, org_id(op.size))  # as the measured request finds them
    status, raw, _ = request(port, "POST", "/graphql", body,
                             {**headers, "X-DevInsights-Cost": "1"})
    payload = orjson.loads(raw)
    if status != 200 or payload.get("errors"):
        raise BenchError(f"{op.name} answered HTTP {status}: {raw[:300]!r}")
    cost = payload["extensions"]["cost"]
    floor_read, floor_write = op.floor(items, org_id(op.size))
    return Cost(op, cost["storeCalls"], cost["storeCallsByOperation"],
                cost["readCapacityUnits"], cost["writeCapacityUnits"], floor_read,
                floor_write)


def throttled_call(endpoint: str) -> tuple[int, float]:
    """A GetItem DynamoDB keeps throttling: (HTTP requests sent, seconds until it gave up)."""
    from datastore.dynamodb import DynamoSettings, DynamoStore
    from datastore.errors import StoreThrottled
    from datastore.keys import Key
    from tests.dynamo_proxy import DynamoProxy

    proxy = DynamoProxy(endpoint).start()
    proxy.throttle("GetItem")

    async def go() -> float:
        store = DynamoStore(DynamoSettings(table=TABLE, endpoint_url=proxy.url,
                                           aws_access_key_id="testing",
                                           aws_secret_access_key="testing"))
        try:
            started = time.perf_counter()
            try:
                await store.get(Key("ORG#x", "ORG#x"))
            except StoreThrottled:
                return time.perf_counter() - started
            raise BenchError("a throttled GetItem succeeded")
        finally:
            await store.close()
    try:
        seconds = asyncio.run(go())
        return proxy.calls["GetItem"], seconds
    finally:
        proxy.stop()


def _ratio(ours: float, floor: float) -> str:
    return f"{ours / floor:.2f}x" if floor else "—"


HEADER = ("operation", "store calls", "RCU", "floor RCU", "RCU/floor", "WCU", "floor WCU")


def rows(costs: Sequence[Cost]) -> list[list[str]]:
    out = []
    for c in costs:
        by = ", ".join(f"{k} {v}" for k, v in sorted(c.by_op.items()))
        out.append([c.op.name, f"{c.calls} ({by})", f"{c.read:g}", f"{c.floor_read:g}",
                    _ratio(c.read, c.floor_read), f"{c.write:g}", f"{c.floor_write:g}"])
    return out


def lines(costs: Sequence[Cost], throttled: tuple[int, float] | None) -> list[str]:
    from bench.report import markdown_table

    out = [markdown_table(HEADER, rows(costs)), ""]
    if throttled is not None:
        out.append(f"A GetItem that DynamoDB keeps throttling: {throttled[0]} HTTP requests "
                   f"(every one counted in storeCalls), given up after "
                   f"{throttled[1]:.2f} s with STORE_BUSY.")
    return out


def run_all(port: int, endpoint: str, secret: str) -> list[Cost]:
    from datastore.dynamodb import DynamoSettings, make_client
    from web.auth import mint_token

    client = make_client(DynamoSettings(table=TABLE, endpoint_url=endpoint,
                                        aws_access_key_id="testing",
                                        aws_secret_access_key="testing"))
    try:
        out = []
        for op in OPERATIONS:
            org = org_id(op.size)
            token = mint_token(secret, user_id=person_id(org, op.caller), org_id=org,
                               email=f"u{op.caller:04d}@{org}.example", name="Member 0",
                               ttl_seconds=3600)
            out.append(measure(port, op, token, client))
            print(f"  {op.name:40} {rows([out[-1]])[0][1:]}", flush=True)
        return out
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "COST.md",
                        help="where to write the table (bench/COST.md)")
    args = parser.parse_args(argv)
    from bench.report import machine
    from bench.run import FAKE_AWS, clean_env, prepare_dynamodb, start_ours

    workdir = Path(tempfile.mkdtemp(prefix="devinsights-cost-"))
    started: list[Process] = []
    secret = secrets.token_urlsafe(32)
    try:
        moto = start("moto", [sys.executable, "-m", "bench.moto_server"], workdir,
                     clean_env(**FAKE_AWS))
        started.append(moto)
        endpoint = f"http://127.0.0.1:{moto.port}"
        print(f"loading 10, 100 and 1,000 members into moto at {endpoint}", flush=True)
        prepare_dynamodb(endpoint)
        proxy = start("proxy", [sys.executable, "-m", "tests.dynamo_proxy", "--upstream",
                                endpoint], workdir, clean_env())
        started.append(proxy)
        ours = start_ours("ours-dynamodb", workdir, secret, {
            "DEVINSIGHTS_STORE": "dynamodb", "DEVINSIGHTS_DYNAMODB_TABLE": TABLE,
            "DEVINSIGHTS_DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            # The quota adds one UpdateItem per org per second per process; left out here.
            "DEVINSIGHTS_API_QUOTA": "false"}, FAKE_AWS)
        started.append(ours)
        costs = run_all(ours.port, endpoint, secret)
        throttled = throttled_call(endpoint)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    table = lines(costs, throttled)
    print()
    print("\n".join(table))
    args.results.write_text("\n".join([
        "# DynamoDB cost per operation", "",
        "Written by `bench/cost.py` (`.venv/bin/python -m bench.cost`); figures, never "
        "pass/fail. The capacity is what tests/dynamo_proxy.py charges by DynamoDB's rules, "
        "as our server reported it in `extensions.cost`; the floor is in the module "
        "docstring.", "", *machine(os.cpu_count() or 0), "", *table]) + "\n",
        encoding="utf-8")
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
