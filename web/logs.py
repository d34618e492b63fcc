"""Structured logs: one JSON object per line, on stderr.

A request's line carries only what an operator needs (request id, org, operation name,
status, duration, store calls). Tokens, secrets, variables and query results are never
passed to a logger by our code; uvicorn's own lines show a URL's query string, whose values
the formatter replaces (a client may put a token there).
"""

from __future__ import annotations

import datetime
import logging
import re
import sys
from typing import Any

import orjson

REQUEST_LOG = "devinsights.request"
# A query string in a line of uvicorn's (its WebSocket handshake line shows the whole URL).
QUERY_STRING = re.compile(r"\?([^\s\"']*)")
REDACTED = "[redacted]"


def redact_query_strings(text: str) -> str:
    """Every query string's values replaced, its parameter names kept: some clients put a
    token in a WebSocket URL (``/graphql?token=...``), and a GET query may hold anything."""
    def names_only(match: re.Match[str]) -> str:
        names = [part.partition("=")[0] for part in match.group(1).split("&") if part]
        return "?" + "&".join(f"{name}={REDACTED}" for name in names)
    return QUERY_STRING.sub(names_only, text) if "?" in text else text


class JsonFormatter(logging.Formatter):
    """Writes the record's message and its ``fields`` extra, nothing else.

    Other extras are dropped on purpose: a library may attach objects (strawberry attaches
    the whole execution context, variables included) that must not reach the log.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name.startswith("uvicorn"):
            message = redact_query_strings(message)
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which worker, under `serve --workers N`
            "message": message,
        }
        fields = record.__dict__.get("fields")
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    """Send every logger (ours, uvicorn's, strawberry's) through one JSON handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def request_logger() -> logging.Logger:
    return logging.getLogger(REQUEST_LOG)
