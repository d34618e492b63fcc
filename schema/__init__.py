"""The GraphQL schema: types, roots, permissions, and the committed ``schema.graphql``."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from schema.errors import ERROR_TYPES, MaskUnexpectedErrors
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription


def build_schema(*, introspection: bool = True, max_depth: int = 12, max_aliases: int = 30,
                 max_tokens: int = 2000, cache_size: int = 256) -> strawberry.Schema:
    extensions: list[SchemaExtension | type[SchemaExtension]] = [
        MaxTokensLimiter(max_token_count=max_tokens),
        ParserCache(maxsize=cache_size),
        QueryDepthLimiter(max_depth=max_depth),
        MaxAliasesLimiter(max_alias_count=max_aliases),
        ValidationCache(maxsize=cache_size),
        MaskUnexpectedErrors,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription,
                             types=list(ERROR_TYPES), extensions=extensions,
                             config=StrawberryConfig(auto_camel_case=True))
