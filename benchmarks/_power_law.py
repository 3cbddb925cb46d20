"""A synthetic power-law interaction stream for the influence engine's benchmarks: targets drawn
from a Pareto law (a few accounts draw most interactions), actors uniform, the five kinds in turn,
one event a millisecond. Seeded: every run sees the same stream."""

from __future__ import annotations

import time

import numpy as np

from scoring.influence_engine import InfluenceEdge

KINDS = ("mention", "reply", "repost", "like", "follow")


def power_law_edges(accounts: int, edges: int, seed: int = 1) -> list[InfluenceEdge]:
    rng = np.random.default_rng(seed)
    dst = (rng.pareto(1.2, edges) * 10).astype(np.int64) % accounts
    src = rng.integers(0, accounts, edges)
    now = time.time()
    return [
        InfluenceEdge(f"e{i}", f"a{src[i]}", f"a{dst[i]}", KINDS[i % 5], now + i * 1e-3)
        for i in range(edges)
        if src[i] != dst[i]
    ]
