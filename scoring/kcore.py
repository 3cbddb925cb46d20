"""Core numbers of the interaction graph, kept exact as edges arrive.

The k-core of a graph is its largest subgraph where every node has at least ``k`` neighbours;
an account's core number is the largest such ``k`` - "how deep inside a tightly knit group". The
graph here is the undirected, unweighted graph of account pairs that ever interacted (either
direction, any kind, self-interactions ignored, as ``networkx.core_number`` requires).

Why incremental and exact rather than a periodic recompute
------------------------------------------------------------
A recompute is O(edges) (about a second for the Higgs mention graph in Python): it would either
break the latency budget or leave core numbers stale. Inserting one edge raises core numbers by
at most one, and only for nodes whose core equals ``K = min(core(u), core(v))`` and that are
connected to the lower endpoint through such nodes (Sariyüce et al., "Streaming algorithms for
k-core decomposition", VLDB 2013). The traversal variant used here also skips any node whose
*max-core degree* (neighbours with a core at least its own, ``mcd``) is at most ``K``: such a node
cannot rise, and it bounds the search. Candidates whose count of supporting neighbours drops to
``K`` or below are evicted (cascading); the survivors move to ``K + 1``. Edges are never removed:
decay lowers weights, but an interaction that happened stays a tie (a deliberate simplification).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scoring.kcore_recount import CoreRecount

#: an account's neighbours: a dict with None values, used as an insertion-ordered set. Python's cyclic
#: garbage collector tracks every set but no dict of strings, and a full collection walks each
#: tracked object: at 60k accounts the sets were 55k of the engine's tracked objects
#: (groundswell.heap)
Neighbours = dict[str, None]


class _TooMuchWork(Exception):
    """An insert's search went past its work limit (``try_add_edge``)."""


