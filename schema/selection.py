"""What a query selects below a field, read before resolving it (to prefetch for it)."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.types.nodes import SelectedField, Selection


def selects(fields: Sequence[Selection], *path: str) -> bool:
    """Whether the selection reaches ``path`` (through fragments too)."""
    if not path:
        return True
    for field in fields:
        if isinstance(field, SelectedField):
            for child in field.selections:
                if _reaches(child, path):
                    return True
    return False


def _reaches(selection: Selection, path: Sequence[str]) -> bool:
    if isinstance(selection, SelectedField):
        if selection.name != path[0]:
            return False
        return len(path) == 1 or any(_reaches(c, path[1:]) for c in selection.selections)
    return any(_reaches(c, path) for c in selection.selections)
