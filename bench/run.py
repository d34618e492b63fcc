"""The benchmark of issue 5, from one command.

    .venv/bin/python -m bench.run --duration 10            # the table, ~6 minutes
    .venv/bin/python -m bench.run --duration 10 --soak 300 --profile 15

Needs wrk (`apt-get install -y wrk`) and, for --profile, py-spy in the venv. Starts, each as
its own process on 127.0.0.1: moto's DynamoDB (for the dynamodb store), our server on the
embedded store and on DynamoDB (one uvicorn worker, uvloop, httptools), and the peer
(bench/peer.py). Loads demo organizations of 10, 100 and 1,000 members, mints HS256 tokens
with a secret made for the run (DEVINSIGHTS_JWT_SECRET of our servers), and drives every
operation with wrk at 20 connections, interleaving ours and the peer's runs. Prints the
table and writes bench/RESULTS.md. Figures only: the exit status never depends on a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import load, profile
from bench.data import load_orgs, snapshot, write_snapshot
from bench.operations import (
    BY_NAME,
    OPERATIONS,
    ORG_SIZES,
    PAGE_SIZE,
    Operation,
    check_answer,
    org_id,
    person_id,
)
from bench.processes import (
    ROOT,
    BenchError,
    Process,
    cpu_seconds,
    load_average,
    request,
    rss_bytes,
    start,
    wait_idle,
    wait_until_ready,
)
from bench.report import PEER, Measurement, Results, Soak, markdown, rows, text_table, write
from datastore.errors import StoreError

TABLE = "devinsights-bench"
REQUEST_LOGGER = "devinsights.request"
TOKEN_TTL = 12 * 3600
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@dataclass
class Target:
    name: str
    proc: Process
    ours: bool
    backend: Process | None = None  # moto, whose CPU is reported next to ours

    @property
    def slug(self) -> str:
        return self.name.replace("/", "-")


# Setup


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without settings of ours or AWS's, so nothing leaks into a run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEVINSIGHTS_", "AWS_"))}
    env.update(extra)
    return env


def prepare_embedded(workdir: Path) -> tuple[Path, dict[str, Any]]:
    from datastore.embedded import EmbeddedStore

    path = workdir / "embedded.sqlite3"

    async def go() -> dict[str, Any]:
        store = EmbeddedStore(path)
        try:
            await load_orgs(store, ORG_SIZES)
            return await snapshot(store, ORG_SIZES)
        finally:
            await store.close()
    return path, asyncio.run(go())


def prepare_dynamodb(endpoint: str) -> None:
    from datastore.dynamodb import DynamoSettings, DynamoStore, make_client
    from datastore.table import create_table

    # moto answers a 99-action transaction slowly on a busy machine: wait for it.
    settings = DynamoSettings(table=TABLE, endpoint_url=endpoint, read_timeout=120,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    client = make_client(settings)
    try:
        create_table(client, TABLE)
    finally:
        client.close()

    async def go() -> None:
        store = DynamoStore(settings)
        try:
            await load_orgs(store, ORG_SIZES)
        finally:
            await store.close()
    asyncio.run(go())


def start_ours(name: str, workdir: Path, secret: str, settings: Mapping[str, str],
               extra_env: Mapping[str, str] | None = None) -> Process:
    env = clean_env(DEVINSIGHTS_JWT_SECRET=secret, DEVINSIGHTS_LOG_LEVEL="INFO",
                    **settings, **(extra_env or {}))
    proc = start(name, [sys.executable, "-m", "bench.serve"], workdir, env)
    wait_until_ready(proc, "GET", "/readyz")
    return proc


def start_peer(workdir: Path, data: Path) -> Process:
    proc = start("peer", [sys.executable, "-m", "bench.peer", "--data", str(data)], workdir,
                 clean_env())
    wait_until_ready(proc, "POST", "/graphql", b'{"query":"{ __typename }"}',
                     {"Content-Type": "application/json"})
    return proc


def tokens(secret: str) -> dict[str, list[str]]:
    """Per organization, a token for each of its people in order, the admin first."""
    from web.auth import mint_token

    out: dict[str, list[str]] = {}
    for size in ORG_SIZES:
        org = org_id(size)
        callers = max([1, *(op.callers for op in OPERATIONS if op.org == org)])
        out[org] = [mint_token(secret, user_id=person_id(org, i), org_id=org,
                               email=f"u{i:04d}@{org}.example", name=f"Member {i}",
                               ttl_seconds=TOKEN_TTL) for i in range(callers)]
    return out


# Measuring


def headers(token: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def probe(target: Target, op: Operation, token: str) -> tuple[int | None, str | None]:
    """The response's size, or why the answer is wrong."""
    status, body, _ = request(target.proc.port, "POST", "/graphql", op.body(), headers(token))
    if status != 200:
        return None, f"HTTP {status}: {body[:300]!r}"
    problem = check_answer(op, orjson.loads(body))
    return (None, problem) if problem else (len(body), None)


