"""The HTTP API (FastAPI): marketers' queries, health, metrics."""
