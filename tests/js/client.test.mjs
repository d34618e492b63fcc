// graphql-request against a live server: GRAPHQL_URL and GRAPHQL_TOKEN come from
// tests/js/test_graphql_request.py, which starts the server with the demo organization.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ClientError, GraphQLClient, gql } from "graphql-request";

const url = process.env.GRAPHQL_URL;
const token = process.env.GRAPHQL_TOKEN;
assert.ok(url && token, "set GRAPHQL_URL and GRAPHQL_TOKEN");

const contentTypes = [];
const client = new GraphQLClient(url, {
  headers: { Authorization: `Bearer ${token}` },
  responseMiddleware: (response) => {
    if (!(response instanceof Error)) {
      contentTypes.push(response.headers.get("content-type"));
    }
  },
});

test("a query returns the caller's organization and its members", async () => {
  const data = await client.request(gql`
    query Dashboard {
      organization { name currentMembers maxMembers }
      members(first: 10) { edges { node { name role } } }
    }
  `);
  assert.equal(data.organization.name, "My Startup");
  const names = data.members.edges.map((edge) => edge.node.name);
  assert.ok(names.includes("Alice Developer"), `members were ${names}`);
  // graphql-request asks for application/graphql-response+json first; the server honours it.
  assert.match(contentTypes.at(-1), /^application\/graphql-response\+json/);
});

test("a mutation invites a member and the invitation is then listed", async () => {
  const invited = await client.request(
    gql`
      mutation Invite($input: InviteMemberInput!) {
        inviteMember(input: $input) {
          __typename
          ... on InviteMemberSuccess { token invitation { email role status } }
          ... on MutationError { message code }
        }
      }
    `,
    { input: { email: "dana@startup.com", name: "Dana Designer", role: "MEMBER" } },
  );
  assert.equal(invited.inviteMember.__typename, "InviteMemberSuccess",
               JSON.stringify(invited.inviteMember));
  assert.deepEqual(invited.inviteMember.invitation,
                   { email: "dana@startup.com", role: "MEMBER", status: "PENDING" });
  assert.ok(invited.inviteMember.token.length > 0);

  const listed = await client.request(gql`
    { invitations(status: PENDING) { edges { node { email } } } }
  `);
  const emails = listed.invitations.edges.map((edge) => edge.node.email);
  assert.ok(emails.includes("dana@startup.com"), `pending invitations were ${emails}`);
});

test("an invalid query is a ClientError with status 400 and no data", async () => {
  const error = await client.request(gql`{ organization { noSuchField } }`).then(
    () => assert.fail("expected the request to fail"),
    (caught) => caught,
  );
  assert.ok(error instanceof ClientError, String(error));
  assert.equal(error.response.status, 400);
  assert.equal(error.response.data, undefined);
  assert.match(error.response.errors[0].message, /noSuchField/);
});
