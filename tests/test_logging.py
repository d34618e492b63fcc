"""Every log call's fields reach the JSON line (issue 11, finding 13).

The JSON formatter writes a record's message and its ``fields`` extra, nothing else (other
extras may carry objects that must not reach the log). So a call that passes any other
extra loses it silently: this test finds every logging call in the code and requires its
``extra`` to be exactly ``{"fields": ...}``.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import orjson
import pytest

from web.logs import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted(p for d in ("schema", "resolvers", "datastore", "web", "bench")
                   for p in (ROOT / d).rglob("*.py")), ROOT / "server.py"]
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _logging_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LEVELS
                    and any(k.arg == "extra" for k in node.keywords)):
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


CALLS = _logging_calls()


def test_the_code_has_logging_calls_with_extras_to_check() -> None:
    assert len(CALLS) >= 10  # the walk finds them; an empty list would pass anything


@pytest.mark.parametrize(("where", "call"), CALLS, ids=[w for w, _ in CALLS])
def test_every_extra_is_fields_only(where: str, call: ast.Call) -> None:
    extra = next(k.value for k in call.keywords if k.arg == "extra")
    assert isinstance(extra, ast.Dict), f"{where}: pass extra={{'fields': {{...}}}}"
    keys = [k.value if isinstance(k, ast.Constant) else None for k in extra.keys]
    assert keys == ["fields"], f"{where}: extra {keys} would be dropped by JsonFormatter"


def test_the_formatter_writes_the_fields_and_drops_other_extras() -> None:
    record = logging.LogRecord("devinsights.test", logging.ERROR, __file__, 1, "boom %s",
                               ("now",), None)
    record.fields = {"requestId": "r1", "path": ["a", 0]}
    record.execution_context = object()  # what a library might attach
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "boom now"
    assert line["requestId"] == "r1"
    assert line["path"] == ["a", 0]
    assert "execution_context" not in line
