"""Plain async functions and per-request loaders behind the schema; no HTTP, no boto3."""