def store_calls(log: Path, offset: int) -> tuple[int, float | None, dict[str, float]]:
    """Requests our server logged after ``offset``, and the mean store calls of the ones
    that succeeded (a request whose client left mid-body made none)."""
    served = 0
    totals: list[int] = []
    by_op: dict[str, int] = {}
    with log.open("rb") as f:
        f.seek(offset)
        for line in f:
            if b'"storeCalls"' not in line:
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if entry.get("logger") != REQUEST_LOGGER or entry.get("kind") != "http":
                continue
            served += 1
            if entry.get("status") != 200:
                continue
            totals.append(int(entry["storeCalls"]))
            for op, n in (entry.get("storeCallsByOp") or {}).items():
                by_op[op] = by_op.get(op, 0) + int(n)
    if not totals:
        return served, None, {}
    return (served, round(statistics.fmean(totals), 2),
            {k: round(v / len(totals), 2) for k, v in by_op.items()})


def measure(target: Target, op: Operation, script: Path, size: int, args: argparse.Namespace
            ) -> Measurement:
    port = target.proc.port
    pids = [target.proc.pid] + ([target.backend.pid] if target.backend else [])
    if args.warmup > 0:
        load.run(port, script, args.warmup, args.connections, args.threads)
    wait_idle(pids)
    offset = target.proc.log.stat().st_size
    load1 = load_average()
    cpu0 = cpu_seconds(target.proc.pid)
    moto0 = cpu_seconds(target.backend.pid) if target.backend else 0.0
    result = load.run(port, script, args.duration, args.connections, args.threads)
    wait_idle(pids)
    cpu = cpu_seconds(target.proc.pid) - cpu0
    moto = cpu_seconds(target.backend.pid) - moto0 if target.backend else None
    # The CPU covers the requests wrk completed and the one left in flight on each connection.
    served = result.requests + args.connections
    calls: float | None = None
    by_op: dict[str, float] = {}
    if target.ours:
        logged, calls, by_op = store_calls(target.proc.log, offset)
        if logged:
            served = logged  # exact: one request line per request the server finished
    return Measurement(target=target.name, op=op.name, rps=result.rps, p50_ms=result.p50_ms,
                       p99_ms=result.p99_ms, cpu_ms=1000 * cpu / served, store_calls=calls,
                       store_calls_by_op=by_op, response_bytes=size, errors=result.errors,
                       requests=result.requests, served=served, load1=load1,
                       backend_cpu_ms=None if moto is None else 1000 * moto / served)


