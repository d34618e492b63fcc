"""The committed schema.graphql is what the code builds; CI fails on drift."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLInputObjectType, GraphQLObjectType
from strawberry.printer import print_schema

from schema import build_schema

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    printed = print_schema(build_schema()) + "\n"
    assert COMMITTED.read_text() == printed, (
        "schema/schema.graphql is stale: run `devinsights export-schema > "
        "schema/schema.graphql` and commit it")


def test_no_argument_takes_an_organization_id() -> None:
    """The token decides the organization: no argument or input field may name one (the
    plain `organizationId` exists only as an output field)."""
    graphql_schema = build_schema()._schema
    taken: dict[str, str] = {}  # the name a caller passes -> where
    for type_ in graphql_schema.type_map.values():
        if isinstance(type_, GraphQLObjectType):
            taken |= {a: f"{type_.name}.{f}({a})" for f, field in type_.fields.items()
                      for a in field.args}
        if isinstance(type_, GraphQLInputObjectType):
            taken |= {f: f"{type_.name}.{f}" for f in type_.fields}
    assert "userId" in taken  # the walk found the arguments
    assert not [where for name, where in taken.items() if "org" in name.lower()]


def test_invitations_never_expose_a_token_field() -> None:
    schema = build_schema()
    invitation = schema.get_type_by_name("Invitation")
    assert invitation is not None
    names = {f.python_name for f in invitation.fields}  # type: ignore[union-attr]
    assert not {n for n in names if "token" in n.lower()}
