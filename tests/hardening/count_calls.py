"""Count API calls from a process of its own: ``python -m tests.hardening.count_calls``.

Prints ``ready`` once the store is open, waits for a line on stdin (so two processes start
counting at the same moment), counts ``calls`` concurrently, and prints the counts it got
back as JSON for the test to check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from datastore.dynamodb import DynamoSettings, DynamoStore
from datastore.embedded import EmbeddedStore
from datastore.organizations import count_api_call
from datastore.store import Store


async def count(store: Store, org_id: str, period: str, calls: int) -> list[int]:
    try:
        await store.ping()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(*(count_api_call(store, org_id, period)
                                          for _ in range(calls)))
    finally:
        await store.close()
    return [current for current, _limit in results]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["embedded", "dynamodb"])
    parser.add_argument("location", help="the SQLite file, or the DynamoDB endpoint")
    parser.add_argument("--table", default="")
    parser.add_argument("--org", required=True)
    parser.add_argument("--period", required=True)
    parser.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    store: Store
    if args.backend == "embedded":
        store = EmbeddedStore(args.location)
    else:
        store = DynamoStore(DynamoSettings(
            table=args.table, endpoint_url=args.location, read_timeout=120.0,
            aws_access_key_id="testing", aws_secret_access_key="testing"))
    print(json.dumps(asyncio.run(count(store, args.org, args.period, args.calls))))


if __name__ == "__main__":
    main()
