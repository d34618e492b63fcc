"""The committed possibleTypes.json is what the code builds, in Apollo Client's format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import strawberry
from strawberry.printer import print_schema

from schema import build_schema
from schema.possible_types import FILE_NAME, possible_types, possible_types_json

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / FILE_NAME


@strawberry.interface
class Named:
    name: str


@strawberry.interface
class Node(Named):
    id: strawberry.ID


@strawberry.type
class User(Node):
    email: str


@strawberry.type
class Team(Node):
    size: int


@strawberry.type
class Tag(Named):
    pass


SearchResult = Annotated[User | Team, strawberry.union("SearchResult")]


@strawberry.type
class Query:
    @strawberry.field
    def search(self) -> list[SearchResult]:
        return []

    @strawberry.field
    def named(self) -> list[Named]:
        return []


SMALL = strawberry.Schema(query=Query, types=[User, Team, Tag])


def test_committed_possible_types_match_the_code() -> None:
    assert COMMITTED.read_text() == possible_types_json(build_schema()), (
        f"schema/{FILE_NAME} is stale: run `devinsights export-schema --write` and commit it")


def test_every_interface_and_union_maps_to_its_sorted_object_types() -> None:
    assert possible_types(SMALL) == {"Named": ["Tag", "Team", "User"],
                                     "Node": ["Team", "User"],
                                     "SearchResult": ["Team", "User"]}


def test_the_file_has_sorted_keys_a_two_space_indent_and_a_final_newline() -> None:
    text = possible_types_json(SMALL)

    assert text.startswith('{\n  "Named": [\n    "Tag",\n')
    assert text.endswith("]\n}\n")
    assert list(json.loads(text)) == ["Named", "Node", "SearchResult"]


def test_every_abstract_type_of_the_api_schema_is_listed_with_object_types_only() -> None:
    schema = build_schema()
    found = possible_types(schema)

    printed = print_schema(schema)
    abstract = set(re.findall(r"^(?:interface|union) (\w+)", printed, re.MULTILINE))
    assert set(found) == abstract
    for name, members in found.items():
        assert members, f"{name} has no possible types"
        for member in members:
            assert type(schema._schema.type_map[member]).__name__ == "GraphQLObjectType"