def median_by_rps(runs: list[Measurement]) -> Measurement:
    ordered = sorted(runs, key=lambda m: m.rps)
    return ordered[(len(ordered) - 1) // 2]


def soak(target: Target, op: Operation, script: Path, args: argparse.Namespace) -> Soak:
    port, pid = target.proc.port, target.proc.pid
    if args.warmup > 0:
        load.run(port, script, args.warmup, args.connections, args.threads)
    wrk = load.start(port, script, args.soak, args.connections, args.threads)
    started = time.monotonic()
    samples = [(0.0, rss_bytes(pid))]
    deadline = started + args.soak + 60
    next_sample = args.soak_interval
    try:
        while wrk.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            elapsed = time.monotonic() - started
            if elapsed >= next_sample and elapsed < args.soak + 1:
                samples.append((round(elapsed), rss_bytes(pid)))
                next_sample += args.soak_interval
                print(f"  soak {elapsed:5.0f} s: RSS {samples[-1][1] / 2**20:.1f} MiB",
                      flush=True)
    finally:
        if wrk.poll() is None:
            wrk.kill()  # ours, by its Popen handle
        out, _ = wrk.communicate(timeout=30)
    result = load.parse(out)
    return Soak(target=target.name, op=op.name, seconds=args.soak, rps=result.rps,
                samples=samples)


def run_profile(target: Target, op: Operation, script: Path, workdir: Path,
                args: argparse.Namespace) -> list[str]:
    raw = workdir / f"profile-{target.slug}-{op.name}.txt"
    spy = profile.record(target.proc.pid, args.profile, raw)
    time.sleep(1)  # let py-spy attach before the load starts
    try:
        result = load.run(target.proc.port, script, args.profile, args.connections,
                          args.threads)
        _, err = spy.communicate(timeout=args.profile + 60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait(10)
    if spy.returncode != 0 or not raw.exists():
        raise BenchError(f"py-spy failed: {err.decode(errors='replace').strip()}")
    kept = ROOT / "bench" / "profiles" / f"{op.name}.txt"
    kept.parent.mkdir(exist_ok=True)
    shutil.copyfile(raw, kept)
    return [f"py-spy record ({profile.RATE} Hz) of {target.name} serving {op.name} at "
            f"{args.connections} connections for {args.profile} s ({result.rps:,.0f} req/s "
            f"while sampled); collapsed stacks in {kept.relative_to(ROOT)} (speedscope.app "
            "opens them).", *profile.summarise(raw).lines()]


# The command


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="unmeasured seconds of the same load before each run (2)")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections (20)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="interleaved rounds; the table shows each run's median by req/s")
    parser.add_argument("--stores", default="embedded,dynamodb",
                        help="our server's stores, comma-separated (embedded,dynamodb)")
    parser.add_argument("--ops", default=",".join(op.name for op in OPERATIONS),
                        help="operations, comma-separated (all): "
                             + ", ".join(op.name for op in OPERATIONS))
    parser.add_argument("--soak", type=int, default=0, metavar="SECONDS",
                        help="also run dashboard-100 this long on the embedded store, sampling "
                             "the server's RSS (300 for the issue's 5 minutes)")
    parser.add_argument("--soak-interval", type=float, default=10,
                        help="seconds between RSS samples (10)")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="also profile our embedded server with py-spy for this long on "
                             "each of --profile-ops (not part of the measured runs)")
    parser.add_argument("--profile-ops", default="dashboard-100,typename",
                        help="operations to profile (dashboard-100,typename)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md",
                        help="where to write the results (bench/RESULTS.md)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (logs, database, Lua scripts)")
    args = parser.parse_args(argv)
    args.stores = [s for s in args.stores.split(",") if s]
    for s in args.stores:
        if s not in ("embedded", "dynamodb"):
            parser.error(f"unknown store {s!r}: use embedded, dynamodb or both")
    unknown = [o for o in (*args.ops.split(","), *args.profile_ops.split(","))
               if o and o not in BY_NAME]
    if unknown:
        parser.error(f"unknown operation(s): {', '.join(unknown)}")
    args.ops = [BY_NAME[o] for o in args.ops.split(",") if o]
    args.profile_ops = [BY_NAME[o] for o in args.profile_ops.split(",") if o]
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be positive")
    if (args.soak or args.profile) and "embedded" not in args.stores:
        parser.error("--soak and --profile run on the embedded store; include it in --stores")
    return args


