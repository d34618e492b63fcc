// Apollo Client 4 against a live server: GRAPHQL_URL and GRAPHQL_TOKEN come from
// tests/js/test_apollo_client.py, which starts the server with the demo organization.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const url = process.env.GRAPHQL_URL;
const token = process.env.GRAPHQL_TOKEN;
assert.ok(url && token, "set GRAPHQL_URL and GRAPHQL_TOKEN");

// Written by `devinsights export-schema --write`, beside schema.graphql.
const possibleTypes = JSON.parse(
  readFileSync(new URL("../../schema/possibleTypes.json", import.meta.url), "utf8"));

let requests = 0;
function client(cacheOptions = {}) {
  const link = new HttpLink({
    uri: url,
    headers: { Authorization: `Bearer ${token}` },
    fetch: (...args) => {
      requests += 1;
      return fetch(...args);
    },
  });
  return new ApolloClient({ link, cache: new InMemoryCache(cacheOptions) });
}

// The mutation's selection as a fragment on Mutation, so it can be read back from the cache.
const SET_LANGUAGE_RESULT = gql`
  fragment SetLanguageResult on Mutation {
    updateMyPreferences(input: {language: $language}) {
      __typename
      ... on UpdateMyPreferencesSuccess { member { id preferences { language } } }
      ... on MutationError { code message }
      ... on ValidationError { field }
    }
  }
`;
const SET_LANGUAGE = gql`
  mutation SetLanguage($language: String!) { ...SetLanguageResult }
  ${SET_LANGUAGE_RESULT}
`;

// Apollo returns a mutation's data as written to the cache, under ROOT_MUTATION, and by default
// evicts it from there afterwards; keepRootFields keeps it to be read back.
async function setLanguageThroughTheCache(apollo, language) {
  const variables = { language };
  const { data } = await apollo.mutate({ mutation: SET_LANGUAGE, variables, keepRootFields: true });
  const cached = apollo.cache.readFragment({
    id: "ROOT_MUTATION", fragment: SET_LANGUAGE_RESULT, variables });
  return { returned: data.updateMyPreferences, cached: cached?.updateMyPreferences };
}

test("a typed error's code and message are read through the cache only with possibleTypes",
  async () => {
    const tooLong = "x".repeat(51);

    const typed = await setLanguageThroughTheCache(client({ possibleTypes }), tooLong);

    const expected = { __typename: "ValidationError", code: "VALIDATION", field: "language" };
    for (const result of [typed.returned, typed.cached]) {
      assert.deepEqual({ ...result, message: undefined }, { ...expected, message: undefined },
                       JSON.stringify(result));
      assert.match(result.message, /50/, result.message);
    }

    // Without possibleTypes the cache cannot tell that ValidationError is a MutationError, so
    // `... on MutationError` matches nothing: only the concrete type's own fragment survives.
    const untyped = await setLanguageThroughTheCache(client(), tooLong);

    for (const result of [untyped.returned, untyped.cached]) {
      assert.deepEqual(result, { __typename: "ValidationError", field: "language" },
                       JSON.stringify(result));
    }
  });

const VIEWER = gql`query Viewer { viewer { id userId name } }`;
const MEMBERS = gql`query Members { members(first: 10) { edges { node { id name } } } }`;
const RENAME = gql`
  mutation Rename($name: String!) {
    updateMyProfile(input: {name: $name}) {
      __typename
      ... on UpdateMyProfileSuccess { member { id name } }
      ... on MutationError { code message }
    }
  }
`;

test("the viewer and the same person in the member list are one cache entry by global id",
  async () => {
    const apollo = client({ possibleTypes });

    const { data: { viewer } } = await apollo.query({ query: VIEWER });
    const { data: { members } } = await apollo.query({ query: MEMBERS });

    const nodes = members.edges.map((edge) => edge.node);
    const listed = nodes.find((node) => node.id === viewer.id);
    assert.ok(listed, `the viewer ${viewer.id} is not among ${JSON.stringify(nodes)}`);
    assert.equal(listed.name, "Alice Developer");
    const entries = Object.keys(apollo.cache.extract()).filter((key) => key.startsWith("Member:"));
    assert.deepEqual(entries.sort(), nodes.map((node) => `Member:${node.id}`).sort());
    assert.equal(apollo.cache.identify(viewer), apollo.cache.identify(listed));

    // One write through the mutation's result reaches both queries, with no refetch.
    const { data } = await apollo.mutate({ mutation: RENAME, variables: { name: "Alice Renamed" } });
    assert.equal(data.updateMyProfile.__typename, "UpdateMyProfileSuccess",
                 JSON.stringify(data.updateMyProfile));
    const before = requests;

    const again = await apollo.query({ query: VIEWER });
    const list = await apollo.query({ query: MEMBERS });

    assert.equal(requests, before, "the cached queries went to the network");
    assert.equal(again.data.viewer.name, "Alice Renamed");
    const renamed = list.data.members.edges.find((edge) => edge.node.id === viewer.id);
    assert.equal(renamed.node.name, "Alice Renamed");
  });
