"""create_table against a local endpoint: the layout it creates, and that it is idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from datastore.table import TableMismatch, create_table
from tests.conftest import TABLE, reset_moto


@pytest.fixture
def client(moto_endpoint: str, moto_client: Any) -> Any:
    """An endpoint with no tables at all."""
    reset_moto(moto_endpoint)
    return moto_client


class Refusing:
    """A client whose endpoint answers one operation with an error, like DynamoDB Local."""

    def __init__(self, client: Any, operation: str, code: str) -> None:
        self._client = client
        self._operation = operation
        self._code = code

    def __getattr__(self, name: str) -> Any:
        if name == self._operation:
            def refuse(**_kwargs: Any) -> Any:
                raise ClientError({"Error": {"Code": self._code, "Message": "no"}}, name)
            return refuse
        return getattr(self._client, name)


def test_creates_the_table_and_says_what_it_did(client: Any) -> None:
    done = create_table(client, TABLE)

    assert done == [
        f"created table {TABLE} (PAY_PER_REQUEST, GSI1, GSI2, stream NEW_AND_OLD_IMAGES)",
        "TTL enabled on expiresAt",
        "point-in-time recovery enabled",
    ]


def test_the_table_has_the_single_table_layout(client: Any) -> None:
    create_table(client, TABLE)

    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "PK", "KeyType": "HASH"},
                                  {"AttributeName": "SK", "KeyType": "RANGE"}]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        name: "S" for name in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")}
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2"}
    for name in ("GSI1", "GSI2"):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": f"{name}PK", "KeyType": "HASH"},
            {"AttributeName": f"{name}SK", "KeyType": "RANGE"}]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    assert table["StreamSpecification"] == {"StreamEnabled": True,
                                            "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_ttl_is_enabled_on_expires_at(client: Any) -> None:
    create_table(client, TABLE)

    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_point_in_time_recovery_is_enabled(client: Any) -> None:
    create_table(client, TABLE)

    backups = client.describe_continuous_backups(TableName=TABLE)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_running_it_again_changes_nothing(client: Any) -> None:
    create_table(client, TABLE)
    before = client.describe_table(TableName=TABLE)["Table"]

    done = create_table(client, TABLE)

    assert done == [f"table {TABLE} already exists", "TTL already enabled on expiresAt",
                    "point-in-time recovery already enabled"]
    assert client.describe_table(TableName=TABLE)["Table"] == before


def test_an_existing_table_without_a_stream_gets_one(client: Any) -> None:
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                              for n in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": i, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": f"{i}PK", "KeyType": "HASH"},
                           {"AttributeName": f"{i}SK", "KeyType": "RANGE"}]}
            for i in ("GSI1", "GSI2")])

    done = create_table(client, TABLE)

    assert f"stream enabled on {TABLE} (NEW_AND_OLD_IMAGES)" in done
    spec = client.describe_table(TableName=TABLE)["Table"]["StreamSpecification"]
    assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_refuses_a_table_with_another_layout(client: Any) -> None:
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])

    with pytest.raises(TableMismatch, match=r"primary key .* no index GSI1.* another table"):
        create_table(client, TABLE)


def test_reports_ttl_on_another_attribute_instead_of_failing(client: Any) -> None:
    create_table(client, TABLE)
    client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "ttl"})

    done = create_table(client, TABLE)

    assert "TTL is enabled on ttl, not expiresAt" in done[1]


@pytest.mark.parametrize("operation", ["describe_continuous_backups",
                                       "update_continuous_backups"])
def test_reports_an_endpoint_without_pitr(client: Any, operation: str) -> None:
    refusing: Any = Refusing(client, operation, "UnknownOperationException")

    done = create_table(refusing, TABLE)

    assert done[0].startswith(f"created table {TABLE}")
    assert done[-1] == ("warning: this endpoint has no point-in-time recovery "
                        "(UnknownOperationException); back the table up another way")


def test_access_denied_for_pitr_is_not_mistaken_for_no_support(client: Any) -> None:
    refusing: Any = Refusing(client, "update_continuous_backups", "AccessDeniedException")

    with pytest.raises(ClientError, match="AccessDeniedException"):
        create_table(refusing, TABLE)


def test_a_table_created_concurrently_counts_as_existing(client: Any) -> None:
    create_table(client, TABLE)

    class Racing(Refusing):
        """describe_table says missing once, as if another process created it meanwhile."""

        def __init__(self) -> None:
            super().__init__(client, "create_table", "ResourceInUseException")
            self.describes = 0

        def describe_table(self, **kwargs: Any) -> Any:
            self.describes += 1
            if self.describes == 1:
                raise ClientError({"Error": {"Code": "ResourceNotFoundException"}},
                                  "DescribeTable")
            return client.describe_table(**kwargs)

    racing: Any = Racing()

    done = create_table(racing, TABLE)

    assert done[0] == f"table {TABLE} already exists"