NOTES = [
    "- req/s, p50 and p99 come from wrk (`-t{threads} -c{connections} -d{duration}s "
    "--latency`, Lua script POSTing the JSON body with the admin's bearer token), run from its "
    "own process after {warmup} s of unmeasured warm-up with the same load.",
    "- ours/peer req/s divides our req/s by the peer's for the same operation. peer/ours CPU "
    "divides the peer's CPU per request by ours: what the req/s ratio would be if each server "
    "had a core to itself, so it is the steadier figure on a shared machine. The peer is "
    "bench/peer.py: strawberry.asgi.GraphQL on Starlette with default settings (no caches, "
    "stdlib json), in-memory dicts, its own aiodataloader loaders, no token verification.",
    "- CPU ms/req is the server process's utime+stime (/proc/PID/stat, every thread) over the "
    "run divided by the requests wrk completed; for DynamoDB, moto's own CPU is added in "
    "parentheses (moto runs one request at a time, in its own process).",
    "- store calls/req is the mean of `storeCalls` over the request log lines our server wrote "
    "during the run (web/api.py RequestLog), with the mean per store operation.",
    "- bytes is the response body of one request of the operation, checked for errors first.",
    "- The dashboard query is tests/api/test_batching.py's shape with `members(first: "
    f"{PAGE_SIZE})`: our server caps a page at {PAGE_SIZE} (ApiSettings.max_page_size, not "
    f"a setting), so at 1,000 members both servers return the first {PAGE_SIZE} members.",
    "- The DynamoDB rows measure moto as much as us: moto answers one request at a time, in "
    "Python, and deep-copies the table for every transaction, so its CPU (in parentheses) "
    "dwarfs ours and 20 connections queue behind it. Read our CPU ms/req and the store calls "
    "there, not req/s or latency.",
    "- Operations run in the order of the table, the mutation last; each mutation adds an "
    "activity event to the store, so a later round (--rounds) reads a bigger table.",
    "- load1 counts the bench's own processes too: wrk and the server under test keep about "
    "2 runnable; more than that is other work on the machine.",
    "- `member` reads bench-100-u0042 as the admin. `updateMyPreferences` sets two "
    "preferences, sent by the 100 people of bench-100 in turn (one token each): 20 "
    "connections updating one person would mostly measure VersionConflict answers.",
]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load.wrk_path()
    if args.profile:
        profile.py_spy()
    workdir = Path(tempfile.mkdtemp(prefix="devinsights-bench-"))
    print(f"work directory: {workdir}", flush=True)
    secret = secrets.token_urlsafe(32)
    started: list[Process] = []
    results = Results()
    try:
        print("loading demo organizations of " + ", ".join(map(str, ORG_SIZES))
              + " into the embedded store", flush=True)
        db, snap = prepare_embedded(workdir)
        data = workdir / "peer-data.json"
        write_snapshot(snap, data)
        targets: list[Target] = []
        if "embedded" in args.stores:
            proc = start_ours("ours-embedded", workdir, secret,
                              {"DEVINSIGHTS_STORE": "embedded",
                               "DEVINSIGHTS_SQLITE_PATH": str(db)})
            started.append(proc)
            targets.append(Target("ours/embedded", proc, ours=True))
        peer = start_peer(workdir, data)
        started.append(peer)
        targets.append(Target(PEER, peer, ours=False))
        if "dynamodb" in args.stores:
            moto = start("moto", [sys.executable, "-m", "bench.moto_server"], workdir,
                         clean_env(**FAKE_AWS))
            started.append(moto)
            endpoint = f"http://127.0.0.1:{moto.port}"
            print(f"loading the same organizations into DynamoDB (moto at {endpoint})",
                  flush=True)
            prepare_dynamodb(endpoint)
            proc = start_ours("ours-dynamodb", workdir, secret,
                              {"DEVINSIGHTS_STORE": "dynamodb",
                               "DEVINSIGHTS_DYNAMODB_TABLE": TABLE,
                               "DEVINSIGHTS_DYNAMODB_ENDPOINT_URL": endpoint}, FAKE_AWS)
            started.append(proc)
            targets.append(Target("ours/dynamodb", proc, ours=True, backend=moto))
        token = tokens(secret)
        for t in targets:
            print(f"{t.name}: pid {t.proc.pid}, http://127.0.0.1:{t.proc.port}/graphql",
                  flush=True)

        sizes: dict[tuple[str, str], int] = {}
        scripts: dict[tuple[str, str], Path] = {}
        for op in args.ops:
            for t in targets:
                size, problem = probe(t, op, token[op.org][0])
                if problem is not None:
                    results.skipped.append(f"{op.name} on {t.name}: {problem}")
                    print(f"  skipping {op.name} on {t.name}: {problem}", flush=True)
                    continue
                assert size is not None
                sizes[(t.name, op.name)] = size
                scripts[(t.name, op.name)] = load.write_script(
                    workdir / f"{t.slug}-{op.name}.lua", op.body(),
                    token[op.org][:op.callers])

        runs: dict[tuple[str, str], list[Measurement]] = {}
        for round_ in range(args.rounds):
            for op in args.ops:
                for t in targets:  # interleaved: ours, the peer, ours on DynamoDB
                    key = (t.name, op.name)
                    if key not in scripts:
                        continue
                    m = measure(t, op, scripts[key], sizes[key], args)
                    results.loads.append(m.load1)
                    runs.setdefault(key, []).append(m)
                    print(f"  [{round_ + 1}/{args.rounds}] {op.name:20} {t.name:14} "
                          f"{m.rps:9,.0f} req/s  p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f}"
                          f" ms  cpu {m.cpu_ms:6.2f} ms/req  calls {m.store_calls}  "
                          f"served {m.served} (wrk {m.requests})  load {m.load1:.2f}",
                          flush=True)
        results.measurements = {k: median_by_rps(v) for k, v in runs.items()}

        ours_embedded = next((t for t in targets if t.name == "ours/embedded"), None)
        for op in args.profile_ops if args.profile and ours_embedded else ():
            key = ("ours/embedded", op.name)
            if key not in scripts:
                continue
            assert ours_embedded is not None
            print(f"profiling ours/embedded on {op.name} for {args.profile:g} s", flush=True)
            results.profiles[op.name] = run_profile(ours_embedded, op, scripts[key], workdir,
                                                    args)
        dashboard = BY_NAME["dashboard-100"]
        key = ("ours/embedded", dashboard.name)
        if ours_embedded is not None and args.soak and key in scripts:
            print(f"soak: {dashboard.name} on ours/embedded for {args.soak:g} s", flush=True)
            results.soak = soak(ours_embedded, dashboard, scripts[key], args)
    except (BenchError, StoreError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(started):
            proc.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    names = [t for t in ("ours/embedded", PEER, "ours/dynamodb")
             if any(k[0] == t for k in results.measurements)]
    table = rows(results, [op.name for op in args.ops], names)
    print()
    print(text_table(table))
    command = ".venv/bin/python -m bench.run " + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    notes = [n.format(threads=args.threads, connections=args.connections,
                      duration=f"{args.duration:g}", warmup=f"{args.warmup:g}")
             for n in NOTES]
    text = markdown(results, table, args.stores, command.strip(), os.cpu_count() or 0, notes)
    write(args.results, text)
    print(f"\nwrote {args.results}")
    for lines in results.profiles.values():
        print("\n".join(["", *lines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
