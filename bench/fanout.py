"""Cross-process event latency and what following the store costs (issue 13).

Two `devinsights serve` processes share one store (the embedded file, or a table on moto's
DynamoDB with its stream); a subscriber on B, mutations on A at a steady rate. Latency is
from the event's write (its `at`, the writer's clock) to its arrival at the subscriber (the
same machine's clock). For DynamoDB the moto server runs in this process behind a counter of
the requests each server process makes, so the stream reads per process and minute are
counted while idle, not estimated.

    .venv/bin/python -m bench.fanout [--events 200] [--rate 5] [--stores embedded,dynamodb]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from tests.fanout import Writer, attach, percentile, server, store_env, subscribed
from tests.local_moto import CopyEachTableOnce, OneRequestAtATime
from tests.web.servers import SECRET, cli_env, run_cli, token


class CountTargets:
    """WSGI middleware counting requests by X-Amz-Target operation."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        with self.lock:
            self.counts[target.rpartition(".")[2] or environ.get("PATH_INFO", "")] += 1
        return self.app(environ, start_response)


def start_moto() -> tuple[str, CountTargets]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    CopyEachTableOnce().install()
    counter = CountTargets(OneRequestAtATime(DomainDispatcherApplication(create_backend_app)))
    httpd = make_server("127.0.0.1", 0, counter, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_port}", counter


STREAM_OPS = ("GetRecords", "DescribeStream", "GetShardIterator")


def run_store(kind: str, events: int, rate: float, idle_seconds: float,
              moto: tuple[str, CountTargets] | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp_name:
        tmp = Path(tmp_name)
        endpoint = moto[0] if moto else None
        env = cli_env(tmp, DEVINSIGHTS_JWT_SECRET=SECRET,
                      **store_env(kind, tmp, endpoint, f"fanout-{uuid.uuid4().hex[:8]}"))
        if kind == "dynamodb":
            assert run_cli("create-table", env=env).returncode == 0
        assert run_cli("demo-data", env=env).returncode == 0
        admin = token()
        with server(env) as a, server(env) as b:
            async def measure() -> dict[str, Any]:
                writer = Writer(a.url, admin)
                try:
                    async with subscribed(b.url, admin) as on_b:
                        await attach(on_b, writer)
                        started = time.monotonic()
                        for i in range(events):
                            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                            await writer.mutate()
                        await on_b.wait_for(events, within=60)
                        await asyncio.sleep(2)
                        latencies = [r.latency for r in on_b.received]
                        duplicates = len(on_b.ids()) - len(set(on_b.ids()))
                        written = await writer.newest(events)
                        lost = len(set(written) - set(on_b.ids()))
                finally:
                    await writer.close()
                idle: dict[str, float] = {}
                if kind == "dynamodb" and moto is not None:
                    before = Counter({op: moto[1].counts[op] for op in STREAM_OPS})
                    await asyncio.sleep(idle_seconds)
                    per_minute = 60 / idle_seconds / 2  # two processes follow the stream
                    idle = {op: round((moto[1].counts[op] - before[op]) * per_minute, 1)
                            for op in STREAM_OPS}
                return {"store": kind, "events": len(latencies), "duplicates": duplicates,
                        "lost": lost, "p50_ms": 1000 * statistics.median(latencies),
                        "p99_ms": 1000 * percentile(latencies, 0.99),
                        "max_ms": 1000 * max(latencies), "idle_reads_per_process_minute": idle}

            return asyncio.run(measure())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="mutations per second")
    parser.add_argument("--idle-seconds", type=float, default=120.0,
                        help="how long the idle stream reads are counted (default 120)")
    parser.add_argument("--stores", default="embedded,dynamodb")
    args = parser.parse_args(argv)
    stores = args.stores.split(",")
    moto = start_moto() if "dynamodb" in stores else None
    print("| store | events | lost | duplicates | p50 | p99 | max | idle stream reads "
          "per process and minute |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in stores:
        r = run_store(kind, args.events, args.rate, args.idle_seconds, moto)
        idle = ", ".join(f"{op} {n:g}" for op, n in r["idle_reads_per_process_minute"].items())
        print(f"| {kind} | {r['events']} | {r['lost']} | {r['duplicates']} | "
              f"{r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['max_ms']:.0f} ms | "
              f"{idle or 'n/a (one PRAGMA data_version per poll, 10 a second)'} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
