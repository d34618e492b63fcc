"""The committed schema.graphql is what the code builds; CI fails on drift."""

from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema

from schema import build_schema

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    printed = print_schema(build_schema()) + "\n"
    assert COMMITTED.read_text() == printed, (
        "schema/schema.graphql is stale: run `devinsights export-schema > "
        "schema/schema.graphql` and commit it")


def test_no_argument_takes_an_organization_id() -> None:
    text = COMMITTED.read_text()
    assert "orgId" not in text
    assert "organizationId" not in text


def test_invitations_never_expose_a_token_field() -> None:
    schema = build_schema()
    invitation = schema.get_type_by_name("Invitation")
    assert invitation is not None
    names = {f.python_name for f in invitation.fields}  # type: ignore[union-attr]
    assert not {n for n in names if "token" in n.lower()}
