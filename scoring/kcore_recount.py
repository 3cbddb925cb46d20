"""All core numbers of a graph counted afresh, in steps: for a backlog of new ties too long to insert
one by one.

``scoring.kcore`` inserts ties one at a time, exactly; next to hubs one insert reads the
neighbourhoods of thousands of accounts. On a synthetic power-law stream an insert took ~0.15 ms
at 19k accounts and ~1.2 ms at 57k (benchmarks/RESULTS.md), while counting every core number again
(Batagelj and Zaversnik, "An O(m) Algorithm for Cores Decomposition of Networks", 2003: peel the
nodes of least remaining degree, bucket by bucket) took 0.33 s at 57k accounts and 1.6 s at 190k:
past a few hundred waiting ties, the recount is the cheaper way.

``CoreRecount`` runs the recount in slices (``step`` until a deadline), so a stream's event loop
gives it its idle-time budget and goes on. The adjacency must not change while it runs (the caller
keeps new ties waiting); accounts added meanwhile have no ties in it and keep core 0. Then it
counts each node's max-core degree (neighbours whose core is at least its own), which the
one-by-one inserts need afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

#: work between two looks at the clock: a node counts 1 plus its neighbours (a hub is thousands)
SLICE = 4_096


class CoreRecount:
    """One recount over ``adj`` (node -> neighbours, symmetric, no self-ties)."""

    def __init__(
        self,
        adj: Mapping[str, Collection[str]],
        old_core: Mapping[str, int] | None = None,
        old_mcd: Mapping[str, int] | None = None,
    ) -> None:
        self._adj = adj
        self._old_core: Mapping[str, int] = old_core or {}
        self._old_mcd: Mapping[str, int] = old_mcd or {}
        self.nodes = list(adj)
        self._i = 0
        self._phase = 0  # 0 degrees, 1 peel, 2 max-core degrees, 3 done
        self._deg: dict[str, int] = {}
        self._bins: list[list[str]] = []
        self._d = 0
        self.core: dict[str, int] = {}
        #: what differs from ``old_core`` / ``old_mcd`` (all nodes where none was given): installing
        #: only these keeps the end of a recount as short as its slices
        self.core_changes: dict[str, int] = {}
        self.mcd_changes: dict[str, int] = {}
        self.work_s = 0.0  # seconds spent in ``step`` so far

    @property
    def done(self) -> bool:
        return self._phase == 3

    def step(self, deadline: float | None = None) -> bool:
        """Work until ``deadline`` (``time.perf_counter``; None: to the end); -> whether it is done."""
        started = time.perf_counter()
        try:
            while not self.done:
                if self._phase == 0:
                    self._degrees()
                elif self._phase == 1:
                    self._peel()
                else:
                    self._max_core_degrees()
                if deadline is not None and time.perf_counter() >= deadline:
                    break
        finally:
            self.work_s += time.perf_counter() - started
        return self.done

    def _degrees(self) -> None:
        adj, deg, bins, nodes = self._adj, self._deg, self._bins, self.nodes
        end = min(len(nodes), self._i + SLICE)
        for v in nodes[self._i : end]:
            d = len(adj[v])
            deg[v] = d
            while len(bins) <= d:
                bins.append([])
            bins[d].append(v)
        self._i = end
        if self._i >= len(nodes):
            self._phase, self._i = 1, 0

    def _peel(self) -> None:
        """Take the nodes of least remaining degree; each lowers its unpeeled neighbours' degree.
        A node is re-filed in a lower bin instead of moved (a stale entry is skipped when popped)."""
        adj, deg, bins, core = self._adj, self._deg, self._bins, self.core
        budget = SLICE
        while self._d < len(bins):
            d, queue = self._d, bins[self._d]
            while queue:
                v = queue.pop()
                if v in core or deg[v] != d:
                    continue
                core[v] = d
                neighbours = adj[v]
                for x in neighbours:
                    if x not in core and deg[x] > d:
                        deg[x] -= 1
                        bins[deg[x]].append(x)
                budget -= 1 + len(neighbours)
                if budget <= 0:
                    return
            self._d += 1
        self._phase = 2

    def _max_core_degrees(self) -> None:
        adj, core, nodes = self._adj, self.core, self.nodes
        old_core, old_mcd = self._old_core, self._old_mcd
        budget = SLICE
        while self._i < len(nodes) and budget > 0:
            v = nodes[self._i]
            k = core[v]
            neighbours = adj[v]
            m = sum(1 for x in neighbours if core[x] >= k)
            if old_core.get(v) != k:
                self.core_changes[v] = k
            if old_mcd.get(v) != m:
                self.mcd_changes[v] = m
            budget -= 1 + len(neighbours)
            self._i += 1
        if self._i >= len(nodes):
            self._phase = 3
