"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from datastore.dynamodb import DynamoSettings, DynamoStore
from datastore.store import Store
from tests.web.servers import Served, serving, settings_for


def test_healthz_says_the_process_is_alive(client: httpx.Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_the_store_answers(client: httpx.Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "store": "embedded"}


def test_readyz_is_503_with_a_reason_once_the_store_is_closed(
        held_store: tuple[Served, Store]) -> None:
    served, store = held_store
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/readyz").status_code == 200
        served.run(store.close())

        response = client.get("/readyz")
        alive = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "closed" in response.json()["reason"]
    assert alive.status_code == 200


def test_readyz_is_503_when_dynamodb_cannot_be_reached(tmp_path: Path) -> None:
    unreachable = DynamoStore(DynamoSettings(
        table="nowhere", endpoint_url="http://127.0.0.1:9",
        connect_timeout=0.5, aws_access_key_id="testing", aws_secret_access_key="testing"))
    try:
        with serving(settings_for(tmp_path), unreachable, demo_data=False) as served, \
                httpx.Client(base_url=served.url) as client:
            response = client.get("/readyz")
    finally:
        asyncio.run(unreachable.close())
    assert response.status_code == 503
    assert response.json()["store"] == "dynamodb"
    assert "DynamoDB" in response.json()["reason"]
