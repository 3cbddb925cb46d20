"""Scores (influence, priority) and alert rules: pure functions over plain dataclasses."""
