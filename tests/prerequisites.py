"""Tests that need something outside Python (a browser, node, installed assets)."""

from __future__ import annotations

import os

import pytest


def require(ready: bool, reason: str) -> None:
    """Skip locally when a prerequisite is missing; under CI (CI=true) fail instead."""
    if ready:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so this test may not be skipped)")
    pytest.skip(reason)
