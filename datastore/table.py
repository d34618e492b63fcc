"""Create the single table, idempotently, against AWS or any local endpoint.

Running it again is safe: each step first looks at what is there and only changes what is
missing. It returns one human-readable line per step so a CLI can print what happened.

Some local endpoints lack features the table wants (dynalite: TTL, point-in-time recovery,
streams). The table works without them, so each missing one is a ``warning:`` line that
names the feature and what is lost, never an error; a second run says the same again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from datastore import keys
from datastore.errors import StoreError
from datastore.store import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

STREAM_VIEW: Final = "NEW_AND_OLD_IMAGES"
# What an endpoint answers for an operation or parameter it does not implement.
_UNSUPPORTED = {"UnknownOperationException", "ValidationException", "NotImplemented",
                "NotImplementedException"}
NO_TTL = ("warning: this endpoint has no TTL ({code}); expired items stay hidden from the "
          "API but are never deleted")
NO_PITR = ("warning: this endpoint has no point-in-time recovery ({code}); back the table "
           "up another way")
NO_STREAM = ("warning: this endpoint has no DynamoDB Streams ({code}); everything works but "
             "activity subscriptions reach only subscribers of the process that wrote")
# AWS refuses PITR for a short while after a table is created; local endpoints never do.
PITR_RETRIES = 6
PITR_RETRY_DELAY = 5.0


class TableMismatch(StoreError):
    """A table with the configured name exists but was not laid out for this application."""


def create_table(client: DynamoDBClient, table_name: str) -> list[str]:
    """Create the table with its indexes, stream, TTL and PITR; return what was done."""
    created = _describe(client, table_name) is None and _create(client, table_name)
    done = [f"created table {table_name} (PAY_PER_REQUEST, GSI1, GSI2, stream {STREAM_VIEW})"
            if created else f"table {table_name} already exists"]
    _wait_active(client, table_name)
    table = _describe(client, table_name)
    assert table is not None
    if not created:
        _check_layout(table, table_name)
    done.extend(_ensure_stream(client, table_name, table))
    done.append(_ensure_ttl(client, table_name))
    done.append(_ensure_pitr(client, table_name))
    return done


def _create(client: DynamoDBClient, table_name: str) -> bool:
    """Create the table; False if another process created it first."""
    try:
        client.create_table(**_table_spec(table_name))
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
        return False
    return True


def _table_spec(table_name: str) -> dict[str, Any]:
    attributes = [*keys.TABLE_KEYS, *(n for pair in keys.INDEX_KEYS.values() for n in pair)]
    return {
        "TableName": table_name,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in attributes],
        "KeySchema": _key_schema(keys.TABLE_KEYS),
        "GlobalSecondaryIndexes": [
            {"IndexName": index, "KeySchema": _key_schema(pair),
             "Projection": {"ProjectionType": "ALL"}}
            for index, pair in keys.INDEX_KEYS.items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
    }


def _key_schema(names: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": names[0], "KeyType": "HASH"},
            {"AttributeName": names[1], "KeyType": "RANGE"}]


def _describe(client: DynamoDBClient, table_name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = dict(client.describe_table(TableName=table_name)["Table"])
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise
    return table


def _check_layout(table: dict[str, Any], table_name: str) -> None:
    """Refuse to reuse a table whose keys or indexes differ from the ones the store queries."""
    problems = []
    if _keys_of(table.get("KeySchema", [])) != keys.TABLE_KEYS:
        problems.append(f"its primary key is not {keys.TABLE_KEYS}")
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    for index, pair in keys.INDEX_KEYS.items():
        found = indexes.get(index)
        if found is None:
            problems.append(f"it has no index {index}")
        elif _keys_of(found["KeySchema"]) != pair:
            problems.append(f"index {index} is not keyed on {pair}")
        elif found.get("Projection", {}).get("ProjectionType") != "ALL":
            problems.append(f"index {index} does not project ALL attributes")
    if problems:
        raise TableMismatch(f"table {table_name} exists but " + "; ".join(problems)
                            + ". Point the app at another table name or delete this table.")


def _keys_of(schema: list[dict[str, str]]) -> tuple[str, ...]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    return tuple(by_type[t] for t in ("HASH", "RANGE") if t in by_type)


def _wait_active(client: DynamoDBClient, table_name: str) -> None:
    delay = 1 if _is_local(client) else 5
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": delay, "MaxAttempts": 120 // delay})


def _is_local(client: DynamoDBClient) -> bool:
    host = urlparse(client.meta.endpoint_url).hostname or ""
    return not host.endswith(".amazonaws.com")


def _ensure_stream(client: DynamoDBClient, table_name: str,
                   table: dict[str, Any]) -> list[str]:
    spec = table.get("StreamSpecification") or {}
    if spec.get("StreamEnabled"):
        if spec.get("StreamViewType") != STREAM_VIEW:
            return [f"stream on {table_name} is {spec.get('StreamViewType')}, not "
                    f"{STREAM_VIEW}; left as it is"]
        return []
    try:
        client.update_table(TableName=table_name,
                            StreamSpecification={"StreamEnabled": True,
                                                 "StreamViewType": STREAM_VIEW})
    except ClientError as exc:
        # An endpoint that accepted CreateTable's stream and kept none refuses it here.
        if _code(exc) in _UNSUPPORTED:
            return [NO_STREAM.format(code=_code(exc))]
        raise
    _wait_active(client, table_name)
    return [f"stream enabled on {table_name} ({STREAM_VIEW})"]


def _ensure_ttl(client: DynamoDBClient, table_name: str) -> str:
    try:
        described = client.describe_time_to_live(TableName=table_name)
    except ClientError as exc:
        if _code(exc) in _UNSUPPORTED:
            return NO_TTL.format(code=_code(exc))
        raise
    ttl = described.get("TimeToLiveDescription", {})
    status = ttl.get("TimeToLiveStatus", "DISABLED")
    attribute = ttl.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute == TTL_ATTRIBUTE:
            return f"TTL already enabled on {TTL_ATTRIBUTE}"
        return (f"TTL is enabled on {attribute}, not {TTL_ATTRIBUTE}; expired items stay "
                "hidden but are not deleted. Disable TTL on the table and run this again.")
    if status == "DISABLING":
        return ("TTL is being disabled on this table; DynamoDB allows re-enabling it after "
                "about an hour. Run this again then.")
    try:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    except ClientError as exc:
        if _code(exc) in _UNSUPPORTED:
            return NO_TTL.format(code=_code(exc))
        raise
    return f"TTL enabled on {TTL_ATTRIBUTE}"


def _ensure_pitr(client: DynamoDBClient, table_name: str) -> str:
    retries = PITR_RETRIES
    while True:
        try:
            return _enable_pitr(client, table_name)
        except ClientError as exc:
            code = _code(exc)
            if code == "ContinuousBackupsUnavailableException" and retries > 0:
                retries -= 1
                time.sleep(PITR_RETRY_DELAY)
                continue
            if code.startswith("AccessDenied") or code == "ResourceNotFoundException":
                raise
            return NO_PITR.format(code=code or "unknown error")


def _enable_pitr(client: DynamoDBClient, table_name: str) -> str:
    described = client.describe_continuous_backups(TableName=table_name)
    pitr = described["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
        return "point-in-time recovery already enabled"
    client.update_continuous_backups(
        TableName=table_name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return "point-in-time recovery enabled"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
