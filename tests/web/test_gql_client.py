"""The Python gql client, over httpx, against a real server: what a user's code would do."""

from __future__ import annotations

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport, HTTPXTransport

from tests.web.servers import Served, bearer, token


def test_the_sync_gql_client_runs_a_query(served: Served) -> None:
    transport = HTTPXTransport(url=served.graphql_url, headers=bearer(token()))
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        result = session.execute(gql("query Team { members(first: 10) { edges { node { "
                                     "name role } } } }"))

    names = {e["node"]["name"] for e in result["members"]["edges"]}
    assert names == {"Alice Developer", "Bob Senior", "Charlie Junior", "Diana CTO"}


async def test_the_async_gql_client_runs_a_mutation_with_variables(served: Served) -> None:
    transport = HTTPXAsyncTransport(url=served.graphql_url, headers=bearer(token()))
    mutation = gql("""mutation SetLanguage($language: String!) {
      updateMyPreferences(input: {language: $language}) {
        ... on UpdateMyPreferencesSuccess { member { preferences { language } } }
      }
    }""")
    async with Client(transport=transport) as session:
        mutation.variable_values = {"language": "sv"}
        result = await session.execute(mutation)

    assert result["updateMyPreferences"]["member"]["preferences"]["language"] == "sv"


def test_the_gql_client_shows_why_a_token_was_refused(served: Served) -> None:
    transport = HTTPXTransport(url=served.graphql_url, headers=bearer("not-a-token-at-all"))
    with Client(transport=transport) as session, \
            pytest.raises(TransportQueryError) as refused:
        session.execute(gql("{ viewer { name } }"))

    assert refused.value.data is None
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "not a JWT" in refused.value.errors[0]["message"]
