"""The relationship graph: a pure write planner and an async store reached over Bolt."""
