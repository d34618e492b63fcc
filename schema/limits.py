"""Depth and alias limits that cost time linear in the document, whatever its fragments.

Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk every fragment spread anew, so ten
fragments that each spread the previous one ten times (a fragment bomb of a few hundred
bytes) cost 10^9 steps and hold the event loop for hours. These rules give the same answers
with the same messages, and measure each fragment once.
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

Measure = Callable[[SelectionSetNode | None], int]
# Deeper nesting of selections and fragment spreads is refused outright; it keeps the walk
# below Python's recursion limit whatever DEVINSIGHTS_MAX_TOKENS allows.
MAX_NESTING = 200


class TooDeep(Exception):
    """The document nests selections and fragments deeper than MAX_NESTING."""

    message = f"the query nests selections and fragments more than {MAX_NESTING} levels deep"


def _measurer(context: ValidationContext, of_field: Callable[[FieldNode, Measure], int],
              combine: Callable[[list[int]], int]) -> Measure:
    """``measure(selection_set)``, remembering each fragment's measure; a cycle counts 0
    (NoFragmentCyclesRule reports it)."""
    fragments = {d.name.value: d for d in context.document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    known: dict[str, int] = {}
    entered: set[str] = set()
    nesting = 0

    def measure(selection_set: SelectionSetNode | None) -> int:
        nonlocal nesting
        if selection_set is None:
            return 0
        if nesting >= MAX_NESTING:
            raise TooDeep
        nesting += 1
        try:
            parts = []
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    parts.append(of_field(selection, measure))
                elif isinstance(selection, InlineFragmentNode):
                    parts.append(measure(selection.selection_set))
                elif isinstance(selection, FragmentSpreadNode):
                    parts.append(fragment(selection.name.value))
            return combine(parts)
        finally:
            nesting -= 1

    def fragment(name: str) -> int:
        if name not in known:
            definition = fragments.get(name)
            if definition is None or name in entered:
                return 0
            entered.add(name)
            known[name] = measure(definition.selection_set)
            entered.discard(name)
        return known[name]

    return measure


def _operations(context: ValidationContext) -> list[OperationDefinitionNode]:
    return [d for d in context.document.definitions if isinstance(d, OperationDefinitionNode)]


def depth_limit(max_depth: int) -> type[ValidationRule]:
    def of_field(field: FieldNode, measure: Measure) -> int:
        # Introspection fields do not count, as in strawberry's QueryDepthLimiter.
        if field.name.value.startswith("__") or field.selection_set is None:
            return 0
        return 1 + measure(field.selection_set)

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _measurer(context, of_field, lambda parts: max(parts, default=0))
            for operation in _operations(context):
                try:
                    depth = measure(operation.selection_set)
                except TooDeep:
                    context.report_error(GraphQLError(TooDeep.message, operation))
                    return
                if depth > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(GraphQLError(
                        f"'{name}' exceeds maximum operation depth of {max_depth}", operation))

    return DepthLimit


def alias_limit(max_aliases: int) -> type[ValidationRule]:
    def of_field(field: FieldNode, measure: Measure) -> int:
        return (1 if field.alias else 0) + measure(field.selection_set)

    class AliasLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _measurer(context, of_field, sum)
            try:
                total = sum(measure(op.selection_set) for op in _operations(context))
            except TooDeep:
                return  # DepthLimit reports it
            if total > max_aliases:
                context.report_error(GraphQLError(
                    f"{total} aliases found. Allowed: {max_aliases}"))

    return AliasLimit
