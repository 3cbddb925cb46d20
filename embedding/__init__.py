"""Sentence embeddings (all-MiniLM-L6-v2, offline) with a content-hash cache."""