class IncrementalCoreNumbers:
    """Exact core numbers under edge insertion (see the module docstring)."""

    def __init__(self) -> None:
        self._adj: dict[str, Neighbours] = {}
        self._core: dict[str, int] = {}
        self._mcd: dict[str, int] = {}
        self._recount: CoreRecount | None = None
        self.ties = 0  # distinct ties in the adjacency
        self.last_recount_s: float | None = None  # seconds the last finished recount worked

    def __len__(self) -> int:
        return len(self._adj)

    def core(self, node: str) -> int:
        """The core number of ``node`` (0 for an unknown or isolated account)."""
        return self._core.get(node, 0)

    def cores(self) -> dict[str, int]:
        return dict(self._core)

    def degree(self, node: str) -> int:
        return len(self._adj.get(node, ()))

    def add_node(self, node: str) -> None:
        if node not in self._adj:
            self._adj[node] = {}
            self._core[node] = 0
            self._mcd[node] = 0

    def add_edge(self, u: str, v: str) -> set[str]:
        """Insert the tie ``u - v``; returns the accounts whose core number changed."""
        raised = self.try_add_edge(u, v)
        assert raised is not None  # no work limit: never given up
        return raised

    def try_add_edge(self, u: str, v: str, max_work: int | None = None) -> set[str] | None:
        """``add_edge``, given up when its search would read more than ``max_work`` adjacency
        entries (next to a hub, one insert reads thousands of neighbourhoods): then nothing is
        changed and None is returned, for a recount to take the tie (``start_recount``)."""
        if self._recount is not None:
            raise RuntimeError("a recount is running: insert ties after it (recount_step)")
        if not self._link(u, v):
            return set()
        core, mcd = self._core, self._mcd
        counts_u, counts_v = core[v] >= core[u], core[u] >= core[v]
        mcd[u] += counts_u
        mcd[v] += counts_v
        root = u if core[u] <= core[v] else v
        k = core[root]
        try:
            raised = self._raised_by_insert(root, k, max_work)
        except _TooMuchWork:  # the search changed nothing yet: take the tie back out
            del self._adj[u][v]
            del self._adj[v][u]
            self.ties -= 1
            mcd[u] -= counts_u
            mcd[v] -= counts_v
            return None
        for w in raised:
            core[w] = k + 1
        for w in raised:
            mcd[w] = sum(1 for x in self._adj[w] if core[x] >= k + 1)
            for x in self._adj[w]:
                if x not in raised and core[x] == k + 1:
                    mcd[x] += 1  # w (was k, below x) now counts for x
        return raised

    def _link(self, u: str, v: str) -> bool:
        """Add both accounts, and the tie between them unless it is a self-tie or already there
        (core numbers untouched); -> whether the tie is new."""
        self.add_node(u)
        self.add_node(v)
        if u == v or v in self._adj[u]:
            return False
        self._adj[u][v] = None
        self._adj[v][u] = None
        self.ties += 1
        return True

    # -- a recount, for a long backlog (scoring.kcore_recount) -------------------------------------
    @property
    def recounting(self) -> bool:
        return self._recount is not None

    def start_recount(self, ties: Iterable[tuple[str, str]] = ()) -> None:
        """Add ``ties`` to the graph without counting anything, then start counting every core number
        afresh (``recount_step``). Until it is done, ``core`` answers what it answered before, and no
        tie may be inserted."""
        for u, v in ties:
            self._link(u, v)
        self._recount = CoreRecount(self._adj, self._core, self._mcd)

    def recount_step(self, deadline: float | None = None) -> set[str] | None:
        """Advance the recount until ``deadline`` (``time.perf_counter``; None: to the end). When it
        is done, its core numbers replace the old ones: -> the accounts whose core number changed;
        None while it goes on."""
        recount = self._recount
        if recount is None:
            return set()
        if not recount.step(deadline):
            return None
        self._recount = None
        self._core.update(recount.core_changes)  # what differs, found in the recount's slices
        self._mcd.update(recount.mcd_changes)
        changed = set(recount.core_changes)
        self.last_recount_s = recount.work_s
        return changed

    def _raised_by_insert(self, root: str, k: int, max_work: int | None = None) -> set[str]:
        """The nodes of core ``k`` that reach core ``k + 1`` after an insert at ``root``.

        ``cd[w]`` starts as w's *pure-core degree*: neighbours that could support it at ``k + 1``
        (core above ``k``, or core ``k`` with ``mcd > k``). Only nodes whose count still exceeds
        ``k`` are expanded; a node whose count falls to ``k`` is evicted and withdraws its support
        from its neighbours (a neighbour not visited yet starts below its pure-core degree)."""
        adj, core, mcd = self._adj, self._core, self._mcd
        if mcd[root] <= k:
            return set()
        cd: dict[str, int] = {root: self._pure_core_degree(root, k)}
        visited = {root}
        evicted: set[str] = set()
        stack = [root]
        work = len(adj[root])
        while stack:
            w = stack.pop()
            if w in evicted:
                continue
            work += len(adj[w])
            if max_work is not None and work > max_work:
                raise _TooMuchWork
            if cd[w] > k:
                for x in adj[w]:
                    if core[x] == k and x not in visited and mcd[x] > k:
                        visited.add(x)
                        cd[x] = cd.get(x, 0) + self._pure_core_degree(x, k)
                        work += len(adj[x])
                        stack.append(x)
            else:
                self._evict(w, k, cd, evicted)
        return visited - evicted

    def _pure_core_degree(self, w: str, k: int) -> int:
        core, mcd = self._core, self._mcd
        return sum(1 for x in self._adj[w] if core[x] > k or (core[x] == k and mcd[x] > k))

    def _evict(self, start: str, k: int, cd: dict[str, int], evicted: set[str]) -> None:
        """``start`` cannot reach ``k + 1``: withdraw its support from its core-``k`` neighbours,
        cascading to those that fall to ``k`` or below."""
        adj, core = self._adj, self._core
        evicted.add(start)
        todo = [start]
        while todo:
            w = todo.pop()
            for x in adj[w]:
                if core[x] == k and self._mcd[x] > k:
                    cd[x] = cd.get(x, 0) - 1
                    if cd[x] == k and x not in evicted:
                        evicted.add(x)
                        todo.append(x)

    def copy(self) -> IncrementalCoreNumbers:
        """An independent copy (C-level container copies: ~4x cheaper than ``to_state``), so the
        owner's loop can hand a snapshot to a thread and go on."""
        kc = IncrementalCoreNumbers()
        kc._adj = {n: nbrs.copy() for n, nbrs in self._adj.items()}
        kc._core = dict(self._core)
        kc._mcd = dict(self._mcd)
        kc.ties = self.ties
        return kc

    def to_state(self) -> dict[str, Any]:
        ids = list(self._adj)
        index = {n: i for i, n in enumerate(ids)}
        return {
            "ids": ids,
            "adj": [[index[x] for x in self._adj[n] if index[x] > i] for i, n in enumerate(ids)],
            "core": [self._core[n] for n in ids],
            "mcd": [self._mcd[n] for n in ids],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IncrementalCoreNumbers:
        kc = cls()
        ids = [str(x) for x in state["ids"]]
        adj: dict[str, Neighbours] = {n: {} for n in ids}
        for i, row in enumerate(state["adj"]):
            for j in row:
                adj[ids[i]][ids[j]] = None
                adj[ids[j]][ids[i]] = None
        kc._adj = adj
        kc._core = {n: int(c) for n, c in zip(ids, state["core"], strict=True)}
        kc._mcd = {n: int(c) for n, c in zip(ids, state["mcd"], strict=True)}
        kc.ties = sum(len(row) for row in state["adj"])
        return kc
