"""Real demo captures (gzipped JSONL); provenance in README.md here and NOTICE at the repository root."""
