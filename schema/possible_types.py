"""Which object types each interface and union can be, as Apollo Client's ``possibleTypes``.

A client cache needs this to match fragments on an abstract type (``... on Error``) without
introspecting the schema at run time, so it is committed beside ``schema.graphql`` as
``possibleTypes.json`` and checked the same way: ``devinsights export-schema --check``.
"""

from __future__ import annotations

import json

import strawberry
from graphql import GraphQLInterfaceType, GraphQLUnionType

FILE_NAME = "possibleTypes.json"


def possible_types(schema: strawberry.Schema) -> dict[str, list[str]]:
    """Every interface and union by name, with the sorted names of its object types."""
    graphql_schema = schema._schema
    return {name: sorted(t.name for t in graphql_schema.get_possible_types(abstract))
            for name, abstract in sorted(graphql_schema.type_map.items())
            if isinstance(abstract, GraphQLInterfaceType | GraphQLUnionType)}


def possible_types_json(schema: strawberry.Schema) -> str:
    """The committed file's text: sorted keys, two-space indent, a final newline."""
    return json.dumps(possible_types(schema), indent=2, sort_keys=True) + "\n"
