"""The GraphQL schema: types, roots, permissions, and the committed ``schema.graphql``."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.errors import ERROR_TYPES, MaskUnexpectedErrors, RewriteErrors
from schema.limits import alias_limit, depth_limit
from schema.mutation import Mutation
from schema.query import Query
from schema.scalars import DateTime
from schema.subscription import Subscription


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Strawberry logs every error with its traceback; MaskUnexpectedErrors already
        logged the unexpected ones without details, and expected ones need no log line."""


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class HideSuggestions(RewriteErrors):
    """With introspection off, errors name no fields, arguments, types or enum values the
    caller did not write: graphql-core's "Did you mean 'members'?" would hand out the
    schema piece by piece. (graphql-core has ``hide_suggestions``; Strawberry does not pass
    it to validation or execution, so the suggestion is cut from the message instead.)"""

    def rewrite(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [GraphQLError(SUGGESTION.sub("", e.message), nodes=e.nodes, source=e.source,
                             positions=e.positions, path=e.path,
                             original_error=e.original_error, extensions=e.extensions)
                if "Did you mean" in e.message else e for e in errors]


def build_schema(*, introspection: bool = True, max_depth: int = 12, max_aliases: int = 30,
                 max_tokens: int = 2000, cache_size: int = 256,
                 tracing: Callable[[], SchemaExtension] | None = None) -> strawberry.Schema:
    # Build the rule classes once: the validation cache is keyed by them, so rules built per
    # request would miss it every time (and fill it with garbage).
    limits: list[type[ASTValidationRule]] = [depth_limit(max_depth), alias_limit(max_aliases)]
    # Factories, so each request gets fresh extension instances (strawberry's advice).
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=cache_size),
        lambda: AddValidationRules(limits),
        lambda: ValidationCache(maxsize=cache_size),
        MaskUnexpectedErrors,
    ]
    if not introspection:
        extensions += [DisableIntrospection, HideSuggestions]
    if tracing is not None:  # spans of the operation and its resolvers (web/tracing.py)
        extensions.append(tracing)
    return Schema(query=Query, mutation=Mutation, subscription=Subscription,
                  types=list(ERROR_TYPES), extensions=extensions,
                  config=StrawberryConfig(auto_camel_case=True,
                                          scalar_map={datetime.datetime: DateTime}))
