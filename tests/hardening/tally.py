"""The counts the hardening suites report at the end of a run (the issue asks for them)."""

from __future__ import annotations

from collections import Counter

CASES = "tenancy cases tried"
OPERATIONS = "tenancy operations run against another org's values"
FAULTS = "store faults injected"
LEAKS = "leaks found"
LOST = "lost writes"
CONCURRENT = "concurrent operations raced"
COUNTED = "API calls counted"
BUSY = "racers told STORE_BUSY and sending again"

counts: Counter[str] = Counter({LEAKS: 0, LOST: 0})


def add(name: str, amount: int = 1) -> None:
    counts[name] += amount
