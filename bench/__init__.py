"""Benchmarks of the API against a plain Strawberry peer; they print numbers, never pass/fail."""
